/** Parsing of the human-friendly units used in flags, env and YAML: durations and byte sizes. */

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * "250ms", "30s", "5m", "4h", "1d", "1h30m" or a bare number of seconds.
 * Throws with the offending text on anything else.
 */
export function parseDuration(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) throw new Error(`invalid duration ${input}: expected a non-negative number of seconds`);
    return Math.round(input * 1000);
  }
  const text = input.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let consumed = 0;
  let match: RegExpExecArray | null;
  while ((match = re.exec(text)) !== null) {
    total += Number(match[1]) * DURATION_UNITS[match[2]];
    consumed = re.lastIndex;
  }
  if (consumed === 0 || consumed !== text.length) {
    throw new Error(`invalid duration "${input}": use a number with ms, s, m, h or d (e.g. 30s, 4h, 1h30m)`);
  }
  return Math.round(total);
}

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, k: 1024, m: 1024 ** 2, g: 1024 ** 3,
};

/** "65536", "64kB", "16MB", "1MiB", "1G". */
export function parseByteSize(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isInteger(input) || input <= 0) throw new Error(`invalid size ${input}: expected a positive whole number of bytes`);
    return input;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(input);
  const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new Error(`invalid size "${input}": use bytes or a unit such as kB, MB, MiB`);
  const bytes = Math.floor(Number(m[1]) * unit);
  if (bytes <= 0) throw new Error(`invalid size "${input}": must be positive`);
  return bytes;
}

/**
 * Copies src[from, to) to dst at `at`. `shift` ≥ 0 says src is a view of dst's
 * memory starting at dst[shift] (input staged in the arena): copyWithin moves
 * the bytes without creating a view. Otherwise short spans are copied by a
 * loop, as Buffer#copy builds a typed-array view per call, which dominates for
 * the short fields of a row.
 */
export function copySpan(src: Buffer, from: number, to: number, dst: Buffer, at: number, shift = -1): number {
  const n = to - from;
  if (shift >= 0) {
    dst.copyWithin(at, shift + from, shift + to);
    return n;
  }
  if (n > 32) return src.copy(dst, at, from, to);
  for (let i = 0; i < n; i++) dst[at + i] = src[from + i];
  return n;
}

/**
 * Whether a[0, n) (all of a by default) and b hold the same bytes. Short buffers (a statement's Parse, a
 * RowDescription) are compared by a loop: Buffer#equals crosses into C++,
 * which costs more than comparing a hundred bytes here. From the end: queries
 * that differ (a new literal each time) tend to differ there.
 */
export function sameBytes(a: Buffer, b: Buffer, n = a.length): boolean {
  if (n !== b.length || n > a.length) return false;
  if (n > 256) return (n === a.length ? a : a.subarray(0, n)).equals(b);
  for (let i = n - 1; i >= 0; i--) if (a[i] !== b[i]) return false;
  return true;
}

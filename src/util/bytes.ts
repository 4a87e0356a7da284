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

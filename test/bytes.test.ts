import { describe, expect, it } from 'vitest';
import { sameBytes } from '../src/util/bytes.js';

describe('sameBytes', () => {
  it('agrees with Buffer#equals on short and long buffers, differing anywhere', () => {
    for (const n of [0, 1, 2, 57, 256, 257, 4096]) {
      const a = Buffer.alloc(n, 0x61);
      expect(sameBytes(a, Buffer.from(a))).toBe(true);
      expect(sameBytes(a, Buffer.alloc(n + 1, 0x61))).toBe(false);
      for (const at of [0, n >> 1, n - 1]) {
        if (n === 0) continue;
        const b = Buffer.from(a);
        b[at] = 0x62;
        expect(sameBytes(a, b)).toBe(false);
        expect(sameBytes(b, a)).toBe(a.equals(b));
      }
    }
  });

  it('compares views by their bytes, not their memory', () => {
    const chunk = Buffer.from('xxSELECT 1yySELECT 1');
    expect(sameBytes(chunk.subarray(2, 10), chunk.subarray(12, 20))).toBe(true);
    expect(sameBytes(chunk.subarray(2, 10), chunk.subarray(11, 19))).toBe(false);
  });

  it('compares the first n bytes of a longer buffer (a scratch buffer reused for shorter contents)', () => {
    for (const n of [0, 3, 256, 300]) {
      const scratch = Buffer.alloc(n + 50, 0x61);
      const b = Buffer.alloc(n, 0x61);
      expect(sameBytes(scratch, b, n)).toBe(true);
      expect(sameBytes(scratch, Buffer.alloc(n + 1, 0x61), n)).toBe(false);
      if (n > 0) {
        const c = Buffer.from(b);
        c[n - 1] = 0x62;
        expect(sameBytes(scratch, c, n)).toBe(false);
      }
      // Never past the end of the scratch buffer.
      expect(sameBytes(b, Buffer.alloc(n + 10, 0x61), n + 10)).toBe(false);
    }
  });
});

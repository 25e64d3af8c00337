// Deterministic pseudo-random bytes for test data (xorshift32): incompressible,
// so gzip stores them, and the same for a seed on every runtime. One copy for
// test/oracle, test/e2e and the component test.

/** `n` bytes from xorshift32 seeded with `seed` (0 is treated as 1). */
export function xorshiftBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

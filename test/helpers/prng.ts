/**
 * The one seeded PRNG of the tests (mulberry32): a test that draws random choices from it replays
 * exactly from its seed, so a failure can be reproduced. Not for anything but tests.
 */

/** A function returning floats in [0, 1), the same sequence for the same seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

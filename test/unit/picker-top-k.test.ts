/** TopK: the k smallest keys offered, their values in ascending key order, whatever the offer order. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TopK } from '../../src/picker/top-k.js';

describe('TopK', () => {
  it('keeps the k smallest keys of any offers, sorted by key (against a full sort)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: -1e9, max: 1e9 }), { maxLength: 200 }), fc.integer({ min: 0, max: 50 }), (keys, k) => {
        const top = new TopK(k);
        keys.forEach((key, i) => top.offer(key, i));
        const expected = keys
          .map((key, i) => [key, i] as const)
          .sort((a, b) => a[0] - b[0])
          .slice(0, k)
          .map(([, i]) => i);
        expect(top.drain()).toEqual(expected);
        expect(top.drain()).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('k = 0 keeps nothing', () => {
    const top = new TopK(0);
    top.offer(1, 1);
    expect(top.drain()).toEqual([]);
  });
});

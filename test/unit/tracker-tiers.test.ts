import { describe, expect, it } from 'vitest';
import { shuffle, TrackerTiers } from '../../src/tracker/tiers.js';

/** Deterministic source cycling through the given values. */
function seq(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

describe('TrackerTiers (BEP 12)', () => {
  it('keeps tier order and, with a no-op shuffle, URL order', () => {
    // random() = 0.999 makes Fisher-Yates swap every element with itself.
    const t = new TrackerTiers([['a', 'b', 'c'], ['d'], ['e', 'f']], () => 0.999);
    expect(t.tiers).toEqual([['a', 'b', 'c'], ['d'], ['e', 'f']]);
    expect(t.urls).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
  });
  it('shuffles within each tier once, with the injected source', () => {
    const t = new TrackerTiers([['a', 'b', 'c'], ['d', 'e']], seq(0, 0, 0));
    // i=2: j=0 -> c b a; i=1: j=0 -> b c a. Second tier: i=1: j=0 -> e d.
    expect(t.tiers).toEqual([['b', 'c', 'a'], ['e', 'd']]);
    // Reading again does not reshuffle.
    expect(t.tiers).toEqual([['b', 'c', 'a'], ['e', 'd']]);
  });
  it('moves an answering tracker to the front of its own tier only', () => {
    const t = new TrackerTiers([['a', 'b', 'c'], ['d', 'e']], () => 0.999);
    t.promote('c');
    expect(t.tiers).toEqual([['c', 'a', 'b'], ['d', 'e']]);
    t.promote('e');
    expect(t.tiers).toEqual([['c', 'a', 'b'], ['e', 'd']]);
    t.promote('c');
    t.promote('unknown');
    expect(t.tiers).toEqual([['c', 'a', 'b'], ['e', 'd']]);
  });
  it('drops duplicates (first occurrence wins), empty URLs and empty tiers', () => {
    const t = new TrackerTiers([['a', 'a', ''], [], ['a', 'b']], () => 0.999);
    expect(t.tiers).toEqual([['a'], ['b']]);
  });
  it('returns snapshots the caller cannot corrupt', () => {
    const t = new TrackerTiers([['a', 'b']], () => 0.999);
    t.tiers[0]!.reverse();
    expect(t.tiers).toEqual([['a', 'b']]);
  });
  it('shuffle is a permutation for any source, even one returning 1', () => {
    for (const r of [0, 0.5, 0.999999, 1]) {
      expect(shuffle([1, 2, 3, 4, 5], () => r).sort()).toEqual([1, 2, 3, 4, 5]);
    }
  });
});

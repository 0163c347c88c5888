/**
 * decode with a ListStream: the list at a key path goes item by item to the stream and stands as
 * [] in the result; everything else, checks and limits included, is as without a stream. Also
 * BDict's two stores (flat for small dictionaries, a Map past SMALL_DICT_ENTRIES keys).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BDict, decode, encode, type BValue, type ListStream } from '../../src/bencode/index.js';
import { BencodeError } from '../../src/errors.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

class Collect implements ListStream {
  items: BValue[] = [];
  counts: number[] = [];
  constructor(readonly path: string[]) {}
  item(v: BValue, i: number): void {
    expect(i).toBe(this.items.length);
    this.items.push(v);
  }
  end(count: number): void {
    this.counts.push(count);
  }
}

describe('decode with a ListStream', () => {
  it('hands over the items of the list at the path, in order, and leaves []', () => {
    const s = new Collect(['info', 'files']);
    const root = decode(b('d4:infod5:filesli1e3:abcd1:xi2eee4:name1:nee'), {}, s) as BDict;
    expect(s.items).toEqual([1, b('abc'), expect.any(BDict)]);
    expect((s.items[2] as BDict).get('x')).toBe(2);
    expect(s.counts).toEqual([3]);
    const info = root.get('info') as BDict;
    expect(info.get('files')).toEqual([]);
    expect(info.get('name')).toEqual(b('n'));
  });

  it('streams an empty list as zero items', () => {
    const s = new Collect(['files']);
    expect((decode(b('d5:filesle4:zzzzi1ee'), {}, s) as BDict).get('files')).toEqual([]);
    expect(s.counts).toEqual([0]);
  });

  it('streams only the occurrence a dictionary keeps (the first), not duplicates', () => {
    const dupFiles = new Collect(['info', 'files']);
    const r1 = decode(b('d4:infod5:filesli1ee5:filesli2eeee'), {}, dupFiles) as BDict;
    expect(dupFiles.items).toEqual([1]);
    expect((r1.get('info') as BDict).get('files')).toEqual([]);
    // The kept info has no files: the second info's list is not streamed.
    const dupInfo = new Collect(['info', 'files']);
    const r2 = decode(b('d4:infod1:ai0ee4:infod5:filesli2eeee'), {}, dupInfo) as BDict;
    expect(dupInfo.counts).toEqual([]);
    expect((r2.get('info') as BDict).has('files')).toBe(false);
    // The kept info's files is not a list: nothing is streamed, the value stays.
    const notList = new Collect(['info', 'files']);
    const r3 = decode(b('d4:infod5:filesi7ee4:infod5:filesli2eeee'), {}, notList) as BDict;
    expect(notList.counts).toEqual([]);
    expect((r3.get('info') as BDict).get('files')).toBe(7);
  });

  it('matches keys only at their depth on the path', () => {
    const s = new Collect(['info', 'files']);
    // "files" at the top, and an "info" inside a list: neither is on the path.
    const root = decode(b('d5:filesli1ee1:xld4:infod5:filesli2eeeeee'), {}, s) as BDict;
    expect(s.counts).toEqual([]);
    expect(root.get('files')).toEqual([1]);
  });

  it('keeps every check and limit inside the streamed list', () => {
    for (const bad of ['d5:filesli01eee', 'd5:filesl3:abee', 'd5:filesli1e', 'd5:filesld1:bi1e1:ae']) {
      expect(() => decode(b(bad), {}, new Collect(['files']))).toThrow(BencodeError);
    }
    expect(() => decode(b('d5:filesli1ei2ei3eee'), { maxItems: 4 }, new Collect(['files']))).toThrow(/more than 4 items/);
    expect(() => decode(b('d5:fileslllleeeee'), { maxDepth: 3 }, new Collect(['files']))).toThrow(/nesting deeper than 3/);
    // Soft errors inside streamed items still mark the dictionaries around them.
    const root = decode(b('d4:infod5:filesld1:bi1e1:ai2eeeee'), {}, new Collect(['info', 'files'])) as BDict;
    expect((root.get('info') as BDict).softError).toBe(true);
  });

  it('decodes the rest exactly as without a stream (property)', () => {
    const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, fc.integer(), fc.uint8Array({ maxLength: 6 }).map((u) => Buffer.from(u)), tie('list'), tie('dict')),
      list: fc.array(tie('node'), { maxLength: 4 }),
      dict: fc.dictionary(fc.constantFrom('info', 'files', 'a', 'zz'), tie('node'), { maxKeys: 4 }),
    })).node;
    fc.assert(
      fc.property(value, (v) => {
        const bytes = encode(v as never);
        const plain = decode(bytes);
        const s = new Collect(['info', 'files']);
        const streamed = decode(bytes, {}, s);
        // Put the streamed items back where the stream found them, then compare.
        const info = plain instanceof BDict ? plain.get('info') : undefined;
        const files = info instanceof BDict ? info.get('files') : undefined;
        if (Array.isArray(files)) {
          expect(s.items).toEqual(files);
          expect(s.counts).toEqual([files.length]);
          ((streamed as BDict).get('info') as BDict).entries.set('files', s.items);
        } else {
          expect(s.counts).toEqual([]);
        }
        expect(encode(streamed as never)).toEqual(bytes);
      }),
      { numRuns: 300 },
    );
  });
});

describe('BDict stores', () => {
  it('reads the same in the flat store and the Map, and entries can be changed', () => {
    for (const n of [0, 1, 8, 9, 40]) {
      const keys = Array.from({ length: n }, (_, i) => `k${String(i).padStart(2, '0')}`);
      const text = `d${keys.map((k, i) => `${k.length}:${k}i${i}e`).join('')}e`;
      const d = decode(b(text)) as BDict;
      expect(d.size).toBe(n);
      keys.forEach((k, i) => {
        expect(d.has(k)).toBe(true);
        expect(d.get(k)).toBe(i);
      });
      expect(d.has('nope')).toBe(false);
      expect(d.get('nope')).toBeUndefined();
      expect([...d.entries.keys()]).toEqual(keys);
      d.entries.set('new', 1);
      expect(d.get('new')).toBe(1);
      expect(d.size).toBe(n + 1);
    }
  });

  it('keeps the first of duplicate keys in either store, and marks the soft error', () => {
    const small = decode(b('d1:ai1e1:bi2e1:ai3ee')) as BDict;
    expect(small.get('a')).toBe(1);
    expect(small.size).toBe(2);
    expect(small.softError).toBe(true);
    const keys = Array.from({ length: 12 }, (_, i) => `k${String(i).padStart(2, '0')}`);
    const big = decode(b(`d${keys.map((k, i) => `3:${k}i${i}e`).join('')}3:k00i99e3:k11i98ee`)) as BDict;
    expect(big.get('k00')).toBe(0);
    expect(big.get('k11')).toBe(11);
    expect(big.size).toBe(12);
    expect(big.softError).toBe(true);
  });
});

describe('duplicate keys after an out-of-order one', () => {
  it('keeps the first even when the repeat follows a smaller key (a, c, b, c)', () => {
    const small = decode(b('d1:ai1e1:ci2e1:bi3e1:ci4ee')) as BDict;
    expect(small.get('c')).toBe(2);
    expect(small.size).toBe(3);
    const keys = Array.from({ length: 12 }, (_, i) => `k${String(i).padStart(2, '0')}`);
    const big = decode(b(`d${keys.map((k, i) => `3:${k}i${i}e`).join('')}3:k05i99e3:k07i98ee`)) as BDict;
    expect(big.get('k07')).toBe(7);
    expect(big.size).toBe(12);
  });
});

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

/** Collects the streamed items, decoding each span on its own. */
class Collect implements ListStream {
  items: BValue[] = [];
  counts: number[] = [];
  input: Buffer = Buffer.alloc(0);
  constructor(readonly path: string[]) {}
  item(start: number, end: number, i: number): void {
    expect(i).toBe(this.items.length);
    this.items.push(decode(this.input.subarray(start, end)));
  }
  end(count: number): void {
    this.counts.push(count);
  }
}

/** decode(input, limits, stream) with the stream told the input, for its spans. */
function decodeWith(input: Buffer, stream: Collect, limits = {}): BValue {
  stream.input = input;
  return decode(input, limits, stream);
}

describe('decode with a ListStream', () => {
  it('hands over the items of the list at the path, in order, and leaves []', () => {
    const s = new Collect(['info', 'files']);
    const root = decodeWith(b('d4:infod5:filesli1e3:abcd1:xi2eee4:name1:nee'), s) as BDict;
    expect(s.items).toEqual([1, b('abc'), expect.any(BDict)]);
    expect((s.items[2] as BDict).get('x')).toBe(2);
    expect(s.counts).toEqual([3]);
    const info = root.get('info') as BDict;
    expect(info.get('files')).toEqual([]);
    expect(info.get('name')).toEqual(b('n'));
  });

  it('streams an empty list as zero items', () => {
    const s = new Collect(['files']);
    expect((decodeWith(b('d5:filesle4:zzzzi1ee'), s) as BDict).get('files')).toEqual([]);
    expect(s.counts).toEqual([0]);
  });

  it('streams only the occurrence a dictionary keeps (the first), not duplicates', () => {
    const dupFiles = new Collect(['info', 'files']);
    const r1 = decodeWith(b('d4:infod5:filesli1ee5:filesli2eeee'), dupFiles) as BDict;
    expect(dupFiles.items).toEqual([1]);
    expect((r1.get('info') as BDict).get('files')).toEqual([]);
    // The kept info has no files: the second info's list is not streamed.
    const dupInfo = new Collect(['info', 'files']);
    const r2 = decodeWith(b('d4:infod1:ai0ee4:infod5:filesli2eeee'), dupInfo) as BDict;
    expect(dupInfo.counts).toEqual([]);
    expect((r2.get('info') as BDict).has('files')).toBe(false);
    // The kept info's files is not a list: nothing is streamed, the value stays.
    const notList = new Collect(['info', 'files']);
    const r3 = decodeWith(b('d4:infod5:filesi7ee4:infod5:filesli2eeee'), notList) as BDict;
    expect(notList.counts).toEqual([]);
    expect((r3.get('info') as BDict).get('files')).toBe(7);
  });

  it('matches keys only at their depth on the path', () => {
    const s = new Collect(['info', 'files']);
    // "files" at the top, and an "info" inside a list: neither is on the path.
    const root = decodeWith(b('d5:filesli1ee1:xld4:infod5:filesli2eeeeee'), s) as BDict;
    expect(s.counts).toEqual([]);
    expect(root.get('files')).toEqual([1]);
  });

  it('keeps every check and limit inside the streamed list', () => {
    for (const bad of ['d5:filesli01eee', 'd5:filesl3:abee', 'd5:filesli1e', 'd5:filesld1:bi1e1:ae']) {
      expect(() => decodeWith(b(bad), new Collect(['files']))).toThrow(BencodeError);
    }
    expect(() => decodeWith(b('d5:filesli1ei2ei3eee'), new Collect(['files']), { maxItems: 4 })).toThrow(/more than 4 items/);
    expect(() => decodeWith(b('d5:fileslllleeeee'), new Collect(['files']), { maxDepth: 3 })).toThrow(/nesting deeper than 3/);
    // Soft errors inside streamed items still mark the dictionaries around them.
    const root = decodeWith(b('d4:infod5:filesld1:bi1e1:ai2eeeee'), new Collect(['info', 'files'])) as BDict;
    expect((root.get('info') as BDict).softError).toBe(true);
    // A repeated key counts too (it is not above the one before it).
    const dup = decodeWith(b('d4:infod5:filesld1:ai1e1:ai2eeeee'), new Collect(['info', 'files'])) as BDict;
    expect((dup.get('info') as BDict).softError).toBe(true);
    const clean = decodeWith(b('d4:infod5:filesld1:ai1e1:bi2eeeee'), new Collect(['info', 'files'])) as BDict;
    expect((clean.get('info') as BDict).softError).toBe(false);
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
        const streamed = decodeWith(bytes, s);
        // Put the streamed items back where the stream found them, then compare.
        const info = plain instanceof BDict ? plain.get('info') : undefined;
        const files = info instanceof BDict ? info.get('files') : undefined;
        if (Array.isArray(files)) {
          // Compared as bencode: an item decoded from its own span has offsets into that span
          // (a dictionary's start is 0), the same item in the whole input its offset there.
          expect(s.items.map((x) => encode(x as never))).toEqual(files.map((x) => encode(x as never)));
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

/** A decoded value as plain data, soft-error flags and spans included, for comparing two decodes. */
function shape(v: BValue, spans = true): unknown {
  if (v instanceof BDict) {
    const entries = [...v.entries].map(([k, x]) => [k, shape(x, spans)]);
    return spans ? { soft: v.softError, start: v.start, end: v.end, entries } : { soft: v.softError, entries };
  }
  if (Array.isArray(v)) return v.map((x) => shape(x, spans));
  return Buffer.isBuffer(v) ? `b:${v.toString('hex')}` : v;
}

describe('decode with a ListStream on damaged input (property)', () => {
  it('fails exactly where decode fails, and otherwise reads the same', () => {
    const entry = fc.record({ length: fc.nat(), path: fc.array(fc.constantFrom('a', 'bb', 'c.txt'), { maxLength: 3 }) });
    const torrent = fc.array(entry, { maxLength: 4 }).map((files) => encode({ info: { files, name: 'n' }, x: 1 }));
    const damage = fc.array(
      fc.oneof(
        fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.constantFrom(0x30, 0x31, 0x3a, 0x64, 0x65, 0x69, 0x6c, 0x2d, 0x61) }),
        fc.record({ op: fc.constant('cut' as const), at: fc.nat() }),
        fc.record({ op: fc.constant('dup' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 12 }) }),
      ),
      { maxLength: 3 },
    );
    fc.assert(
      fc.property(torrent, damage, (clean, edits) => {
        let bytes = Buffer.from(clean);
        for (const e of edits) {
          const at = e.at % (bytes.length + 1);
          if (e.op === 'set' && at < bytes.length) bytes[at] = e.byte;
          if (e.op === 'cut') bytes = bytes.subarray(0, at);
          if (e.op === 'dup') bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at, at + e.len), bytes.subarray(at)]);
        }
        const run = (f: () => BValue): unknown => {
          try {
            return f();
          } catch (err) {
            expect(err).toBeInstanceOf(BencodeError);
            return `error: ${(err as Error).message}`;
          }
        };
        const plain = run(() => decode(bytes));
        const s = new Collect(['info', 'files']);
        const streamed = run(() => decodeWith(bytes, s));
        if (typeof plain === 'string') {
          expect(streamed).toBe(plain);
          return;
        }
        const info = plain instanceof BDict ? plain.get('info') : undefined;
        const files = info instanceof BDict ? info.get('files') : undefined;
        if (Array.isArray(files)) {
          // Items decoded from their own spans: the same values, spans counted from the item.
          expect(s.items.map((x) => shape(x, false))).toEqual(files.map((x) => shape(x, false)));
          expect(s.counts).toEqual([files.length]);
          (info as BDict).entries.set('files', []);
        } else {
          expect(s.counts).toEqual([]);
        }
        expect(shape(streamed as BValue)).toEqual(shape(plain as BValue));
      }),
      { numRuns: 2000 },
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

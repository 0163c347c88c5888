import { describe, expect, it } from 'vitest';
import { BDict, decode, decodePrefix, encode, isDict } from '../../src/bencode/index.js';
import { BencodeError } from '../../src/errors.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

function rejects(input: string | Buffer, pattern: RegExp): void {
  const buf = typeof input === 'string' ? b(input) : input;
  let err: unknown;
  try {
    decode(buf);
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${JSON.stringify(String(input).slice(0, 40))} to be rejected`).toBeInstanceOf(BencodeError);
  expect((err as Error).message).toMatch(pattern);
}

describe('bencode decode', () => {
  it('decodes every type', () => {
    const v = decode(b('d3:agei42e4:listl1:ai-7ee4:name4:spame'));
    expect(isDict(v)).toBe(true);
    const d = v as BDict;
    expect(d.get('age')).toBe(42);
    expect(d.get('list')).toEqual([b('a'), -7]);
    expect((d.get('name') as Buffer).toString()).toBe('spam');
  });

  it('returns strings as views into the input, not copies', () => {
    const input = b('4:spam');
    const s = decode(input) as Buffer;
    expect(s.buffer).toBe(input.buffer);
    expect(s.byteOffset).toBe(input.byteOffset + 2);
  });

  it('records the byte span of each dictionary', () => {
    const input = b('d4:infod1:xi1ee3:zzzi0ee');
    const info = (decode(input) as BDict).get('info') as BDict;
    expect(input.subarray(info.start, info.end).toString('latin1')).toBe('d1:xi1ee');
  });

  it.each([
    ['i03e', /leading zero/],
    ['i-0e', /negative zero/],
    ['ie', /empty integer/],
    ['i-e', /empty integer/],
    ['i12', /unterminated integer/],
    ['i1x2e', /invalid character/],
    ['03:abc', /leading zero in string length/],
    ['5:abc', /runs past the end/],
    ['-3:abc', /unexpected byte/],
    ['4', /unterminated string length/],
    ['l', /unterminated list/],
    ['li1e', /unterminated list/],
    ['d', /unterminated dictionary/],
    ['d3:key', /key without a value|unexpected end/],
    ['di1ei2ee', /key is not a string/],
    ['i1ei2e', /trailing bytes/],
    ['', /unexpected end/],
    ['x', /unexpected byte/],
    ['i99999999999999999999e', /integer overflow/],
    ['i9223372036854775808e', /integer overflow/],
    ['9999999999999999999:a', /string length too long/],
  ])('rejects %j', (input, pattern) => rejects(input, pattern));

  it('keeps int64 integers beyond 2^53 as bigint and safe ones as numbers', () => {
    expect(decode(b('i9223372036854775807e'))).toBe(9223372036854775807n);
    expect(decode(b('i-9223372036854775808e'))).toBe(-9223372036854775808n);
    expect(decode(b('i9007199254740991e'))).toBe(Number.MAX_SAFE_INTEGER);
    expect(decode(b('i0e'))).toBe(0);
  });

  it('turns a 100,000-deep nesting into a clean error, not a stack overflow', () => {
    rejects(Buffer.alloc(100_000, 'l'), /nesting deeper than 100/);
    rejects(b('d1:a'.repeat(50_000)), /nesting deeper than 100/);
  });

  it('caps nesting depth for every caller, whatever limit is asked for', () => {
    expect(() => decode(Buffer.alloc(200_000, 'l'), { maxDepth: 1e9 })).toThrow(BencodeError);
  });

  it('bounds the total number of items', () => {
    expect(() => decode(b(`l${'i1e'.repeat(11)}e`), { maxItems: 10 })).toThrow(/more than 10 items/);
    expect(decode(b(`l${'i1e'.repeat(9)}e`), { maxItems: 10 })).toHaveLength(9);
  });

  it('tolerates unsorted and duplicate keys as soft errors, first occurrence wins', () => {
    const unsorted = decode(b('d1:bi1e1:ai2ee')) as BDict;
    expect(unsorted.softError).toBe(true);
    expect(unsorted.get('a')).toBe(2);
    const dup = decode(b('d1:ai1e1:ai2ee')) as BDict;
    expect(dup.softError).toBe(true);
    expect(dup.get('a')).toBe(1);
    const nested = decode(b('d1:ad1:zi1e1:yi1eee')) as BDict;
    expect(nested.softError).toBe(true);
    expect((decode(b('d1:ai1e1:bi2ee')) as BDict).softError).toBe(false);
  });

  it('keeps binary keys byte-exact', () => {
    const key = Buffer.from([0, 0xff, 0x80, 0x41]);
    const input = Buffer.concat([b('d4:'), key, b('i1ee')]);
    const d = decode(input) as BDict;
    expect(encode(d)).toEqual(input);
  });

  it('decodes a prefix and reports where it ended (ut_metadata data messages)', () => {
    const { value, end } = decodePrefix(b('d1:ai1eeRAWBYTES'));
    expect((value as BDict).get('a')).toBe(1);
    expect(end).toBe(8);
  });
});

describe('bencode encode', () => {
  it('sorts keys by raw bytes and refuses non-integers', () => {
    expect(encode({ b: 1, a: 'x', A: [1, 2] }).toString()).toBe('d1:Ali1ei2ee1:a1:x1:bi1ee');
    expect(() => encode(1.5)).toThrow(/non-integer/);
    expect(() => encode(NaN)).toThrow(/non-integer/);
  });

  it('encodes bigints, booleans and byte strings', () => {
    expect(encode([2n ** 62n, true, false, Buffer.from([1, 2])]).toString('latin1')).toBe(
      'li4611686018427387904ei1ei0e2:\x01\x02e',
    );
  });
});

import fc from 'fast-check';
import bencodeOracle from 'bencode';
import { describe, expect, it } from 'vitest';
import { BDict, decode, encode, type BValue } from '../../src/bencode/index.js';
import { BencodeError } from '../../src/errors.js';

/** Arbitrary bencode values in the shape our encoder takes (plain objects for dicts). */
const value = fc.letrec((tie) => ({
  leaf: fc.oneof(
    fc.maxSafeInteger(),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).filter((n) => n < -(2n ** 53n) || n > 2n ** 53n),
    fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)),
  ),
  node: fc.oneof({ depthSize: 'small' }, tie('leaf'), tie('list'), tie('dict')),
  list: fc.array(tie('node'), { maxLength: 5 }),
  dict: fc.dictionary(fc.string({ maxLength: 8 }), tie('node'), { maxKeys: 5 }),
})).node;

/** Our decoded form back to the plain form, for comparison. */
function plain(v: BValue): unknown {
  if (v instanceof BDict) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v.entries) o[Buffer.from(k, 'latin1').toString('utf8')] = plain(x);
    return o;
  }
  if (Array.isArray(v)) return v.map(plain);
  return v;
}

function normalise(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return v;
  if (Array.isArray(v)) return v.map(normalise);
  if (typeof v === 'bigint' && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, normalise(x)]));
  }
  return v;
}

describe('bencode properties', () => {
  it('decode(encode(x)) equals x', () => {
    fc.assert(
      fc.property(value, (x) => {
        const bytes = encode(x as never);
        expect(plain(decode(bytes))).toEqual(normalise(x));
        // canonical: re-encoding the decoded value gives the same bytes
        expect(encode(decode(bytes) as never)).toEqual(bytes);
      }),
      { numRuns: 500 },
    );
  });

  it('agrees with the bencode package as an independent encoder', () => {
    const simple = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc.integer(),
        fc.string({ maxLength: 10 }),
        fc.array(tie('node'), { maxLength: 4 }),
        fc.dictionary(fc.stringMatching(/^[a-z]{1,6}$/), tie('node'), { maxKeys: 4 }),
      ),
    })).node;
    fc.assert(
      fc.property(simple, (x) => {
        const theirs = Buffer.from(bencodeOracle.encode(x));
        expect(theirs).toEqual(encode(x as never));
        expect(encode(decode(theirs) as never)).toEqual(theirs);
      }),
      { numRuns: 300 },
    );
  });

  it('throws only BencodeError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decode(Buffer.from(bytes));
        } catch (e) {
          expect(e).toBeInstanceOf(BencodeError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('throws only BencodeError on bencode-like noise', () => {
    const token = fc.constantFrom('i', 'e', 'l', 'd', '0', '1', '9', ':', '-', '3:abc', 'i-1e', 'le', 'de');
    fc.assert(
      fc.property(fc.array(token, { maxLength: 60 }), (tokens) => {
        try {
          decode(Buffer.from(tokens.join(''), 'latin1'));
        } catch (e) {
          expect(e).toBeInstanceOf(BencodeError);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

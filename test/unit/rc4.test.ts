import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MSE_RC4_DISCARD_BYTES, mseRc4, Rc4 } from '../../src/mse/index.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function keystream(key: Buffer, n: number): Buffer {
  const out = Buffer.alloc(n);
  new Rc4(key).process(out);
  return out;
}

describe('RC4 known vectors', () => {
  it('the classic three (Key/Plaintext, Wiki/pedia, Secret/Attack at dawn)', () => {
    const enc = (key: string, text: string): string => {
      const b = Buffer.from(text, 'latin1');
      new Rc4(Buffer.from(key, 'latin1')).process(b);
      return b.toString('hex');
    };
    expect(enc('Key', 'Plaintext')).toBe('bbf316e8d940af0ad3');
    expect(enc('Wiki', 'pedia')).toBe('1021bf0420');
    expect(enc('Secret', 'Attack at dawn')).toBe('45a01f645fc35b383552544b9bf5');
  });

  it('RFC 6229, 40-bit key 0102030405: offsets 0, 16 and 1024', () => {
    const ks = keystream(hex('0102030405'), 1040);
    expect(ks.subarray(0, 16)).toEqual(hex('b2396305f03dc027ccc3524a0a1118a8'));
    expect(ks.subarray(16, 32)).toEqual(hex('6982944f18fc82d589c403a47a0d0919'));
    expect(ks.subarray(1024, 1040)).toEqual(hex('30abbcc7c20b01609f23ee2d5f6bb7df'));
  });

  it('RFC 6229, 200-bit key 0102..19: offsets 0 and 1024', () => {
    const ks = keystream(hex('0102030405060708090a0b0c0d0e0f10111213141516171819'), 1040);
    expect(ks.subarray(0, 16)).toEqual(hex('7452b16f0c7a707299e2fe5b153da501'));
    expect(ks.subarray(1024, 1040)).toEqual(hex('0fe85861d9c287ac0c97baba06561431'));
  });

  it('mseRc4 drops exactly the first 1024 keystream bytes', () => {
    const out = Buffer.alloc(16);
    mseRc4(hex('0102030405')).process(out);
    expect(MSE_RC4_DISCARD_BYTES).toBe(1024);
    expect(out).toEqual(hex('30abbcc7c20b01609f23ee2d5f6bb7df'));
  });

  it('refuses empty and oversized keys', () => {
    expect(() => new Rc4(Buffer.alloc(0))).toThrow(RangeError);
    expect(() => new Rc4(Buffer.alloc(257))).toThrow(RangeError);
  });
});

describe('RC4 in place, any split, any alignment', () => {
  it('the word path (aligned middle) equals the byte path, for every start offset and split', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 40 }),
        fc.uint8Array({ maxLength: 3000 }),
        fc.nat({ max: 7 }),
        fc.array(fc.nat({ max: 3000 }), { maxLength: 6 }),
        (key, data, misalign, cuts) => {
          // Reference: one byte per call, which never takes the word path.
          const ref = Buffer.from(data);
          const r = new Rc4(key);
          for (let k = 0; k < ref.length; k++) r.process(ref.subarray(k, k + 1));
          // Same bytes at an odd offset of a larger buffer, processed in random pieces.
          const backing = new Uint8Array(data.length + misalign);
          const buf = backing.subarray(misalign);
          buf.set(data);
          const c = new Rc4(key);
          const points = [...new Set(cuts.map((x) => Math.min(x, data.length)))].sort((a, b) => a - b);
          let prev = 0;
          for (const p of [...points, data.length]) {
            c.process(buf.subarray(prev, p));
            prev = p;
          }
          expect(Buffer.from(buf)).toEqual(ref);
          // Bytes outside the view are untouched.
          expect(Array.from(backing.subarray(0, misalign))).toEqual(new Array(misalign).fill(0));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('twice with the same key gives the plaintext back', () => {
    const key = Buffer.from('0123456789abcdefghij');
    const text = Buffer.from('x'.repeat(100_003));
    const b = Buffer.from(text);
    new Rc4(key).process(b);
    expect(b.equals(text)).toBe(false);
    new Rc4(key).process(b);
    expect(b).toEqual(text);
  });
});

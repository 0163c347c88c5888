/**
 * MSE's Diffie-Hellman arithmetic (src/mse/dh.ts): the windowed modPow and the G = 2 shortcut
 * powerOfTwo must agree with plain square-and-multiply for every exponent length, including those
 * whose bit count is not a multiple of the window and exponents of 0 and 1; and two key pairs must
 * reach the same secret.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkPublic, generateKeyPair, modPow, MSE_GENERATOR, MSE_PRIME, powerOfTwo, sharedSecret } from '../../src/mse/dh.js';

/** Right-to-left square-and-multiply: the textbook reference. */
function reference(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n % mod;
  let b = base % mod;
  for (let e = exp; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % mod;
    b = (b * b) % mod;
  }
  return result;
}

const bigUint = (bits: number) => fc.bigInt({ min: 0n, max: (1n << BigInt(bits)) - 1n });

describe('dh arithmetic', () => {
  it('modPow equals square-and-multiply (mod P and small moduli, any exponent length)', () => {
    fc.assert(
      fc.property(bigUint(800), fc.integer({ min: 0, max: 800 }).chain((n) => bigUint(n)), fc.constantFrom(MSE_PRIME, 2n, 3n, 97n, 1n << 61n), (base, exp, mod) => {
        expect(modPow(base, exp, mod)).toBe(reference(base, exp, mod));
      }),
      { numRuns: 300 },
    );
  });

  it('powerOfTwo equals 2^exp mod P', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 800 }).chain((n) => bigUint(n)), (exp) => {
        expect(powerOfTwo(exp, MSE_PRIME)).toBe(reference(MSE_GENERATOR, exp, MSE_PRIME));
      }),
      { numRuns: 300 },
    );
    for (const exp of [0n, 1n, 2n, 15n, 16n, 17n, (1n << 160n) - 1n]) expect(powerOfTwo(exp, MSE_PRIME)).toBe(reference(2n, exp, MSE_PRIME));
    expect(powerOfTwo(5n, 7n)).toBe(4n); // 32 mod 7
    expect(modPow(3n, 0n, 1n)).toBe(0n);
  });

  it('two key pairs agree on the shared secret, and the public value is G^X', () => {
    let seed = 1;
    const random = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) & 0xff));
    for (let i = 0; i < 20; i++) {
      const a = generateKeyPair(random);
      const b = generateKeyPair(random);
      expect(BigInt('0x' + a.publicKey.toString('hex'))).toBe(reference(MSE_GENERATOR, a.privateKey, MSE_PRIME));
      expect(sharedSecret(a, checkPublic(b.publicKey)!)).toEqual(sharedSecret(b, checkPublic(a.publicKey)!));
    }
  });
});

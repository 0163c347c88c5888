/**
 * Properties of the MSE/PE machines under arbitrary input: whatever bytes arrive, in whatever
 * chunking, each machine throws only MseError and never holds more than its largest bound.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DH_KEY_BYTES, generateKeyPair } from '../../src/mse/dh.js';
import { MAX_INITIAL_PAYLOAD_BYTES, MseError, MseInitiator, MseReceiver, REQ1_SEARCH_BYTES, VC_SEARCH_BYTES } from '../../src/mse/index.js';
import { seeded } from '../helpers/prng.js';

function rng(seed: number): (n: number) => Buffer {
  const next = seeded(seed);
  return (n) => Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256)));
}

const IH = Buffer.alloc(20, 0x11);
/** The most either machine may hold: a whole IA (receiver), else the larger search window. */
const RECEIVER_BOUND = Math.max(DH_KEY_BYTES, REQ1_SEARCH_BYTES, MAX_INITIAL_PAYLOAD_BYTES);
const INITIATOR_BOUND = Math.max(DH_KEY_BYTES, VC_SEARCH_BYTES, 512);

const chunks = fc.array(fc.uint8Array({ maxLength: 700 }).map((u) => Buffer.from(u)), { maxLength: 12 });
/** Sometimes a well-formed key first, so the later phases see the garbage too. */
const withKey = fc.boolean();

function feed(m: MseInitiator | MseReceiver, parts: Buffer[], bound: number): void {
  try {
    for (const p of parts) {
      const step = m.receive(p);
      expect(m.bufferedBytes).toBeLessThanOrEqual(bound);
      if (step.done) return;
    }
  } catch (e) {
    if (!(e instanceof MseError)) throw e;
    expect(m.bufferedBytes).toBe(0);
  }
}

describe('MSE machines under arbitrary bytes', () => {
  it('the receiver throws only MseError and holds at most its bound', () => {
    fc.assert(
      fc.property(chunks, withKey, fc.nat(), (parts, key, seed) => {
        const b = new MseReceiver({ infoHashes: [IH], allowPlaintext: true, allowRc4: true, randomBytes: rng(seed) });
        const head = key ? [generateKeyPair(rng(seed + 1)).publicKey] : [];
        feed(b, [...head, ...parts], RECEIVER_BOUND);
      }),
      { numRuns: 400 },
    );
  });

  it('the initiator throws only MseError and holds at most its bound', () => {
    fc.assert(
      fc.property(chunks, withKey, fc.nat(), (parts, key, seed) => {
        const a = new MseInitiator({ infoHash: IH, allowPlaintext: true, randomBytes: rng(seed) });
        a.start();
        const head = key ? [generateKeyPair(rng(seed + 1)).publicKey] : [];
        feed(a, [...head, ...parts], INITIATOR_BOUND);
      }),
      { numRuns: 400 },
    );
  });

  it('an honest initiator\'s bytes with one byte changed: the receiver finishes or throws MseError, within its bound', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), fc.nat({ max: 40 }), (seed, where, flip, cut) => {
        const a = new MseInitiator({ infoHash: IH, allowPlaintext: true, initialPayload: Buffer.alloc(68, 7), randomBytes: rng(seed) });
        const b = new MseReceiver({ infoHashes: [IH], allowPlaintext: true, allowRc4: true, randomBytes: rng(seed + 1) });
        const ya = a.start();
        const s1 = b.receive(ya);
        const step3 = Buffer.from(a.receive(s1.send!).send!);
        step3[where % step3.length]! ^= flip;
        const at = Math.min(cut, step3.length);
        feed(b, [step3.subarray(0, at), step3.subarray(at)], RECEIVER_BOUND);
      }),
      { numRuns: 300 },
    );
  });
});

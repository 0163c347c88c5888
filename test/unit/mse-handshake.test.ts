/**
 * The MSE/PE handshake machines without sockets: two ends agreeing, byte by byte and in one
 * piece, and each hostile case ending in a typed MseError exactly at its bound, having held no
 * more than that bound.
 */
import { createHash, randomBytes as cryptoRandom } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { DH_KEY_BYTES, generateKeyPair, MSE_PRIME, sharedSecret, toBigInt, toKeyBytes } from '../../src/mse/dh.js';
import {
  MAX_INITIAL_PAYLOAD_BYTES,
  MseError,
  MseInitiator,
  MseReceiver,
  mseRc4,
  REQ1_SEARCH_BYTES,
  VC_SEARCH_BYTES,
  type MseFailure,
  type MseOutcome,
  type ReceiverOutcome,
} from '../../src/mse/index.js';
import { seeded } from '../helpers/prng.js';

const sha1 = (...parts: Buffer[]): Buffer => parts.reduce((h, p) => h.update(p), createHash('sha1')).digest();
const IH = sha1(Buffer.from('torrent one'));
const OTHER = sha1(Buffer.from('torrent two'));
const BT_HANDSHAKE = Buffer.concat([Buffer.from('\x13BitTorrent protocol', 'latin1'), Buffer.alloc(8), IH, Buffer.alloc(20, 0x2d)]);

/** Deterministic random bytes from a seed (tests replay exactly). */
function rng(seed: number): (n: number) => Buffer {
  const next = seeded(seed);
  return (n) => Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256)));
}

/** A random source whose pad-length draws (2-byte requests) answer `padLength`. */
function padsOf(padLength: number, seed = 7): (n: number) => Buffer {
  const r = rng(seed);
  return (n) => {
    if (n !== 2) return r(n);
    const b = Buffer.alloc(2);
    b.writeUInt16BE(padLength);
    return b;
  };
}

function expectMse(f: () => unknown, reason: MseFailure): MseError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(MseError);
    expect(e).toBeInstanceOf(ProtocolError);
    expect((e as MseError).reason).toBe(reason);
    return e as MseError;
  }
  throw new Error(`expected MseError ${reason}, nothing thrown`);
}

/** Runs both machines to the end, delivering each message in pieces of `chunk` bytes. */
function run(a: MseInitiator, b: MseReceiver, chunk = Infinity): { a: MseOutcome; b: ReceiverOutcome } {
  let toB: Buffer[] = [a.start()];
  let toA: Buffer[] = [];
  let doneA: MseOutcome | null = null;
  let doneB: ReceiverOutcome | null = null;
  const pieces = (bufs: Buffer[]): Buffer[] => {
    const all = Buffer.concat(bufs);
    const out: Buffer[] = [];
    const size = Math.min(chunk, Math.max(1, all.length));
    for (let o = 0; o < all.length; o += size) out.push(all.subarray(o, o + size));
    return out;
  };
  for (let round = 0; round < 10 && !(doneA && doneB); round++) {
    for (const c of pieces(toB)) {
      const s = b.receive(c);
      if (s.send) toA.push(s.send);
      if (s.done) doneB = s.done;
    }
    toB = [];
    for (const c of pieces(toA)) {
      if (doneA) break;
      const s = a.receive(c);
      if (s.send) toB.push(s.send);
      if (s.done) doneA = s.done;
    }
    toA = [];
  }
  if (!doneA || !doneB) throw new Error('handshake did not finish');
  return { a: doneA, b: doneB };
}

/** After the handshake, bytes one side encrypts come out of the other's decryptor unchanged. */
function expectChannels(a: MseOutcome, b: ReceiverOutcome): void {
  for (const [from, to] of [
    [a.encrypt!, b.decrypt!],
    [b.encrypt!, a.decrypt!],
  ] as const) {
    const text = Buffer.from('payload stream after the handshake '.repeat(50));
    const wire = Buffer.from(text);
    from.process(wire);
    expect(wire.equals(text)).toBe(false);
    to.process(wire);
    expect(wire).toEqual(text);
  }
}

describe('two ends agree', () => {
  it('RC4 with the BitTorrent handshake as IA, whole messages', () => {
    const a = new MseInitiator({ infoHash: IH, allowPlaintext: false, initialPayload: BT_HANDSHAKE, randomBytes: rng(1) });
    const b = new MseReceiver({ infoHashes: [OTHER, IH], allowPlaintext: false, allowRc4: true, randomBytes: rng(2) });
    const { a: ra, b: rb } = run(a, b);
    expect(ra.method).toBe('rc4');
    expect(rb.method).toBe('rc4');
    expect(rb.infoHash).toEqual(IH);
    expect(rb.initialPayload).toEqual(BT_HANDSHAKE);
    expect(ra.rest.length).toBe(0);
    expect(rb.rest.length).toBe(0);
    expectChannels(ra, rb);
  });

  it('byte by byte, for many pad lengths drawn at random', () => {
    for (let seed = 10; seed < 30; seed++) {
      // The initiator offers both; a receiver that requires encryption picks RC4.
      const a = new MseInitiator({ infoHash: IH, allowPlaintext: true, initialPayload: BT_HANDSHAKE, randomBytes: rng(seed) });
      const b = new MseReceiver({ infoHashes: [IH], allowPlaintext: false, allowRc4: true, randomBytes: rng(seed + 100) });
      const { a: ra, b: rb } = run(a, b, 1);
      expect(rb.initialPayload).toEqual(BT_HANDSHAKE);
      expect(ra.method).toBe('rc4');
      expectChannels(ra, rb);
    }
  });

  it('largest pads (512) everywhere and the largest IA', () => {
    const ia = cryptoRandom(MAX_INITIAL_PAYLOAD_BYTES);
    const a = new MseInitiator({ infoHash: IH, allowPlaintext: false, initialPayload: ia, randomBytes: padsOf(512, 1) });
    const b = new MseReceiver({ infoHashes: [IH], allowPlaintext: false, allowRc4: true, randomBytes: padsOf(512, 2) });
    const { b: rb } = run(a, b, 100);
    expect(rb.initialPayload).toEqual(ia);
  });

  it('offered both, a receiver that allows both takes plaintext (as libtorrent does by default): the handshake obfuscated, the payload as is', () => {
    const a = new MseInitiator({ infoHash: IH, allowPlaintext: true, initialPayload: BT_HANDSHAKE, randomBytes: rng(5) });
    const b = new MseReceiver({ infoHashes: [IH], allowPlaintext: true, allowRc4: true, randomBytes: rng(6) });
    const { a: ra, b: rb } = run(a, b);
    expect(ra.method).toBe('plaintext');
    expect(rb.method).toBe('plaintext');
    expect(rb.initialPayload).toEqual(BT_HANDSHAKE);
  });

  it('plaintext is selected when the initiator offers it and the receiver allows only that', () => {
    const a = new MseInitiator({ infoHash: IH, allowPlaintext: true, initialPayload: BT_HANDSHAKE, randomBytes: rng(3) });
    const b = new MseReceiver({ infoHashes: [IH], allowPlaintext: true, allowRc4: false, randomBytes: rng(4) });
    const { a: ra, b: rb } = run(a, b);
    expect(ra.method).toBe('plaintext');
    expect(rb.method).toBe('plaintext');
    expect([ra.encrypt, ra.decrypt, rb.encrypt, rb.decrypt]).toEqual([null, null, null, null]);
    // IA is RC4 whatever is selected, and arrives decrypted.
    expect(rb.initialPayload).toEqual(BT_HANDSHAKE);
  });

  it('bytes after the handshake in the same chunk come back as rest, still encrypted', () => {
    const a = new MseInitiator({ infoHash: IH, allowPlaintext: false, randomBytes: rng(5) });
    const b = new MseReceiver({ infoHashes: [IH], allowPlaintext: false, allowRc4: true, randomBytes: rng(6) });
    const s1 = b.receive(a.start());
    const s2 = a.receive(s1.send!);
    const s3 = b.receive(s2.send!);
    expect(s3.done).not.toBeNull();
    const tail = Buffer.from('bitfield and more');
    const wire = Buffer.from(tail);
    s3.done!.encrypt!.process(wire);
    const s4 = a.receive(Buffer.concat([s3.send!, wire]));
    expect(s4.done).not.toBeNull();
    const rest = Buffer.from(s4.done!.rest);
    s4.done!.decrypt!.process(rest);
    expect(rest).toEqual(tail);
  });

  it('a finished machine refuses more input (the stream belongs to the transport)', () => {
    const a = new MseInitiator({ infoHash: IH, allowPlaintext: false, randomBytes: rng(8) });
    const b = new MseReceiver({ infoHashes: [IH], allowPlaintext: false, allowRc4: true, randomBytes: rng(9) });
    run(a, b);
    expect(() => a.receive(Buffer.alloc(1))).toThrow(/finished/);
  });
});

describe('Diffie-Hellman values', () => {
  it('keys are 96 bytes, leading zeros kept, and both sides get the same secret', () => {
    expect(toKeyBytes(5n).length).toBe(DH_KEY_BYTES);
    expect(toBigInt(toKeyBytes(MSE_PRIME - 1n))).toBe(MSE_PRIME - 1n);
    const x = generateKeyPair(rng(1));
    const y = generateKeyPair(rng(2));
    expect(sharedSecret(x, toBigInt(y.publicKey))).toEqual(sharedSecret(y, toBigInt(x.publicKey)));
  });
});

/** A receiver that has already seen a valid Ya, and the secret it shares with that initiator. */
function receiverAfterYa(opts: { infoHashes?: Buffer[]; allowPlaintext?: boolean } = {}) {
  const keys = generateKeyPair(rng(40));
  const b = new MseReceiver({ infoHashes: opts.infoHashes ?? [IH], allowPlaintext: opts.allowPlaintext ?? false, allowRc4: true, randomBytes: rng(41) });
  const s1 = b.receive(keys.publicKey);
  const yb = s1.send!.subarray(0, DH_KEY_BYTES);
  const secret = sharedSecret(keys, toBigInt(yb));
  return { b, secret };
}

/** Step 3 as an initiator writes it, with any field chosen by the test. */
function step3(secret: Buffer, f: { skey?: Buffer; vc?: Buffer; provide?: number; padC?: number; ia?: Buffer; iaLen?: number }): Buffer {
  const skey = f.skey ?? IH;
  const req2x3 = sha1(Buffer.from('req2'), skey).map((v, k) => v ^ sha1(Buffer.from('req3'), secret)[k]!);
  const padC = Buffer.alloc(f.padC ?? 0);
  const ia = f.ia ?? Buffer.alloc(0);
  const body = Buffer.concat([f.vc ?? Buffer.alloc(8), Buffer.alloc(4), Buffer.alloc(2), padC, Buffer.alloc(2), ia]);
  body.writeUInt32BE(f.provide ?? 2, 8);
  body.writeUInt16BE(padC.length, 12);
  body.writeUInt16BE(f.iaLen ?? ia.length, 14 + padC.length);
  mseRc4(sha1(Buffer.from('keyA'), secret, skey)).process(body);
  return Buffer.concat([sha1(Buffer.from('req1'), secret), Buffer.from(req2x3), body]);
}

describe('hostile initiators, as seen by the receiver', () => {
  it('garbage instead of a DH key: zero, one, P-1 and values above P are refused at once', () => {
    for (const y of [0n, 1n, MSE_PRIME - 1n, MSE_PRIME, 2n ** 768n - 1n]) {
      const b = new MseReceiver({ infoHashes: [IH], allowPlaintext: false, allowRc4: true, randomBytes: rng(1) });
      expectMse(() => b.receive(toKeyBytes(y).subarray(-96)), 'bad-dh-key');
    }
  });

  it('garbage that happens to be a valid number, then endless padding: dropped at byte 532 after Ya, having held at most 532', () => {
    const b = new MseReceiver({ infoHashes: [IH], allowPlaintext: false, allowRc4: true, randomBytes: rng(1) });
    const s = b.receive(Buffer.concat([Buffer.from([0x7f]), cryptoRandom(DH_KEY_BYTES - 1)]));
    expect(s.send!.length).toBeGreaterThanOrEqual(DH_KEY_BYTES); // Yb + PadB went out
    const pad = cryptoRandom(REQ1_SEARCH_BYTES - 1);
    for (const byte of pad) {
      expect(b.receive(Buffer.from([byte])).done).toBeNull();
      expect(b.bufferedBytes).toBeLessThanOrEqual(REQ1_SEARCH_BYTES);
    }
    expectMse(() => b.receive(Buffer.from([0])), 'no-req1');
    expect(b.bufferedBytes).toBe(0);
    // Dead from now on: the same error, whatever comes.
    expectMse(() => b.receive(Buffer.alloc(1)), 'no-req1');
  });

  it('a megabyte of padding in one chunk is refused without being held', () => {
    const b = new MseReceiver({ infoHashes: [IH], allowPlaintext: false, allowRc4: true, randomBytes: rng(1) });
    const keys = generateKeyPair(rng(2));
    expectMse(() => b.receive(Buffer.concat([keys.publicKey, Buffer.alloc(1 << 20, 0xaa)])), 'no-req1');
    expect(b.bufferedBytes).toBe(0);
  });

  it('req1 at the very end of the 532-byte window is still found', () => {
    const { b, secret } = receiverAfterYa();
    const s = b.receive(Buffer.concat([cryptoRandom(512), step3(secret, { ia: BT_HANDSHAKE })]));
    expect(s.done?.initialPayload).toEqual(BT_HANDSHAKE);
  });

  it('a wrong req2 (a torrent we do not serve) is refused', () => {
    const { b, secret } = receiverAfterYa({ infoHashes: [IH] });
    expectMse(() => b.receive(step3(secret, { skey: OTHER })), 'unknown-torrent');
  });

  it('a VC that does not decrypt to zeros is refused', () => {
    const { b, secret } = receiverAfterYa();
    expectMse(() => b.receive(step3(secret, { vc: Buffer.from([0, 0, 0, 0, 0, 0, 0, 1]) })), 'bad-vc');
  });

  it('PadC longer than 512 is refused when its length arrives', () => {
    const { b, secret } = receiverAfterYa();
    const bytes = step3(secret, { padC: 513 });
    // Only up to len(PadC): 20 + 20 + 8 + 4 + 2 bytes.
    expectMse(() => b.receive(bytes.subarray(0, 54)), 'padding-too-long');
  });

  it('an IA longer than the limit is refused when its length arrives', () => {
    const { b, secret } = receiverAfterYa();
    const bytes = step3(secret, { iaLen: MAX_INITIAL_PAYLOAD_BYTES + 1 });
    expectMse(() => b.receive(bytes), 'initial-payload-too-long');
  });

  it('crypto_provide with nothing we allow (plaintext only, we require RC4; or no bits) is refused', () => {
    for (const provide of [0x01, 0x00, 0x04]) {
      const { b, secret } = receiverAfterYa({ allowPlaintext: false });
      expectMse(() => b.receive(step3(secret, { provide })), 'no-common-method');
    }
  });
});

/** An initiator that has sent Ya, the receiver keys a test answers with, and their secret. */
function initiatorAwaitingYb(allowPlaintext = false) {
  const a = new MseInitiator({ infoHash: IH, allowPlaintext, initialPayload: BT_HANDSHAKE, randomBytes: rng(50) });
  const ya = a.start().subarray(0, DH_KEY_BYTES);
  const keys = generateKeyPair(rng(51));
  const secret = sharedSecret(keys, toBigInt(ya));
  return { a, yb: keys.publicKey, secret };
}

function step4(secret: Buffer, select: number, padD = 0): Buffer {
  const out = Buffer.concat([Buffer.alloc(8), Buffer.alloc(4), Buffer.alloc(2), Buffer.alloc(Math.min(padD, 600))]);
  out.writeUInt32BE(select, 8);
  out.writeUInt16BE(padD, 12);
  mseRc4(sha1(Buffer.from('keyB'), secret, IH)).process(out);
  return out;
}

describe('hostile receivers, as seen by the initiator', () => {
  it('garbage instead of a DH key is refused at once', () => {
    const { a } = initiatorAwaitingYb();
    expectMse(() => a.receive(Buffer.alloc(DH_KEY_BYTES)), 'bad-dh-key');
  });

  it('no VC (endless padding after Yb): dropped at byte 520 after Yb, having held at most 520', () => {
    const { a, yb } = initiatorAwaitingYb();
    const s = a.receive(yb);
    expect(s.send).not.toBeNull(); // step 3 went out
    for (let k = 0; k < VC_SEARCH_BYTES - 1; k++) {
      expect(a.receive(Buffer.from([k & 0xff])).done).toBeNull();
      expect(a.bufferedBytes).toBeLessThanOrEqual(VC_SEARCH_BYTES);
    }
    expectMse(() => a.receive(Buffer.from([1])), 'no-vc');
    expect(a.bufferedBytes).toBe(0);
  });

  it('a crypto_select of a method we did not offer, or of two at once, is refused', () => {
    for (const select of [0x01, 0x03, 0x04, 0x00]) {
      const { a, yb, secret } = initiatorAwaitingYb(false);
      a.receive(yb);
      expectMse(() => a.receive(step4(secret, select)), 'bad-crypto-select');
    }
  });

  it('plaintext may be selected when we offered it', () => {
    const { a, yb, secret } = initiatorAwaitingYb(true);
    a.receive(yb);
    expect(a.receive(step4(secret, 0x01)).done?.method).toBe('plaintext');
  });

  it('PadD longer than 512 is refused', () => {
    const { a, yb, secret } = initiatorAwaitingYb();
    a.receive(yb);
    expectMse(() => a.receive(step4(secret, 0x02, 513)), 'padding-too-long');
  });

  it('the VC found at the far end of the window (PadB of 512) is accepted', () => {
    const { a, yb, secret } = initiatorAwaitingYb();
    a.receive(Buffer.concat([yb, cryptoRandom(512)]));
    expect(a.receive(step4(secret, 0x02, 3)).done?.method).toBe('rc4');
  });
});

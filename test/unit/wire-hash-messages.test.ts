/**
 * BEP 52 hash request / hashes / hash reject codecs (src/wire/hash-messages.ts): exact bytes,
 * round trips of every valid message, typed errors only for any bytes, the bounds that refuse a
 * request for a whole large tree or a reply that does not match its request, and a decoded reply
 * checked against a real tree (metainfo verifyHashRun).
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { fileTree, verifyHashRun } from '../../src/metainfo/index.js';
import {
  decodeHashMessage,
  encodeHashMessage,
  hashRequestFits,
  MAX_HASH_REQUEST_LENGTH,
  MAX_HASHES_MESSAGE_BYTES,
  MAX_MERKLE_HEIGHT,
  maxMessageBytes,
  uncleCount,
  type HashMessage,
} from '../../src/wire/index.js';
import { bytes } from '../helpers/make-torrent.js';

const ROOT = Buffer.alloc(32, 0xab);
const GiB = 1024 ** 3;
const body = (frame: Buffer): Buffer => {
  expect(frame.readUInt32BE(0)).toBe(frame.length - 4);
  return frame.subarray(4);
};
const header = (id: number, base: number, index: number, length: number, proof: number): Buffer => {
  const b = Buffer.alloc(49);
  b[0] = id;
  ROOT.copy(b, 1);
  b.writeUInt32BE(base, 33);
  b.writeUInt32BE(index, 37);
  b.writeUInt32BE(length, 41);
  b.writeUInt32BE(proof, 45);
  return b;
};

/** Valid fields: a power-of-two run, aligned, inside the tallest tree. */
const fieldsArb = fc
  .record({ base: fc.integer({ min: 0, max: MAX_MERKLE_HEIGHT }), log: fc.integer({ min: 0, max: 13 }), slot: fc.nat(), proof: fc.integer({ min: 0, max: MAX_MERKLE_HEIGHT }) })
  .filter(({ base, log }) => log <= MAX_MERKLE_HEIGHT - base)
  .map(({ base, log, slot, proof }) => {
    const length = 2 ** log;
    const slots = 2 ** (MAX_MERKLE_HEIGHT - base) / length;
    return { piecesRoot: ROOT, baseLayer: base, index: (slot % slots) * length, length, proofLayers: proof };
  });

const messageArb: fc.Arbitrary<HashMessage> = fc.oneof(
  fieldsArb.map((f) => ({ type: 'hash-request' as const, ...f })),
  fieldsArb.map((f) => ({ type: 'hash-reject' as const, ...f })),
  fc.tuple(fieldsArb.filter((f) => f.length <= 64), fc.nat(), fc.integer()).map(([f, extra, seed]) => ({
    type: 'hashes' as const,
    ...f,
    hashes: bytes((f.length + (extra % (f.proofLayers + 1))) * 32, seed),
  })),
);

describe('BEP 52 hash messages', () => {
  it('encodes a hash request as BEP 52 lays it out: id 21, pieces root, then four u32 fields', () => {
    const frame = encodeHashMessage({ type: 'hash-request', piecesRoot: ROOT, baseLayer: 2, index: 512, length: 512, proofLayers: 7 });
    expect(body(frame)).toEqual(header(21, 2, 512, 512, 7));
    expect(frame.length).toBe(4 + 49);
  });

  it('a hash reject is the request with id 23; hashes carries the hashes after the same header', () => {
    const reject = encodeHashMessage({ type: 'hash-reject', piecesRoot: ROOT, baseLayer: 0, index: 0, length: 2, proofLayers: 0 });
    expect(body(reject)).toEqual(header(23, 0, 0, 2, 0));
    const hashes = bytes(3 * 32, 5);
    const reply = encodeHashMessage({ type: 'hashes', piecesRoot: ROOT, baseLayer: 0, index: 2, length: 2, proofLayers: 1, hashes });
    expect(body(reply)).toEqual(Buffer.concat([header(22, 0, 2, 2, 1), hashes]));
  });

  it('decode(encode(m)) is m for every valid message', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        expect(decodeHashMessage(body(encodeHashMessage(m)))).toEqual(m);
      }),
      { numRuns: 300 },
    );
  });

  it('any bytes after id 21-23 decode to a message or a ProtocolError, nothing else', () => {
    fc.assert(
      fc.property(fc.constantFrom(21, 22, 23), fc.uint8Array({ maxLength: 200 }), fc.option(messageArb), fc.nat(), (id, junk, m, cut) => {
        const b = m ? Buffer.from(body(encodeHashMessage(m))) : Buffer.concat([Buffer.from([id]), junk]);
        const input = m && junk.length > 0 ? (junk[0]! % 2 === 0 ? b.subarray(0, cut % (b.length + 1)) : Buffer.concat([b, junk])) : b;
        try {
          decodeHashMessage(input);
        } catch (e) {
          expect(e).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a request for the whole leaf layer of a 100 GiB file by the named limit', () => {
    const leaves = Math.ceil((100 * GiB) / 16384); // 6,553,600
    let length = 1;
    while (length < leaves) length *= 2;
    expect(() => decodeHashMessage(header(21, 0, 0, length, 0))).toThrow(ProtocolError);
    expect(() => decodeHashMessage(header(21, 0, 0, length, 0))).toThrow(`length ${length} is more than ${MAX_HASH_REQUEST_LENGTH}`);
    // The largest allowed run of that tree decodes, and fits the file.
    const ok = decodeHashMessage(header(21, 0, 8192 * 7, MAX_HASH_REQUEST_LENGTH, 10));
    expect(ok.type).toBe('hash-request');
    expect(hashRequestFits(ok, 100 * GiB)).toBeNull();
  });

  it.each([
    ['length 0', header(21, 0, 0, 0, 0), 'not a power of two'],
    ['length 3', header(21, 0, 0, 3, 0), 'not a power of two'],
    ['unaligned index', header(21, 0, 6, 4, 0), 'not a multiple of length'],
    ['base layer above any tree', header(21, 31, 0, 1, 0), 'above the tallest tree'],
    ['proof above any tree', header(23, 0, 0, 2, 31), 'more than the tallest tree'],
    ['run past the tallest tree', header(21, 29, 4, 2, 0), 'beyond layer 29'],
    ['short request', header(21, 0, 0, 2, 0).subarray(0, 48), 'payload of 47 bytes'],
    ['long reject', Buffer.concat([header(23, 0, 0, 2, 0), Buffer.alloc(1)]), 'payload of 49 bytes'],
    ['hashes with fewer hashes than the run', Buffer.concat([header(22, 0, 0, 4, 0), Buffer.alloc(3 * 32)]), '3 hashes for a run of 4'],
    ['hashes with more uncles than proof layers', Buffer.concat([header(22, 0, 0, 2, 1), Buffer.alloc(4 * 32)]), '2 uncle hashes for 1 proof layers'],
    ['hashes not a whole number of hashes', Buffer.concat([header(22, 0, 0, 2, 0), Buffer.alloc(65)]), 'not a whole number'],
    ['a frame larger than any reply', Buffer.concat([header(22, 0, 0, 8192, 30), Buffer.alloc(MAX_HASHES_MESSAGE_BYTES)]), 'more than'],
  ])('refuses %s with a ProtocolError', (_name, input, why) => {
    expect(() => decodeHashMessage(input)).toThrow(ProtocolError);
    expect(() => decodeHashMessage(input)).toThrow(why);
  });

  it('the largest reply fits in a frame the framer accepts', () => {
    expect(MAX_HASHES_MESSAGE_BYTES).toBeLessThanOrEqual(maxMessageBytes(0));
    const m: HashMessage = { type: 'hashes', piecesRoot: ROOT, baseLayer: 0, index: 0, length: MAX_HASH_REQUEST_LENGTH, proofLayers: MAX_MERKLE_HEIGHT, hashes: Buffer.alloc((MAX_HASH_REQUEST_LENGTH + MAX_MERKLE_HEIGHT) * 32) };
    expect(body(encodeHashMessage(m)).length).toBe(MAX_HASHES_MESSAGE_BYTES);
  });

  it('hashRequestFits: a request must lie inside the tree of the file it names', () => {
    const len = 10 * 16384 + 1; // 11 blocks: 16 leaves, height 4
    expect(hashRequestFits({ baseLayer: 0, index: 0, length: 16, proofLayers: 0 }, len)).toBeNull();
    expect(hashRequestFits({ baseLayer: 0, index: 16, length: 2, proofLayers: 0 }, len)).toMatch(/beyond the 16 nodes/);
    expect(hashRequestFits({ baseLayer: 5, index: 0, length: 1, proofLayers: 0 }, len)).toMatch(/above this file's root/);
    expect(hashRequestFits({ baseLayer: 2, index: 0, length: 8, proofLayers: 0 }, len)).toMatch(/beyond the 4 nodes/);
    expect(uncleCount({ baseLayer: 1, index: 2, length: 2, proofLayers: 9 }, len)).toBe(2);
    expect(uncleCount({ baseLayer: 1, index: 2, length: 2, proofLayers: 1 }, len)).toBe(1);
  });

  it('a hashes reply built from a real tree verifies up to the pieces root after decoding; a changed hash does not', () => {
    const pieceLength = 4 * 16384;
    const data = bytes(23 * pieceLength + 999, 11);
    const tree = fileTree(data, pieceLength)!;
    const layer: Buffer[] = [];
    for (let o = 0; o < tree.pieceLayer.length; o += 32) layer.push(tree.pieceLayer.subarray(o, o + 32));
    // The piece layer padded with zero-piece roots, and the rows above it, for the uncles.
    const z = (h: number): Buffer => {
      let x = Buffer.alloc(32);
      for (let i = 0; i < h; i++) x = createHash('sha256').update(x).update(x).digest();
      return x;
    };
    const rows: Buffer[][] = [[...layer]];
    while (rows[0]!.length < 32) rows[0]!.push(z(2));
    while (rows[rows.length - 1]!.length > 1) {
      const prev = rows[rows.length - 1]!;
      const next: Buffer[] = [];
      for (let i = 0; i < prev.length; i += 2) next.push(createHash('sha256').update(prev[i]!).update(prev[i + 1]!).digest());
      rows.push(next);
    }
    // Ask for pieces 8..15 of the piece layer (base layer 2) with a full proof.
    const req = { piecesRoot: tree.root, baseLayer: 2, index: 8, length: 8, proofLayers: 16 };
    expect(hashRequestFits(req, data.length)).toBeNull();
    const uncles = uncleCount(req, data.length);
    expect(uncles).toBe(2);
    const proof = [rows[3]![0]!, rows[4]![1]!];
    const frame = encodeHashMessage({ type: 'hashes', ...req, hashes: Buffer.concat([...rows[0]!.slice(8, 16), ...proof]) });
    const m = decodeHashMessage(body(frame));
    if (m.type !== 'hashes') throw new Error('not hashes');
    const hs: Buffer[] = [];
    for (let o = 0; o < m.hashes.length; o += 32) hs.push(m.hashes.subarray(o, o + 32));
    const leafCount = Math.ceil(data.length / 16384);
    expect(verifyHashRun(m.piecesRoot, leafCount, m.baseLayer, m.index, hs.slice(0, m.length), hs.slice(m.length))).toBe(true);
    const bad = hs.map((h, i) => (i === 3 ? Buffer.alloc(32, 1) : h));
    expect(verifyHashRun(m.piecesRoot, leafCount, m.baseLayer, m.index, bad.slice(0, m.length), bad.slice(m.length))).toBe(false);
  });
});

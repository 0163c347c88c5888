/**
 * The piece-layer policies without sockets (src/session/piece-layers.ts): which runs of which
 * layer are asked of whom (runs of at most 512 hashes with a full proof, a bound per peer), how
 * replies are checked (every run against its file's pieces root; a lie is a ProtocolError and the
 * run goes to someone else), rejects and timeouts, and the answers a seeder gives (rejects,
 * uncle counts as libtorrent 2.0.8 sends them, proofs that verify).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { blockCount, MERKLE_HASH_BYTES, verifyHashRun, type TorrentFile } from '../../src/metainfo/index.js';
import {
  HASH_REQUEST_TIMEOUT_MS,
  HashServer,
  HASHES_PER_REQUEST,
  MAX_REQUESTS_PER_PEER,
  PieceLayerFetcher,
  REFUSED_RETRY_MS,
  type LayerRequest,
} from '../../src/session/piece-layers.js';
import { bytes } from '../helpers/make-torrent.js';
import { v2Fixture } from '../helpers/v2-fixture.js';

const BLOCK = 16 * 1024;
// Piece = block: the piece layer is the leaf layer (base layer 0), as in libtorrent's --piece-length 16384.
const fx = v2Fixture(
  'album',
  [
    { path: 'big.bin', data: bytes(600 * BLOCK - 100, 1) }, // 600 pieces: two runs of 512, a tree 10 layers high
    { path: 'm1.bin', data: bytes(6 * BLOCK, 2) }, // one run of 8 (the whole padded row)
    { path: 'm2.bin', data: bytes(2 * BLOCK + 1, 3) },
    { path: 'm3.bin', data: bytes(3 * BLOCK, 4) },
    { path: 'copy-of-m1.bin', data: bytes(6 * BLOCK, 2) }, // same pieces root: asked once
    { path: 'tiny.txt', data: bytes(1000, 5) }, // one piece: no layer
  ],
  BLOCK,
);
const fileOf = (name: string): TorrentFile => fx.meta.files.find((f) => f.path.join('/') === name)!;
const rootHex = (name: string): string => fileOf(name).piecesRoot!.toString('hex');
const seeder = new HashServer(fx.meta, () => fx.meta.pieceLayers);

function answer(req: LayerRequest): Buffer {
  const a = seeder.answer(req);
  if (a.kind !== 'hashes') throw new Error(`rejected: ${a.why}`);
  return a.hashes;
}

const split = (hashes: Buffer): Buffer[] => {
  const out: Buffer[] = [];
  for (let o = 0; o < hashes.length; o += MERKLE_HASH_BYTES) out.push(hashes.subarray(o, o + MERKLE_HASH_BYTES));
  return out;
};

describe('PieceLayerFetcher', () => {
  it('asks every layer a file of more than one piece needs, in runs of at most 512 with a full proof, at most 4 in flight per peer', () => {
    const f = new PieceLayerFetcher(fx.bare);
    expect(f.missingLayers).toBe(4); // big, m1 (its copy shares the root), m2, m3; not tiny
    const first = f.requestsFor(1, 0);
    expect(first).toHaveLength(MAX_REQUESTS_PER_PEER);
    expect(f.requestsFor(1, 0)).toEqual([]); // its bound is reached
    const second = f.requestsFor(2, 0);
    expect(second).toHaveLength(1); // five runs in all
    expect(f.requestsFor(3, 0)).toEqual([]);
    const all = [...first, ...second];
    const big = all.filter((r) => r.piecesRoot.toString('hex') === rootHex('big.bin'));
    expect(big.map((r) => [r.baseLayer, r.index, r.length, r.proofLayers])).toEqual([
      [0, 0, HASHES_PER_REQUEST, 9],
      [0, 512, HASHES_PER_REQUEST, 9],
    ]);
    const m1 = all.find((r) => r.piecesRoot.toString('hex') === rootHex('m1.bin'))!;
    expect([m1.index, m1.length, m1.proofLayers]).toEqual([0, 8, 2]); // the whole row: no uncle needed
    expect(all.some((r) => r.piecesRoot.equals(fileOf('tiny.txt').piecesRoot!))).toBe(false);
    expect(f.inFlightTo(1)).toBe(4);
  });

  it("a seeder's answers verify run by run and fill every layer, equal to the .torrent's", () => {
    const f = new PieceLayerFetcher(fx.bare);
    const done: string[] = [];
    for (let round = 0; round < 5 && !f.complete; round++) {
      for (const req of f.requestsFor(1, 0)) {
        const out = f.onHashes(1, { ...req, hashes: answer(req) });
        expect(out.kind).toBe('verified');
        if (out.kind === 'verified' && out.layerDone) done.push(out.layerDone.path.join('/'));
      }
    }
    expect(f.complete).toBe(true);
    expect(done.sort()).toEqual(['big.bin', 'copy-of-m1.bin', 'm2.bin', 'm3.bin']); // the first file of a shared root
    expect(f.layers.size).toBe(fx.meta.pieceLayers.size);
    for (const [root, layer] of fx.meta.pieceLayers) expect(f.layers.get(root)!.equals(layer), root).toBe(true);
  });

  it('a reply that does not hash up to the pieces root is a ProtocolError; the run is asked of another peer', () => {
    const f = new PieceLayerFetcher(fx.bare);
    const [req] = f.requestsFor(1, 0);
    const lie = Buffer.from(answer(req!));
    lie[5 * MERKLE_HASH_BYTES]! ^= 1;
    expect(() => f.onHashes(1, { ...req!, hashes: lie })).toThrow(ProtocolError);
    expect(f.inFlightTo(1)).toBe(MAX_REQUESTS_PER_PEER - 1);
    f.peerGone(1); // the session drops the liar
    const again = f.requestsFor(2, 0);
    expect(again.some((r) => r.index === req!.index && r.piecesRoot.equals(req!.piecesRoot))).toBe(true);
    // A short proof (uncles left out) cannot be checked: also a lie.
    const bigRun = again.find((r) => r.length === HASHES_PER_REQUEST)!;
    const short = answer(bigRun).subarray(0, HASHES_PER_REQUEST * MERKLE_HASH_BYTES);
    expect(() => f.onHashes(2, { ...bigRun, hashes: short })).toThrow(/do not hash up to its pieces root/);
    expect(f.layers.size).toBe(0);
  });

  it('a reject or a timeout sends the run to another peer; that peer is asked it again only after REFUSED_RETRY_MS', () => {
    const f = new PieceLayerFetcher(fx.bare);
    const same = (x: LayerRequest) => (r: LayerRequest): boolean => r.index === x.index && r.piecesRoot.equals(x.piecesRoot);
    const mine = f.requestsFor(1, 0);
    const refused = mine[0]!;
    expect(f.onReject(1, refused, 1000)).toBe(true);
    expect(f.inFlightTo(1)).toBe(3);
    // Peer 1 has room again, but not for the run it refused; peer 2 gets that one.
    expect(f.requestsFor(1, 2000).some(same(refused))).toBe(false);
    expect(f.requestsFor(2, 2000).some(same(refused))).toBe(true);
    // Runs unanswered for HASH_REQUEST_TIMEOUT_MS are freed and their peers named.
    expect(f.expire(HASH_REQUEST_TIMEOUT_MS - 1)).toEqual([]);
    expect(f.expire(HASH_REQUEST_TIMEOUT_MS)).toEqual([1]); // the three asked at 0
    expect(f.expire(2000 + HASH_REQUEST_TIMEOUT_MS).sort()).toEqual([1, 2]); // those asked at 2000
    expect(f.inFlightTo(1) + f.inFlightTo(2)).toBe(0);
    // Peer 2 takes the runs peer 1 sat on, not the one it sat on itself…
    const t = 2000 + HASH_REQUEST_TIMEOUT_MS + 1;
    const toTwo = f.requestsFor(2, t);
    expect(toTwo.length).toBeGreaterThan(0);
    expect(toTwo.some(same(refused))).toBe(false);
    // …until its retry time has passed.
    f.peerGone(2);
    expect(f.requestsFor(1, 1000 + REFUSED_RETRY_MS).some(same(refused))).toBe(true);
  });

  it('any bytes as a reply to a request throw only ProtocolError, and never count as verified', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 12 }), fc.nat(), (which, extra, seed) => {
        const f = new PieceLayerFetcher(fx.bare);
        const req = f.requestsFor(1, 0)[which % 4]!;
        const hashes = bytes((req.length + Math.min(extra, req.proofLayers)) * MERKLE_HASH_BYTES, seed + 1);
        try {
          f.onHashes(1, { ...req, hashes });
          return false; // random hashes never hash up to a real root
        } catch (e) {
          return e instanceof ProtocolError && f.layers.size === 0;
        }
      }),
      { numRuns: 200 },
    );
  });

  it('answers nobody asked for are ignored (a late reply to a request that timed out)', () => {
    const f = new PieceLayerFetcher(fx.bare);
    const [req] = f.requestsFor(1, 0);
    expect(f.onHashes(2, { ...req!, hashes: answer(req!) })).toEqual({ kind: 'ignored' });
    expect(f.onReject(2, req!, 0)).toBe(false);
    f.expire(HASH_REQUEST_TIMEOUT_MS);
    expect(f.onHashes(1, { ...req!, hashes: answer(req!) })).toEqual({ kind: 'ignored' });
  });

  it('layers already at hand (an interrupted download) are used when they hash to their root; a wrong one is fetched', () => {
    expect(new PieceLayerFetcher(fx.bare, fx.meta.pieceLayers).complete).toBe(true);
    const wrong = new Map(fx.meta.pieceLayers);
    const layer = Buffer.from(wrong.get(rootHex('m2.bin'))!);
    layer[0]! ^= 1;
    wrong.set(rootHex('m2.bin'), layer);
    const f = new PieceLayerFetcher(fx.bare, wrong);
    expect(f.missingLayers).toBe(1);
    expect(f.requestsFor(1, 0).map((r) => r.piecesRoot.toString('hex'))).toEqual([rootHex('m2.bin')]);
  });
});

describe('HashServer', () => {
  // 64 KiB pieces: the piece layer is layer 2; a file of 20 pieces (80 blocks, 128 leaves: 7 layers).
  const wide = v2Fixture('w', [{ path: 'a.bin', data: bytes(20 * 4 * BLOCK - 7, 9) }, { path: 'b.bin', data: bytes(3000, 8) }], 4 * BLOCK);
  const a = wide.meta.files.find((f) => f.path.join('/') === 'a.bin')!;
  const b = wide.meta.files.find((f) => f.path.join('/') === 'b.bin')!;
  const server = new HashServer(wide.meta, () => wide.meta.pieceLayers);
  const req = (over: Partial<LayerRequest>): LayerRequest => ({ piecesRoot: a.piecesRoot!, baseLayer: 2, index: 0, length: 8, proofLayers: 4, ...over });

  it('rejects what it cannot answer or what does not fit the file', () => {
    const why = (r: LayerRequest): string => {
      const x = server.answer(r);
      return x.kind === 'reject' ? x.why : 'answered';
    };
    expect(why(req({ piecesRoot: Buffer.alloc(32, 7) }))).toMatch(/no file of this torrent/);
    expect(why(req({ baseLayer: 0, length: 16 }))).toMatch(/below the piece layer/);
    expect(why(req({ index: 32, length: 8 }))).toMatch(/beyond the 32 nodes/);
    expect(why(req({ piecesRoot: b.piecesRoot!, baseLayer: 0, length: 1, proofLayers: 0 }))).toMatch(/one piece has no piece layer/);
    const empty = new HashServer(wide.meta, () => new Map());
    const x = empty.answer(req({}));
    expect(x.kind === 'reject' && x.why).toMatch(/not known yet/);
  });

  it('answers a run with the uncles up to the root; every answer verifies against the pieces root', () => {
    for (const [baseLayer, index, length] of [
      [2, 0, 8],
      [2, 16, 16],
      [2, 24, 2],
      [3, 8, 4],
      [2, 0, 32],
    ] as const) {
      const r = req({ baseLayer, index, length, proofLayers: 7 - baseLayer - 1 });
      const x = server.answer(r);
      if (x.kind !== 'hashes') throw new Error(x.why);
      const hs = split(x.hashes);
      expect(hs.length, `${baseLayer}/${index}/${length}`).toBe(length + (7 - baseLayer - Math.log2(length)));
      expect(verifyHashRun(a.piecesRoot!, blockCount(a.length), baseLayer, index, hs.slice(0, length), hs.slice(length))).toBe(true);
    }
  });

  it('counts uncles as libtorrent 2.0.8 sends them (a 10-layer tree, base layer 0)', () => {
    // Measured against a libtorrent seeder of a 550-block file: proof layers 9 with 512 hashes
    // gives 1 uncle, with 2 hashes 9 uncles; proof layers 2 with 512 hashes gives none.
    const big = fileOf('big.bin');
    const count = (length: number, proofLayers: number): number => split(answer({ piecesRoot: big.piecesRoot!, baseLayer: 0, index: 0, length, proofLayers })).length;
    expect(count(512, 9)).toBe(513);
    expect(count(2, 9)).toBe(11);
    expect(count(2, 1)).toBe(3);
    expect(count(512, 2)).toBe(512);
  });
});

/**
 * v2 magnets (BEP 52 `btmh`) as one session on a fake clock, peers in memory: the metadata is
 * checked against the SHA-256 info hash, the piece layers come from peers' `hashes` answers to
 * our hash requests, and no piece is asked for before every layer is verified. A peer whose
 * hashes do not hash up to the pieces root is banned while the download finishes from an honest
 * one; hash requests are answered while leeching, and a flood of them ends the flooder's
 * connection only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { blockCount, parseMagnet, verifyHashRun } from '../../src/metainfo/index.js';
import { HashServer } from '../../src/session/piece-layers.js';
import { decodeHashMessage, encodeHashMessage, type HashMessage, type Message } from '../../src/wire/index.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { bytes } from '../helpers/make-torrent.js';
import { v2Fixture } from '../helpers/v2-fixture.js';
import { ScriptedMemoryPeer, startHarness, storedBytes, type Harness, type PeerIo } from './harness.js';

const BLOCK = 16 * 1024;
const fx = v2Fixture(
  'album',
  [
    { path: 'big.bin', data: bytes(40 * BLOCK - 3, 21) }, // 40 pieces: one run of 64
    { path: 'mid.bin', data: bytes(5 * BLOCK + 9, 22) }, // 6 pieces: one run of 8
    { path: 'tiny.txt', data: bytes(700, 23) }, // one piece: no layer
  ],
  BLOCK,
);
const RUNS = 2;
const HONEST = '10.0.0.1:6881';
const LIAR = '10.0.0.2:6881';

let h: Harness | null = null;
const dirs: string[] = [];
afterEach(async () => {
  await h?.session.stop();
  h = null;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const asHash = (m: Message): HashMessage | null =>
  m.type === 'unknown' && m.id >= 21 && m.id <= 23 ? decodeHashMessage(Buffer.concat([Buffer.from([m.id]), m.payload])) : null;
const sendHash = (io: PeerIo, m: HashMessage): void => {
  const frame = encodeHashMessage(m);
  io.send({ type: 'unknown', id: frame[4]!, payload: frame.subarray(5) });
};

/** Answers hash requests from the real layers; each run is refused the first time it is asked (so a liar gets asked too). */
function honestHashes(clock: FakeClock, log: { answered: number; requestsBeforeLayers: number | null }): (m: Message, io: PeerIo) => boolean {
  const server = new HashServer(fx.meta, () => fx.meta.pieceLayers);
  const refusedOnce = new Set<string>();
  void clock;
  return (m, io) => {
    if (m.type === 'request' && log.requestsBeforeLayers === null) log.requestsBeforeLayers = log.answered;
    const h = asHash(m);
    if (!h || h.type !== 'hash-request') return false;
    const key = `${h.piecesRoot.toString('hex')}/${h.index}`;
    if (!refusedOnce.has(key)) {
      refusedOnce.add(key);
      sendHash(io, { ...h, type: 'hash-reject' });
      return true;
    }
    const a = server.answer(h);
    if (a.kind === 'hashes') {
      log.answered++;
      sendHash(io, { ...h, type: 'hashes', hashes: a.hashes });
    } else sendHash(io, { ...h, type: 'hash-reject' });
    return true;
  };
}

/** Answers every hash request at once with hashes of the right count that hash up to nothing. */
function lyingHashes(log: { lies: number }): (m: Message, io: PeerIo) => boolean {
  const server = new HashServer(fx.meta, () => fx.meta.pieceLayers);
  return (m, io) => {
    const h = asHash(m);
    if (!h || h.type !== 'hash-request') return false;
    const a = server.answer(h);
    if (a.kind !== 'hashes') return false;
    const lie = Buffer.from(a.hashes);
    lie[0]! ^= 0xff;
    log.lies++;
    sendHash(io, { ...h, type: 'hashes', hashes: lie });
    return true;
  };
}

describe('v2 magnet session', () => {
  it('fetches metadata and piece layers, bans the peer whose hashes do not verify, and downloads from the honest one', async () => {
    const clock = new FakeClock();
    const honestLog = { answered: 0, requestsBeforeLayers: null as number | null };
    const liarLog = { lies: 0 };
    const honest = new ScriptedMemoryPeer(fx, 'honest', clock, { serveMetadata: true, onMessage: honestHashes(clock, honestLog) });
    const liar = new ScriptedMemoryPeer(fx, 'honest', clock, { serveMetadata: true, onMessage: lyingHashes(liarLog) });
    const magnet = parseMagnet(fx.magnet);
    expect(magnet.infoHash).toBeNull();
    h = await startHarness(fx, { [HONEST]: honest, [LIAR]: liar }, { input: { kind: 'magnet', magnet } }, clock);
    const x = h;
    expect(x.session.infoHash.equals(fx.meta.infoHashV2!.subarray(0, 20))).toBe(true);
    expect(await x.runUntil(() => x.session.lifecycle.kind === 'stopped', 120_000)).toBe(true);
    expect(x.session.lifecycle).toEqual({ kind: 'stopped', reason: 'done' });
    expect((await storedBytes(x.store!, fx.meta.pieceCount)).equals(fx.data)).toBe(true);
    // The liar was asked, lied, and was banned; the honest peer gave every layer.
    expect(liarLog.lies).toBeGreaterThan(0);
    expect(x.closedReasons(LIAR).some((r) => r.startsWith('bad-data') && /do not hash up to its pieces root/.test(r))).toBe(true);
    expect(x.events.some((e) => e.type === 'warning' && /10\.0\.0\.2:6881 sent piece-layer hashes .* banned/.test(e.message))).toBe(true);
    expect(x.closedReasons(HONEST).filter((r) => !r.startsWith('shutdown'))).toEqual([]);
    expect(honestLog.answered).toBe(RUNS);
    // No block was asked for before every layer was verified.
    expect(honestLog.requestsBeforeLayers).toBe(RUNS);
    expect(liar.log.requests).toEqual([]);
    // The metadata event carries the .torrent with its layers: what the .torrent itself holds.
    const md = x.events.find((e) => e.type === 'metadata');
    expect(md && md.type === 'metadata' && md.meta.pieceLayers.size).toBe(fx.meta.pieceLayers.size);
    if (md?.type === 'metadata') for (const [k, v] of fx.meta.pieceLayers) expect(md.meta.pieceLayers.get(k)!.equals(v)).toBe(true);
  });

  it('a hybrid magnet whose peers do not speak v2 goes on at once, its pieces checked by SHA-1', async () => {
    const hy = v2Fixture('hy', [{ path: 'big.bin', data: bytes(40 * BLOCK - 3, 31) }, { path: 'tiny.txt', data: bytes(700, 32) }], BLOCK, 'hybrid');
    const clock = new FakeClock();
    // Its handshake names the v1 info hash and it never upgrades: no hash request is sent to it.
    const v1Only = new ScriptedMemoryPeer(hy, 'honest', clock, { serveMetadata: true, onMessage: (m) => { if (asHash(m)) throw new Error('asked a v1 peer for hashes'); return false; } });
    h = await startHarness(hy, { [HONEST]: v1Only }, { input: { kind: 'magnet', magnet: parseMagnet(hy.magnet) } }, clock);
    const x = h;
    expect(await x.runUntil(() => x.session.lifecycle.kind === 'stopped', 10_000)).toBe(true);
    expect(x.session.lifecycle).toEqual({ kind: 'stopped', reason: 'done' });
    expect((await storedBytes(x.store!, hy.meta.pieceCount)).equals(hy.data)).toBe(true);
    expect(x.events.some((e) => e.type === 'warning' && /no piece layers for 1 file\(s\) from peers: their pieces are checked by SHA-1 only/.test(e.message))).toBe(true);
    expect(x.closedReasons(HONEST).filter((r) => !r.startsWith('shutdown'))).toEqual([]);
  });

  it('with --timeout and no peer serving the layers it fails saying so', async () => {
    const clock = new FakeClock();
    const mute = new ScriptedMemoryPeer(fx, 'honest', clock, { serveMetadata: true, onMessage: (m) => asHash(m) !== null });
    h = await startHarness(fx, { [HONEST]: mute }, { input: { kind: 'magnet', magnet: parseMagnet(fx.magnet) }, timeoutMs: 60_000 }, clock);
    const x = h;
    expect(await x.runUntil(() => x.session.lifecycle.kind === 'failed', 120_000)).toBe(true);
    const life = x.session.lifecycle;
    expect(life.kind === 'failed' && life.error.message).toMatch(/no piece layers \(BEP 52 hash requests\) for 2 file\(s\) from 1 connected v2 peer/);
    expect(mute.log.requests).toEqual([]);
  });

  it('keeps the verified metadata and layers in the cache: a resumed magnet needs no peer that serves them', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'v2m-cache-'));
    dirs.push(cacheDir);
    const clock = new FakeClock();
    const honestLog = { answered: 0, requestsBeforeLayers: null as number | null };
    // First run: stopped as soon as the download starts, after the layers came.
    const first = new ScriptedMemoryPeer(fx, 'silent', clock, { serveMetadata: true, onMessage: honestHashes(clock, honestLog) });
    h = await startHarness(fx, { [HONEST]: first }, { input: { kind: 'magnet', magnet: parseMagnet(fx.magnet) }, cacheDir }, clock);
    const x = h;
    expect(await x.runUntil(() => x.session.lifecycle.kind === 'downloading', 120_000)).toBe(true);
    await x.session.stop();
    // Second run: this peer serves neither metadata nor hashes, only data.
    const clock2 = new FakeClock();
    const dataOnly = new ScriptedMemoryPeer(fx, 'honest', clock2, { onMessage: (m) => asHash(m) !== null });
    h = await startHarness(fx, { [LIAR]: dataOnly }, { input: { kind: 'magnet', magnet: parseMagnet(fx.magnet) }, cacheDir }, clock2);
    const y = h;
    expect(await y.runUntil(() => y.session.lifecycle.kind === 'stopped', 60_000)).toBe(true);
    expect(y.session.lifecycle).toEqual({ kind: 'stopped', reason: 'done' });
    expect((await storedBytes(y.store!, fx.meta.pieceCount)).equals(fx.data)).toBe(true);
    expect(dataOnly.log.metadataServed).toBe(0);
  });
});

describe('serving hash requests', () => {
  it('answers while leeching with hashes that verify, rejects what does not fit, and ends a flood', async () => {
    const clock = new FakeClock();
    const got: HashMessage[] = [];
    const big = fx.meta.files.find((f) => f.path.join('/') === 'big.bin')!;
    const asker = new ScriptedMemoryPeer(fx, 'honest', clock, {
      afterHandshake: (io) => {
        io.send({ type: 'have-none' });
        sendHash(io, { type: 'hash-request', piecesRoot: big.piecesRoot!, baseLayer: 0, index: 0, length: 16, proofLayers: 5 });
        sendHash(io, { type: 'hash-request', piecesRoot: big.piecesRoot!, baseLayer: 0, index: 64, length: 16, proofLayers: 5 });
        sendHash(io, { type: 'hash-request', piecesRoot: Buffer.alloc(32, 9), baseLayer: 0, index: 0, length: 2, proofLayers: 0 });
      },
      fast: true,
      onMessage: (m) => {
        const x = asHash(m);
        if (x) got.push(x);
        return x !== null;
      },
    });
    const flooder = new ScriptedMemoryPeer(fx, 'honest', clock, {
      fast: true,
      afterHandshake: (io) => {
        io.send({ type: 'have-none' });
        for (let i = 0; i < 100; i++) sendHash(io, { type: 'hash-request', piecesRoot: big.piecesRoot!, baseLayer: 0, index: 0, length: 2, proofLayers: 0 });
      },
    });
    h = await startHarness(fx, { [HONEST]: asker, [LIAR]: flooder }, { input: { kind: 'torrent', meta: fx.meta } }, clock);
    const x = h;
    expect(await x.runUntil(() => got.length >= 3 && x.closedReasons(LIAR).length > 0, 10_000)).toBe(true);
    const [a, b, c] = got;
    expect(a!.type).toBe('hashes');
    if (a!.type === 'hashes') {
      const hs: Buffer[] = [];
      for (let o = 0; o < a!.hashes.length; o += 32) hs.push(a!.hashes.subarray(o, o + 32));
      expect(hs).toHaveLength(16 + 2); // 64 leaves: run top at layer 4, uncles at 4 and 5
      expect(verifyHashRun(big.piecesRoot!, blockCount(big.length), 0, 0, hs.slice(0, 16), hs.slice(16))).toBe(true);
    }
    expect(b!.type).toBe('hash-reject'); // index 64 is beyond the 64 leaves
    expect(c!.type).toBe('hash-reject'); // no such file
    expect(x.closedReasons(LIAR).some((r) => /flooding: more than 64 hash requests in a second/.test(r))).toBe(true);
    expect(x.closedReasons(HONEST)).toEqual([]);
  });
});

/**
 * The session on a fake clock with in-memory peers: the hostile-peer cases run in milliseconds
 * and assert what the session did (banned, re-requested elsewhere, snubbed), not only that the
 * download finished.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, ScriptedMemoryPeer, startHarness, storedBytes, type Behaviour, type Harness } from './harness.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { MAX_FRESH_QUEUE } from '../../src/session/request-scheduler.js';
import { Bitfield } from '../../src/util/bitfield.js';

// 2 MiB: more blocks than a fresh queue (MAX_FRESH_QUEUE with two peers), so a peer's first requests never cover the torrent.
const fx = fixture(2 * 1024 * 1024, 64 * 1024);
const HONEST = '10.0.0.1:6881';
const OTHER = '10.0.0.2:6881';

let h: Harness | null = null;
afterEach(async () => {
  await h?.session.stop();
  h = null;
});

async function withPeers(spec: Record<string, Behaviour>, opts: { badPieces?: number[] } = {}): Promise<{ h: Harness; peers: Record<string, ScriptedMemoryPeer> }> {
  const clock = new FakeClock();
  const peers: Record<string, ScriptedMemoryPeer> = {};
  for (const [addr, b] of Object.entries(spec)) peers[addr] = new ScriptedMemoryPeer(fx, b, clock, opts);
  h = await startHarness(fx, peers, {}, clock);
  return { h, peers };
}

const done = (x: Harness) => (): boolean => x.session.lifecycle.kind === 'stopped';

async function expectComplete(x: Harness): Promise<void> {
  expect(await x.runUntil(done(x), 120_000)).toBe(true);
  expect(x.session.lifecycle).toEqual({ kind: 'stopped', reason: 'done' });
  expect((await storedBytes(x.store!, fx.meta.pieceCount)).equals(fx.data)).toBe(true);
}

describe('session download (fake clock, in-memory peers)', () => {
  it('downloads every piece from one honest peer and stops done', async () => {
    const { h } = await withPeers({ [HONEST]: 'honest' });
    await expectComplete(h);
    expect(h.events.filter((e) => e.type === 'state').map((e) => (e as { state: string }).state)).toEqual(['checking', 'downloading', 'stopped']);
    expect(h.session.stats().verifiedBytes).toBe(fx.data.length);
  });

  it('tells a peer about each new piece, except a peer that has it (a seed hears no haves)', async () => {
    const clock = new FakeClock();
    const seed = new ScriptedMemoryPeer(fx, 'honest', clock);
    const empty = new ScriptedMemoryPeer(fx, 'honest', clock, { has: new Bitfield(fx.meta.pieceCount) });
    h = await startHarness(fx, { [HONEST]: seed, [OTHER]: empty }, {}, clock);
    await expectComplete(h);
    expect(seed.log.received.get('have') ?? 0).toBe(0);
    expect(empty.log.received.get('have') ?? 0).toBeGreaterThan(0);
  });

  it('a peer with the wrong info hash is closed, banned and never dialled again', async () => {
    const { h } = await withPeers({ [OTHER]: 'wrong-info-hash', [HONEST]: 'honest' });
    await expectComplete(h);
    expect(h.closedReasons(OTHER)[0]).toMatch(/^wrong-info-hash/);
    expect(h.dialled.filter((a) => a === OTHER)).toHaveLength(1);
  });

  it('a giant length prefix is a protocol error for that peer only', async () => {
    const { h } = await withPeers({ [OTHER]: 'huge-length-prefix', [HONEST]: 'honest' });
    await expectComplete(h);
    expect(h.closedReasons(OTHER)[0]).toMatch(/^protocol-error/);
  });

  it('a peer that sends bad data is banned after its piece fails, and the piece comes from another', async () => {
    const { h, peers } = await withPeers({ [OTHER]: 'bad-data', [HONEST]: 'honest' });
    await expectComplete(h);
    expect(peers[OTHER]!.log.blocksSent).toBeGreaterThan(0);
    expect(h.closedReasons(OTHER).some((r) => r.startsWith('bad-data'))).toBe(true);
    expect(h.events.some((e) => e.type === 'warning' && /failed its hash check/.test(e.message))).toBe(true);
    // Banned: dialled once, never again, although its backoff would long have passed.
    expect(h.dialled.filter((a) => a === OTHER)).toHaveLength(1);
  });

  it('a handshake trickled one byte a second does not extend the handshake deadline', async () => {
    const { h } = await withPeers({ [OTHER]: 'trickle' });
    expect(await h.runUntil(() => h.closedReasons(OTHER).length > 0, 60_000)).toBe(true);
    expect(h.closedReasons(OTHER)[0]).toMatch(/^handshake-timeout/);
    // Closed at the 15 s deadline, with 15 of the handshake's 68 bytes sent by then.
    expect(h.clock.now() - 1_000_000).toBeLessThanOrEqual(16_000);
  });

  it('a peer that disconnects mid-block loses its requests to the honest peer', async () => {
    const { h, peers } = await withPeers({ [OTHER]: 'disconnect-mid-block', [HONEST]: 'honest' });
    await expectComplete(h);
    expect(h.closedReasons(OTHER)[0]).toMatch(/^remote-closed/);
    const first = peers[OTHER]!.log.requests[0]!;
    expect(peers[HONEST]!.log.requests).toContain(first);
  });

  it('a block nobody asked for closes that connection', async () => {
    const { h } = await withPeers({ [OTHER]: 'unrequested-piece', [HONEST]: 'honest' });
    await expectComplete(h);
    expect(h.closedReasons(OTHER)[0]).toMatch(/^protocol-error: sent piece 0 offset 0 that was never requested/);
  });

  it('a have flood changes nothing', async () => {
    const { h } = await withPeers({ [OTHER]: 'have-flood' });
    await expectComplete(h);
    expect(h.closedReasons(OTHER)).toEqual(['shutdown']);
  });

  it('requests a silent peer never answers time out, the peer is snubbed, the honest one gets them', async () => {
    const { h, peers } = await withPeers({ [OTHER]: 'silent', [HONEST]: 'honest' });
    await expectComplete(h);
    const silent = peers[OTHER]!.log.requests;
    expect(silent.length).toBeGreaterThan(0);
    for (const r of silent) expect(peers[HONEST]!.log.requests).toContain(r);
    // It delivered nothing, so its queue never grew past a fresh one (the honest peer's did).
    expect(silent.length).toBeLessThanOrEqual(MAX_FRESH_QUEUE);
    expect(peers[HONEST]!.log.requests.length).toBeGreaterThan(MAX_FRESH_QUEUE);
  });

  it('a peer flooding unchokes and chokes (and never reading) is dropped as a flood, long before the flood ends', async () => {
    const { h, peers } = await withPeers({ [OTHER]: 'never-reads' });
    expect(await h.runUntil(() => h.closedReasons(OTHER).length > 0, 10_000, 100)).toBe(true);
    expect(h.closedReasons(OTHER)[0]).toMatch(/^protocol-error: flooding: more than 50/);
    expect(peers[OTHER]!.log.connections).toBe(1);
  });

  it('requests a peer does not answer in time are cancelled and the peer is snubbed', async () => {
    const { h, peers } = await withPeers({ [OTHER]: 'silent' });
    await h.runUntil(() => peers[OTHER]!.log.requests.length > 0, 5_000);
    const first = peers[OTHER]!.log.requests.length;
    expect(first).toBeGreaterThan(1);
    // After the request timeout every request is cancelled; snubbed, it gets one at a time.
    expect(await h.runUntil(() => (peers[OTHER]!.log.received.get('cancel') ?? 0) >= first, 20_000)).toBe(true);
    await h.clock.advance(2_000);
    expect(peers[OTHER]!.log.requests.length - first).toBeLessThanOrEqual(1);
  });
});

describe('session faults', () => {
  it('a disk that refuses writes fails the session at once with ERR_DISK, nothing counted as verified', async () => {
    const clock = new FakeClock();
    const peers = { [HONEST]: new ScriptedMemoryPeer(fx, 'honest', clock) };
    const x = await startHarness(fx, peers, {}, clock);
    h = x;
    // Swap in a store whose writes fail as a full disk does.
    const store = x.store!;
    store.writePiece = () => Promise.reject(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }));
    expect(await x.runUntil(() => x.session.lifecycle.kind === 'failed', 5_000)).toBe(true);
    const end = x.session.lifecycle;
    expect(end.kind === 'failed' && end.error.code).toBe('ERR_DISK');
    expect(x.session.stats().verifiedBytes).toBe(0);
  });

  it('an exception inside the engine is an internal error, not the peer’s fault', async () => {
    const clock = new FakeClock();
    const peers = { [HONEST]: new ScriptedMemoryPeer(fx, 'honest', clock) };
    const x = await startHarness(fx, peers, {}, clock);
    h = x;
    // A bug planted in the picker: the first pick throws.
    const t = (x.session as unknown as { t: { picker: { pick: () => never } } }).t;
    t.picker.pick = () => {
      throw new TypeError('planted bug');
    };
    expect(await x.runUntil(() => x.session.lifecycle.kind === 'failed', 5_000)).toBe(true);
    const end = x.session.lifecycle;
    expect(end.kind === 'failed' && end.error.code).toBe('ERR_INTERNAL');
    expect(x.closedReasons(HONEST).some((r) => r.startsWith('protocol-error'))).toBe(false);
  });
});

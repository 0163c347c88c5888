/**
 * Interest and slow writes, in the session on a fake clock with in-memory peers: a peer whose
 * bitfield arrives while verified pieces are still being written counts them once, so it stays
 * interesting until the last piece is in (counted against the picker at the bitfield, then
 * discounted again when the write ended, it went not-interested one piece early and the
 * download stalled; seen as a rare hang of the hostile-peers integration test).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { SessionOptions } from '../../src/session/index.js';
import { MemoryStorage } from '../../src/storage/memory-storage.js';
import { Bitfield } from '../../src/util/bitfield.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { fixture, ScriptedMemoryPeer, startHarness, storedBytes, type Harness, type PeerIo } from './harness.js';

const fx = fixture(512 * 1024, 64 * 1024, 9);
const A = '10.0.0.1:6881';
const B = '10.0.0.2:6881';

let h: Harness | null = null;
afterEach(async () => {
  await h?.session.stop();
  h = null;
});

describe('interest while pieces are being written', () => {
  it('a peer whose bitfield comes while a verified piece waits for its write still gets every piece asked of it', async () => {
    const clock = new FakeClock();
    // Writes wait until released: the piece stays verified and unwritten meanwhile.
    const held: (() => void)[] = [];
    let store: MemoryStorage | null = null;
    const openStorage: SessionOptions['openStorage'] = (meta) => {
      const s = new MemoryStorage((p) => (p === meta.pieceCount - 1 ? meta.totalLength - meta.pieceLength * (meta.pieceCount - 1) : meta.pieceLength));
      const write = s.writePiece.bind(s);
      s.writePiece = (piece, blocks) => new Promise<void>((resolve) => held.push(() => void write(piece, blocks).then(resolve)));
      s.close = () => Promise.resolve();
      store = s;
      return { store: s, disk: null };
    };
    // A has piece 0 only; B has everything but says so only when told.
    const onlyFirst = new Bitfield(fx.meta.pieceCount);
    onlyFirst.set(0);
    let bIo: PeerIo | null = null;
    const last = fx.meta.pieceCount - 1;
    const ignored = new Set<number>();
    const peers = {
      [A]: new ScriptedMemoryPeer(fx, 'honest', clock, { has: onlyFirst }),
      // B also lets the first request for each block of the last piece go unanswered: it must be
      // asked again after the request times out, which only a peer still interesting is.
      [B]: new ScriptedMemoryPeer(fx, 'honest', clock, {
        afterHandshake: (io) => (bIo = io),
        onMessage: (m) => m.type === 'request' && m.index === last && !ignored.has(m.begin) && ignored.add(m.begin) !== undefined,
      }),
    };
    h = await startHarness(fx, peers, { openStorage }, clock);
    // Piece 0 comes from A and is verified; its write is held.
    expect(await h.runUntil(() => held.length === 1, 10_000)).toBe(true);
    // Now B's bitfield: it has 7 pieces we lack.
    bIo!.send({ type: 'bitfield', bitfield: Bitfield.full(fx.meta.pieceCount).buffer });
    // Every write goes through from now on.
    // B's bitfield is taken in (we tell it we are interested) while piece 0's write is still held.
    expect(await h.runUntil(() => (peers[B].log.received.get('interested') ?? 0) > 0, 10_000)).toBe(true);
    const release = (): boolean => {
      for (const r of held.splice(0)) r();
      return h!.session.lifecycle.kind === 'stopped';
    };
    expect(await h.runUntil(release, 60_000)).toBe(true);
    expect((await storedBytes(store!, fx.meta.pieceCount)).equals(fx.data)).toBe(true);
    expect(ignored.size).toBeGreaterThan(0);
  });
});

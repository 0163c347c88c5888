/**
 * Redialling a peer whose connection was cut while it delivered, on a fake clock: at once when
 * the connection had lived CUT_REDIAL_LIFE_MS, else RETRY_CUT_MS after the cut, and in both cases
 * when the backoff ends rather than at the session's next one-second tick (in the swarm bench a
 * link cut every 4 s sat idle ~1.9 s per cut: 1 s of backoff, then up to a tick).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CUT_REDIAL_LIFE_MS, RETRY_CUT_MS } from '../../src/session/peer-set.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { fixture, ScriptedMemoryPeer, startHarness, storedBytes, type Harness } from './harness.js';

const fx = fixture(256 * 1024, 64 * 1024, 5);
const A = '10.0.0.1:6881';

let h: Harness | null = null;
afterEach(async () => {
  await h?.session.stop();
  h = null;
});

/** Serves its first connection's first request `serveAfterMs` after it came, then cuts it; later connections are honest. */
function cutter(clock: FakeClock, serveAfterMs: number): { peer: ScriptedMemoryPeer; cutAt: () => number } {
  let cutAt = -1;
  const peer = new ScriptedMemoryPeer(fx, 'honest', clock, {
    onMessage: (m, io) => {
      if (m.type !== 'request' || peer.log.connections > 1) return false;
      if (cutAt !== -1) return true;
      cutAt = 0;
      clock.setTimeout(() => {
        io.serve(m.index, m.begin, m.length);
        cutAt = clock.now();
        // After the block is delivered: the cut comes while the peer is delivering.
        clock.setTimeout(() => io.close(), 0);
      }, serveAfterMs);
      return true;
    },
  });
  return { peer, cutAt: () => cutAt };
}

async function expectComplete(x: Harness): Promise<void> {
  expect(await x.runUntil(() => x.session.lifecycle.kind === 'stopped', 30_000)).toBe(true);
  expect(x.session.lifecycle).toEqual({ kind: 'stopped', reason: 'done' });
  expect((await storedBytes(x.store!, fx.meta.pieceCount)).equals(fx.data)).toBe(true);
}

describe('redialling a cut peer', () => {
  it('redials at once a peer cut after CUT_REDIAL_LIFE_MS of delivering', async () => {
    const clock = new FakeClock();
    const { peer, cutAt } = cutter(clock, CUT_REDIAL_LIFE_MS + 300);
    h = await startHarness(fx, { [A]: peer }, {}, clock);
    expect(await h.runUntil(() => h!.dialled.length >= 2, 10_000, 50)).toBe(true);
    expect(h.closedReasons(A)[0]).toMatch(/^remote-closed/);
    expect(h.dialledAt[1]! - cutAt()).toBeLessThanOrEqual(50);
    await expectComplete(h);
  });

  it('redials a peer cut sooner RETRY_CUT_MS after the cut, not at the next tick', async () => {
    const clock = new FakeClock();
    // Cut 300 ms after the start: the session's ticks come at 1 s, 2 s..., the backoff ends at 1.3 s.
    const { peer, cutAt } = cutter(clock, 300);
    h = await startHarness(fx, { [A]: peer }, {}, clock);
    expect(await h.runUntil(() => h!.dialled.length >= 2, 10_000, 50)).toBe(true);
    const late = h.dialledAt[1]! - cutAt();
    expect(late).toBeGreaterThanOrEqual(RETRY_CUT_MS);
    expect(late).toBeLessThanOrEqual(RETRY_CUT_MS + 50);
    await expectComplete(h);
  });
});

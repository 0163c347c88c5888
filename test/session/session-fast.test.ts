/**
 * BEP 6 (Fast extension) in the session, against scripted in-memory peers on a fake clock:
 * have-all/have-none, reject-request (the block goes back at once), allowed-fast both ways,
 * suggest, and each hostile use a protocol error for that peer only.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Bitfield } from '../../src/util/bitfield.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { fixture, ScriptedMemoryPeer, startHarness, storedBytes, type Harness, type ScriptOptions } from './harness.js';

const fx = fixture(512 * 1024, 32 * 1024, 5);
const A = '10.0.0.1:6881';
const B = '10.0.0.2:6881';

let h: Harness | null = null;
afterEach(async () => {
  await h?.session.stop();
  h = null;
});

async function run(spec: Record<string, ScriptOptions & { behaviour?: 'honest' | 'silent' }>, over = {}): Promise<{ h: Harness; peers: Record<string, ScriptedMemoryPeer> }> {
  const clock = new FakeClock();
  const peers: Record<string, ScriptedMemoryPeer> = {};
  for (const [addr, o] of Object.entries(spec)) peers[addr] = new ScriptedMemoryPeer(fx, o.behaviour ?? 'honest', clock, { fast: true, ...o });
  h = await startHarness(fx, peers, over, clock);
  return { h, peers };
}

const finished = (x: Harness) => (): boolean => x.session.lifecycle.kind === 'stopped';

describe('BEP 6 in the session', () => {
  it('a have-all peer is a seed: we download everything from it', async () => {
    const { h } = await run({ [A]: { afterHandshake: (io) => io.send({ type: 'have-all' }) } });
    expect(await h.runUntil(finished(h), 30_000)).toBe(true);
    expect((await storedBytes(h.store!, fx.meta.pieceCount)).equals(fx.data)).toBe(true);
  });

  it('have-none then haves: we ask only for what it announced', async () => {
    const { h, peers } = await run({
      [A]: {
        afterHandshake: (io) => {
          io.send({ type: 'have-none' });
          io.send({ type: 'have', index: 3 });
        },
      },
    });
    expect(await h.runUntil(() => peers[A]!.log.requests.length > 0, 5_000)).toBe(true);
    await h.clock.advance(1_000);
    expect(new Set(peers[A]!.log.requests.map((r) => r.split(':')[0]))).toEqual(new Set(['3']));
  });

  it('a rejected request goes back to the picker at once and is asked of another peer', async () => {
    const rejected: string[] = [];
    const { h, peers } = await run({
      [A]: {
        // Rejects every request for piece 0, serves the rest.
        onMessage: (m, io) => {
          if (m.type !== 'request' || m.index !== 0) return false;
          rejected.push(`${m.index}:${m.begin}`);
          io.send({ type: 'reject-request', index: m.index, begin: m.begin, length: m.length });
          return true;
        },
      },
      [B]: {},
    });
    expect(await h.runUntil(finished(h), 30_000)).toBe(true);
    // Well before any request timeout (15 s), the rejected blocks came from B.
    expect(h.clock.now() - 1_000_000).toBeLessThan(15_000);
    for (const r of rejected) expect(peers[B]!.log.requests).toContain(r);
    expect(h.closedReasons(A)).toEqual(['shutdown']);
  });

  it('a reject for a block we never asked for is a protocol error for that peer only', async () => {
    const { h } = await run({
      [A]: {
        afterHandshake: (io) => {
          io.send({ type: 'have-all' });
          io.send({ type: 'reject-request', index: 1, begin: 0, length: 16384 });
        },
      },
      [B]: {},
    });
    expect(await h.runUntil(finished(h), 30_000)).toBe(true);
    expect(h.closedReasons(A)[0]).toMatch(/^protocol-error: rejected piece 1 offset 0/);
  });

  it('allowed-fast pieces are requested while the peer keeps us choked', async () => {
    const { h, peers } = await run({
      [A]: {
        afterHandshake: (io) => {
          io.send({ type: 'have-all' });
          io.send({ type: 'allowed-fast', index: 2 });
          io.send({ type: 'allowed-fast', index: 5 });
        },
        // Never unchokes; serves requests for its allowed-fast pieces only.
        onMessage: (m, io) => {
          if (m.type === 'interested') return true;
          if (m.type === 'request') {
            if (m.index === 2 || m.index === 5) io.serve(m.index, m.begin, m.length);
            return true;
          }
          return false;
        },
      },
    });
    expect(await h.runUntil(() => h.session.stats().verifiedPieces === 2, 10_000)).toBe(true);
    expect(new Set(peers[A]!.log.requests.map((r) => r.split(':')[0]))).toEqual(new Set(['2', '5']));
  });

  it('an allowed-fast set larger than BEP 6 allows is a protocol error', async () => {
    const { h } = await run({
      [A]: {
        afterHandshake: (io) => {
          io.send({ type: 'have-all' });
          for (let i = 0; i < 33; i++) io.send({ type: 'allowed-fast', index: i % fx.meta.pieceCount });
          // Repeats of the same piece are fine; 33 distinct ones are not: the torrent has 16.
        },
      },
      [B]: {},
    });
    expect(await h.runUntil(finished(h), 30_000)).toBe(true);
    expect(h.closedReasons(A)).toEqual(['shutdown']);
  });

  it('have-all followed by a bitfield is a protocol error', async () => {
    const { h } = await run({
      [A]: {
        afterHandshake: (io) => {
          io.send({ type: 'have-all' });
          io.send({ type: 'bitfield', bitfield: Bitfield.full(fx.meta.pieceCount).buffer });
        },
      },
      [B]: {},
    });
    expect(await h.runUntil(finished(h), 30_000)).toBe(true);
    expect(h.closedReasons(A)[0]).toMatch(/^protocol-error: bitfield after have-all/);
  });

  it('have-all from a peer without the fast bit is a protocol error', async () => {
    const { h } = await run({ [A]: { fast: false, afterHandshake: (io) => io.send({ type: 'have-all' }) }, [B]: { fast: false } });
    expect(await h.runUntil(finished(h), 30_000)).toBe(true);
    expect(h.closedReasons(A)[0]).toMatch(/^protocol-error: have-all without the fast extension/);
  });

  it('a suggest is taken as a hint; one for a piece that does not exist is a protocol error', async () => {
    const { h } = await run({
      [A]: {
        afterHandshake: (io) => {
          io.send({ type: 'have-all' });
          io.send({ type: 'suggest-piece', index: 4 });
        },
      },
      [B]: {
        afterHandshake: (io) => {
          io.send({ type: 'have-all' });
          io.send({ type: 'suggest-piece', index: 999 });
        },
      },
    });
    expect(await h.runUntil(finished(h), 30_000)).toBe(true);
    expect(h.closedReasons(A)).toEqual(['shutdown']);
    expect(h.closedReasons(B)[0]).toMatch(/^protocol-error/);
  });

  it('with nothing yet, we greet a fast peer with have-none and reject its requests', async () => {
    const got: string[] = [];
    const { h } = await run({
      [A]: {
        afterHandshake: (io) => io.send({ type: 'have-none' }),
        onMessage: (m, io) => {
          got.push(m.type);
          if (m.type === 'have-none') io.send({ type: 'request', index: 0, begin: 0, length: 16384 });
          return true;
        },
      },
    });
    expect(await h.runUntil(() => got.includes('reject-request'), 5_000)).toBe(true);
    expect(got[0]).toBe('have-none');
    expect(h.closedReasons(A)).toEqual([]);
  });
});

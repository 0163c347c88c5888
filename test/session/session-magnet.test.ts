/**
 * A magnet as one session: the metadata phase and the download share one peer id, one `started`
 * announce, and the connections that served the metadata (no second handshake with them).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseMagnet } from '../../src/metainfo/index.js';
import type { AnnounceRequest, AnnounceResponse, Tracker } from '../../src/tracker/index.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { fixture, ScriptedMemoryPeer, startHarness, storedBytes, type Harness } from './harness.js';

const fx = fixture(512 * 1024, 32 * 1024, 9);
const SEED = '10.0.0.9:51413';

let h: Harness | null = null;
afterEach(async () => {
  await h?.session.stop();
  h = null;
});

function recordingTracker(announces: AnnounceRequest[]): (url: string) => Tracker {
  return (url) => ({
    url,
    announce: (req: AnnounceRequest): Promise<AnnounceResponse> => {
      announces.push(req);
      return Promise.resolve({ peers: [{ ip: '10.0.0.9', port: 51413 }], interval: 1800 });
    },
    scrape: () => Promise.reject(new Error('no scrape')),
    close: () => undefined,
  });
}

describe('magnet session', () => {
  it('fetches the metadata and downloads over the same connection, announcing started once with one peer id', async () => {
    const clock = new FakeClock();
    const seed = new ScriptedMemoryPeer(fx, 'honest', clock, { serveMetadata: true });
    const announces: AnnounceRequest[] = [];
    const magnet = parseMagnet(`magnet:?xt=urn:btih:${fx.meta.infoHash!.toString('hex')}&tr=${encodeURIComponent('http://tracker.invalid/announce')}`);
    h = await startHarness(fx, { [SEED]: seed }, { input: { kind: 'magnet', magnet }, peers: [], createTracker: recordingTracker(announces) }, clock);
    const x = h;
    // The peer that served the metadata is asked for data as soon as the download starts, not a tick later.
    expect(await x.runUntil(() => x.session.lifecycle.kind === 'downloading' || x.session.lifecycle.kind === 'stopped', 60_000, 10)).toBe(true);
    const startedAt = clock.now();
    expect(await x.runUntil(() => seed.log.requests.length > 0, 5_000, 10)).toBe(true);
    expect(clock.now() - startedAt).toBeLessThan(500);
    expect(await x.runUntil(() => x.session.lifecycle.kind === 'stopped', 60_000)).toBe(true);
    expect(x.session.lifecycle).toEqual({ kind: 'stopped', reason: 'done' });
    expect((await storedBytes(x.store!, fx.meta.pieceCount)).equals(fx.data)).toBe(true);
    const states = x.events.filter((e) => e.type === 'state').map((e) => (e as { state: string }).state);
    expect(states).toEqual(['fetching-metadata', 'checking', 'downloading', 'stopped']);
    expect(x.events.some((e) => e.type === 'metadata')).toBe(true);
    // One connection, one handshake: the peer that served the metadata also served the data.
    expect(seed.log.connections).toBe(1);
    expect(seed.log.handshakes).toEqual([x.session.peerId.toString('hex')]);
    expect(seed.log.metadataServed).toBeGreaterThan(0);
    expect(seed.log.blocksSent).toBe(fx.meta.pieceCount * 2);
    // One started, one completed, one stopped: all with the same peer id.
    const events = announces.map((a) => a.event ?? 'regular');
    expect(events.filter((e) => e === 'started')).toHaveLength(1);
    expect(events).toContain('completed');
    expect(new Set(announces.map((a) => a.peerId.toString('hex')))).toEqual(new Set([x.session.peerId.toString('hex')]));
  });
});

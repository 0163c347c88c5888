/**
 * Our tracker clients against webtorrent's bittorrent-tracker Server on loopback, one test body per
 * transport (HTTP, UDP over IPv4, UDP over IPv6): clients see each other, `completed` moves a
 * peer from incomplete to complete, `stopped` removes it. Any warning the server emits (a request
 * it could not parse) fails the test.
 *
 * Server behaviour pinned here (bittorrent-tracker 11): like opentracker it returns the requester
 * to itself (it only filters self for WebRTC peers), so assertions drop our own port; its UDP
 * announce reply carries only IPv4 peers (IPv6 ones go to `peers6`, which BEP 15 packets do not
 * have), so over udp6 the swarm is checked through the seeder/leecher counts instead; its HTTP
 * scrape writes `files` keys as UTF-8 (see parseScrapeBody), which these tests exercise.
 */
import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Announcer } from '../../src/tracker/announcer.js';
import { createTracker } from '../../src/tracker/create-tracker.js';
import type { PeerAddress, Tracker } from '../../src/tracker/types.js';
import { startBtTrackerServer, type RunningBtTracker } from '../helpers/bt-tracker-server.js';
import { pollUntil } from '../helpers/poll.js';
import { announceRequest as request } from '../helpers/announce-request.js';

let srv: RunningBtTracker;
beforeAll(async () => {
  srv = await startBtTrackerServer({ intervalMs: 120_000 });
}, 15_000);
afterAll(async () => {
  await srv?.stop();
}, 10_000);
afterEach(() => {
  expect(srv.warnings).toEqual([]);
  expect(srv.errors).toEqual([]);
});

const transports = [
  { name: 'http', url: () => srv.httpUrl, host: '127.0.0.1', listsPeers: true },
  { name: 'udp', url: () => srv.udpUrl, host: '127.0.0.1', listsPeers: true },
  { name: 'udp6', url: () => srv.udp6Url, host: '::1', listsPeers: false },
] as const;

const others = (peers: PeerAddress[], ownPort: number): PeerAddress[] => peers.filter((p) => p.port !== ownPort);

describe.each(transports)('bittorrent-tracker over $name', ({ name, url, host, listsPeers }) => {
  const trackers: Tracker[] = [];
  const open = (): Tracker => {
    const t = createTracker(url(), { udp: { baseTimeoutMs: 500 } });
    trackers.push(t);
    return t;
  };
  afterAll(() => trackers.forEach((t) => t.close()));

  it('two clients see each other; completed and stopped show in scrape', async () => {
    const infoHash = createHash('sha1').update(`bt-${name}`).digest();
    const key = infoHash.toString('hex');
    const a = open();
    const b = open();
    const opts = { deadlineMs: 5_000 };
    const ra = await a.announce(request(infoHash, 'a', 7001, { event: 'started' }), opts);
    expect(others(ra.peers, 7001)).toEqual([]);
    expect(ra.interval).toBe(120);
    const rb = await b.announce(request(infoHash, 'b', 7002, { event: 'started' }), opts);
    const peers = (...ports: number[]): PeerAddress[] => (listsPeers ? ports.map((port) => ({ ip: host, port })) : []);
    expect(others(rb.peers, 7002)).toEqual(peers(7001));
    expect(rb).toMatchObject({ complete: 0, incomplete: 2 });
    expect(others((await a.announce(request(infoHash, 'a', 7001), opts)).peers, 7001)).toEqual(peers(7002));

    await a.announce(request(infoHash, 'a', 7001, { event: 'completed', left: 0, downloaded: 1000 }), opts);
    expect((await b.scrape([infoHash], opts)).files.get(key)).toMatchObject({ complete: 1, incomplete: 1 });

    await a.announce(request(infoHash, 'a', 7001, { event: 'stopped', left: 0, numwant: 0 }), opts);
    expect((await b.scrape([infoHash], opts)).files.get(key)).toMatchObject({ complete: 0, incomplete: 1 });
    const rb2 = await b.announce(request(infoHash, 'b', 7002), opts);
    expect(others(rb2.peers, 7002)).toEqual([]);
    expect(rb2).toMatchObject({ complete: 0, incomplete: 1 });
  }, 30_000);

  it('an Announcer over this transport: started, completed, stopped', async () => {
    const infoHash = createHash('sha1').update(`bt-announcer-${name}`).digest();
    const key = infoHash.toString('hex');
    const observer = open();
    await observer.announce(request(infoHash, 'obs', 7010, { event: 'started' }), { deadlineMs: 5_000 });
    const stats = { uploaded: 0, downloaded: 0, left: 100 };
    const events: (string | undefined)[] = [];
    const seen: PeerAddress[] = [];
    const warnings: string[] = [];
    const announcer = new Announcer({
      tiers: [[url()]],
      infoHash,
      peerId: Buffer.from('-TS0001-announcer000'),
      port: 7011,
      key: 9,
      stats: () => ({ ...stats }),
      onPeers: (p) => seen.push(...others(p, 7011)),
      onAnnounce: (o) => events.push(o.event),
      onWarning: (w) => warnings.push(w.message),
      trackerOptions: { udp: { baseTimeoutMs: 500 } },
    });
    const until = (cond: () => boolean): Promise<true> => pollUntil(cond, { timeoutMs: 2_000, intervalMs: 20, what: `announce ${events.length + 1}` });
    announcer.start();
    await until(() => events.length === 1);
    expect(seen).toEqual(listsPeers ? [{ ip: host, port: 7010 }] : []);
    stats.left = 0;
    stats.downloaded = 100;
    announcer.completed();
    await until(() => events.length === 2);
    expect(events).toEqual(['started', 'completed']);
    expect((await observer.scrape([infoHash], { deadlineMs: 5_000 })).files.get(key)).toMatchObject({ complete: 1, incomplete: 1 });
    await announcer.stop();
    expect(warnings).toEqual([]);
    expect((await observer.scrape([infoHash], { deadlineMs: 5_000 })).files.get(key)).toMatchObject({ complete: 0, incomplete: 1 });
  }, 30_000);
});

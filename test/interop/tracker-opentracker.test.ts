/**
 * Our HTTP and UDP tracker clients against Debian's opentracker on loopback: clients see each
 * other, `completed` moves a peer from incomplete to complete, `stopped` removes it; the
 * Announcer works end to end; a real python3-libtorrent seed is seen through the tracker.
 * opentracker returns the requester itself, so assertions drop our own address and port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode } from '../../src/bencode/index.js';
import { announceOnce } from '../../src/tracker/announce-once.js';
import { Announcer, type TrackerWarning } from '../../src/tracker/announcer.js';
import { createTracker } from '../../src/tracker/create-tracker.js';
import type { PeerAddress, Tracker } from '../../src/tracker/types.js';
import { announceRequest as request } from '../helpers/announce-request.js';
import { freeTcpPort, freeUdpPort, startOpentracker, type RunningOpentracker } from '../helpers/opentracker.js';
import { needs } from '../helpers/requirements.js';

/** A missing opentracker or libtorrent fails in CI and skips elsewhere. */
const needOt = needs('opentracker');
const otLt = needs('opentracker', 'python3-libtorrent');

const hashFor = (name: string): Buffer => createHash('sha1').update(name).digest();
const HASHES = { http: hashFor('ot-http'), udp: hashFor('ot-udp'), announcer: hashFor('ot-announcer') };

// A small single-file torrent built here, so opentracker can whitelist it before libtorrent starts.
const LT_DATA = Buffer.alloc(40_000, 0x5a);
const LT_PIECE = 16_384;
const ltInfo = {
  length: LT_DATA.length,
  name: 'seed.bin',
  'piece length': LT_PIECE,
  pieces: Buffer.concat(
    Array.from({ length: Math.ceil(LT_DATA.length / LT_PIECE) }, (_, i) =>
      createHash('sha1').update(LT_DATA.subarray(i * LT_PIECE, (i + 1) * LT_PIECE)).digest(),
    ),
  ),
};
const LT_HASH = createHash('sha1').update(encode(ltInfo)).digest();

let ot: RunningOpentracker;
beforeAll(async () => {
  if (!needOt.skip) ot = await startOpentracker([...Object.values(HASHES), LT_HASH]);
}, 20_000);
afterAll(async () => {
  await ot?.stop();
}, 10_000);

const others = (peers: PeerAddress[], ownPort: number): PeerAddress[] =>
  peers.filter((p) => !(p.ip === '127.0.0.1' && p.port === ownPort));

describe.skipIf(needOt.skip).each(['http', 'udp'] as const)(`opentracker over %s${needOt.note}`, (transport) => {
  const trackers: Tracker[] = [];
  const open = (): Tracker => {
    const t = createTracker(transport === 'http' ? ot.httpUrl : ot.udpUrl, { udp: { baseTimeoutMs: 500 } });
    trackers.push(t);
    return t;
  };
  afterAll(() => trackers.forEach((t) => t.close()));

  it('two clients see each other; completed and stopped show in scrape', async () => {
    const infoHash = HASHES[transport];
    const key = infoHash.toString('hex');
    const a = open();
    const b = open();
    const opts = { deadlineMs: 5_000 };
    await a.announce(request(infoHash, 'a', 7001, { event: 'started' }), opts);
    const rb = await b.announce(request(infoHash, 'b', 7002, { event: 'started' }), opts);
    expect(others(rb.peers, 7002)).toEqual([{ ip: '127.0.0.1', port: 7001 }]);
    expect(rb.interval).toBeGreaterThan(0);
    const ra = await a.announce(request(infoHash, 'a', 7001), opts);
    expect(others(ra.peers, 7001)).toEqual([{ ip: '127.0.0.1', port: 7002 }]);
    expect(ra.incomplete).toBe(2);

    expect((await a.scrape([infoHash], opts)).files.get(key)).toMatchObject({ complete: 0, incomplete: 2 });

    await a.announce(request(infoHash, 'a', 7001, { event: 'completed', left: 0, downloaded: 1000 }), opts);
    expect((await b.scrape([infoHash], opts)).files.get(key)).toMatchObject({ complete: 1, incomplete: 1, downloaded: 1 });

    await a.announce(request(infoHash, 'a', 7001, { event: 'stopped', left: 0, numwant: 0 }), opts);
    expect((await b.scrape([infoHash], opts)).files.get(key)).toMatchObject({ complete: 0, incomplete: 1 });
    const rb2 = await b.announce(request(infoHash, 'b', 7002), opts);
    expect(others(rb2.peers, 7002)).toEqual([]);
  }, 30_000);

  it('a hash outside the whitelist is refused', async () => {
    const e = await open()
      .announce(request(hashFor('not whitelisted'), 'c', 7003, { event: 'started' }), { deadlineMs: 5_000 })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    if (transport === 'http') {
      expect(e).toMatchObject({ code: 'ERR_TRACKER', kind: 'failure' });
      expect((e as Error).message).toMatch(/not authorized/);
    } else {
      // Over UDP opentracker sends no error (action 3) but a bare 8-byte announce header.
      expect(e).toMatchObject({ code: 'ERR_TRACKER', kind: 'protocol' });
      expect((e as Error).message).toMatch(/8 bytes is too short \(trackers send this for a torrent they refuse\)/);
    }
  }, 15_000);
});

describe.skipIf(needOt.skip)(`Announcer and announceOnce with opentracker${needOt.note}`, () => {
  it('skips a dead tier, announces started, delivers peers, sends stopped on stop()', async () => {
    const infoHash = HASHES.announcer;
    const deadUdp = `udp://127.0.0.1:${await freeUdpPort()}`;
    const other = createTracker(ot.httpUrl);
    await other.announce(request(infoHash, 'other', 7100, { event: 'started' }), { deadlineMs: 5_000 });

    const peers: [PeerAddress[], string][] = [];
    const warnings: TrackerWarning[] = [];
    let gotPeers!: () => void;
    const peersSeen = new Promise<void>((r) => (gotPeers = r));
    const announcer = new Announcer({
      tiers: [[deadUdp], [ot.udpUrl]],
      infoHash,
      peerId: Buffer.from('-TS0001-announcer000'),
      port: 7101,
      key: 1,
      stats: () => ({ uploaded: 0, downloaded: 0, left: 500 }),
      onPeers: (p, source) => {
        peers.push([p, source]);
        gotPeers();
      },
      onWarning: (w) => warnings.push(w),
      trackerOptions: { udp: { baseTimeoutMs: 500 } },
      // Longer than this test may run: stop() can only end because the trackers answered `stopped`.
      stopTimeoutMs: 60_000,
    });
    announcer.start();
    await peersSeen;
    expect(peers[0]![1]).toBe(ot.udpUrl);
    expect(others(peers[0]![0], 7101)).toEqual([{ ip: '127.0.0.1', port: 7100 }]);
    expect(warnings.map((w) => [w.url, w.error?.kind])).toEqual([[deadUdp, 'network']]);
    expect((await other.scrape([infoHash], { deadlineMs: 5_000 })).files.get(infoHash.toString('hex'))?.incomplete).toBe(2);

    await announcer.stop();
    expect((await other.scrape([infoHash], { deadlineMs: 5_000 })).files.get(infoHash.toString('hex'))?.incomplete).toBe(1);
    other.close();
  }, 30_000);

  it('announceOnce reports every tracker, failures included', async () => {
    const refused = `http://127.0.0.1:${await freeTcpPort()}/announce`;
    const results = await announceOnce(
      [[ot.httpUrl, refused], [ot.udpUrl, 'wss://tracker.example/announce']],
      request(HASHES.announcer, 'once', 7200),
      { deadlineMs: 5_000 },
    );
    expect(results.map((r) => [r.url, r.tier, r.ok])).toEqual([
      [ot.httpUrl, 0, true],
      [refused, 0, false],
      [ot.udpUrl, 1, true],
      ['wss://tracker.example/announce', 1, false],
    ]);
    const failed = results.filter((r) => !r.ok);
    expect(failed.map((r) => !r.ok && r.error.kind)).toEqual(['network', 'unsupported']);
  }, 15_000);
});

const LT_SCRIPT = `
import sys, time, libtorrent as lt
torrent, save, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = lt.session({'listen_interfaces': '127.0.0.1:%d' % port, 'enable_dht': False, 'enable_lsd': False,
                'enable_upnp': False, 'enable_natpmp': False,
                'alert_mask': lt.alert.category_t.status_notification | lt.alert.category_t.error_notification | lt.alert.category_t.tracker_notification})
s.add_torrent({'ti': lt.torrent_info(torrent), 'save_path': save})
while True:
    for a in s.pop_alerts():
        if isinstance(a, lt.tracker_reply_alert):
            print('tracker-reply', flush=True)
        elif isinstance(a, lt.tracker_error_alert):
            print('tracker-error', a.message(), flush=True)
    s.wait_for_alert(250)
`;

describe.skipIf(otLt.skip)(`a python3-libtorrent seed through opentracker${otLt.note}`, () => {
  let child: ChildProcess | undefined;
  let dir: string | undefined;
  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGKILL');
      await new Promise((r) => child!.once('exit', r));
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 10_000);

  it('our client gets the libtorrent peer from the tracker', async () => {
    dir = await mkdtemp(join(tmpdir(), 'torrent-lt-'));
    await writeFile(join(dir, 'seed.bin'), LT_DATA);
    await writeFile(join(dir, 'seed.torrent'), encode({ announce: ot.httpUrl, info: ltInfo }));
    await writeFile(join(dir, 'peer.py'), LT_SCRIPT);
    const ltPort = await freeTcpPort();
    child = spawn('/usr/bin/python3', [join(dir, 'peer.py'), join(dir, 'seed.torrent'), dir, String(ltPort)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`libtorrent did not announce: ${out}`)), 20_000);
      const onData = (d: Buffer): void => {
        out += d.toString();
        if (out.includes('tracker-reply')) {
          clearTimeout(t);
          resolve();
        }
      };
      child!.stdout!.on('data', onData);
      child!.stderr!.on('data', onData);
      child!.once('exit', () => reject(new Error(`libtorrent exited: ${out}`)));
    });
    const tracker = createTracker(ot.udpUrl);
    try {
      const r = await tracker.announce(request(LT_HASH, 'lt-probe', 7300, { event: 'started' }), { deadlineMs: 5_000 });
      expect(others(r.peers, 7300)).toEqual([{ ip: '127.0.0.1', port: ltPort }]);
      expect(r.complete).toBe(1); // the libtorrent seed
      await tracker.announce(request(LT_HASH, 'lt-probe', 7300, { event: 'stopped' }), { deadlineMs: 5_000 });
    } finally {
      tracker.close();
    }
  }, 40_000);
});

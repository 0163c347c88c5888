/**
 * Hostile trackers on loopback: every misbehaviour becomes a typed TrackerError (or a warning),
 * within its deadline, without unbounded memory. Shared cases run once per transport.
 *
 * Deadlines and the UDP retransmission schedule are checked on vitest's fake timers (setTimeout,
 * clearTimeout and Date), real sockets underneath: time moves only when a test advances it, so
 * "not before 300 ms, then at 300 ms" is exact, never a wall-clock measurement.
 */
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { encode } from '../../src/bencode/index.js';
import { HttpTracker } from '../../src/tracker/http-tracker.js';
import { TrackerError, type TrackerErrorKind } from '../../src/tracker/tracker-error.js';
import type { AnnounceRequest, AnnounceResponse, Tracker } from '../../src/tracker/types.js';
import { UdpTracker, type UdpTrackerOptions } from '../../src/tracker/udp-tracker.js';

const infoHash = Buffer.alloc(20, 0x11);
const req: AnnounceRequest = {
  infoHash,
  peerId: Buffer.from('-TS0001-abcdefghijkl'),
  port: 6881,
  uploaded: 0,
  downloaded: 0,
  left: 100,
  key: 7,
  event: 'started',
};

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Fakes the timers and the clock the tracker clients use; sockets stay real. */
function fakeTime(): void {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
}

/** Tracks whether a promise has settled, to assert "not yet" after time was advanced. */
function watch<T>(p: Promise<T>): { settled: () => boolean; result: Promise<T> } {
  let done = false;
  const result = p.finally(() => (done = true));
  return { settled: () => done, result };
}

async function rejection(p: Promise<unknown>): Promise<TrackerError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(TrackerError);
    return e as TrackerError;
  }
  throw new Error('expected a rejection');
}

/** A port nothing listens on (bound, read, closed). */
async function closedTcpPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

async function closedUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(r));
  return port;
}

function compactPeers(n: number, port: (i: number) => number): Buffer {
  const b = Buffer.alloc(n * 6);
  for (let i = 0; i < n; i++) {
    b.writeUInt32BE(0x0a000000 + i, i * 6);
    b.writeUInt16BE(port(i), i * 6 + 4);
  }
  return b;
}

// ---------------------------------------------------------------------------------------------
// Scripted HTTP tracker

type HttpScript = (req: http.IncomingMessage, res: http.ServerResponse) => void;

async function httpServer(script: HttpScript): Promise<{ url: (path?: string) => string; requests: string[] }> {
  const requests: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((rq, rs) => {
    requests.push(rq.url ?? '');
    script(rq, rs);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return { url: (path = '/announce') => `http://127.0.0.1:${port}${path}`, requests };
}

// ---------------------------------------------------------------------------------------------
// Scripted UDP tracker: answers connect normally unless the script says otherwise.

interface UdpCtx {
  action: number;
  tx: number;
  msg: Buffer;
  reply: (b: Buffer) => void;
}
type UdpScript = (ctx: UdpCtx) => void;

function udpHeader(action: number, tx: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(action, 0);
  b.writeUInt32BE(tx, 4);
  return b;
}
const CONNECTION_ID = Buffer.from('a1a2a3a4a5a6a7a8', 'hex');
function connectReply(tx: number): Buffer {
  return Buffer.concat([udpHeader(0, tx), CONNECTION_ID]);
}
function announceReply(tx: number, peers: Buffer, interval = 1800): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt32BE(interval, 0);
  h.writeUInt32BE(1, 4);
  h.writeUInt32BE(2, 8);
  return Buffer.concat([udpHeader(1, tx), h, peers]);
}

async function udpServer(
  script: UdpScript,
  family: 'udp4' | 'udp6' = 'udp4',
): Promise<{ url: string; packets: { action: number; at: number }[] }> {
  const packets: { action: number; at: number }[] = [];
  const sock = dgram.createSocket(family);
  const start = Date.now();
  sock.on('message', (msg, rinfo) => {
    if (msg.length < 16) return;
    const action = msg.readUInt32BE(8);
    packets.push({ action, at: Date.now() - start });
    script({
      action,
      tx: msg.readUInt32BE(12),
      msg,
      reply: (b) => sock.send(b, rinfo.port, rinfo.address),
    });
  });
  const host = family === 'udp6' ? '::1' : '127.0.0.1';
  await new Promise<void>((r) => sock.bind(0, host, r));
  cleanups.push(() => new Promise<void>((r) => sock.close(() => r())));
  const { port } = sock.address();
  return { url: family === 'udp6' ? `udp://[::1]:${port}` : `udp://127.0.0.1:${port}`, packets };
}

function udpTracker(url: string, opts: UdpTrackerOptions = {}): { tracker: UdpTracker; warnings: string[] } {
  const warnings: string[] = [];
  const tracker = new UdpTracker(url, { baseTimeoutMs: 50, onWarning: (w) => warnings.push(w), ...opts });
  cleanups.push(() => tracker.close());
  return { tracker, warnings };
}

function httpTracker(url: string): HttpTracker {
  const tracker = new HttpTracker(url);
  cleanups.push(() => tracker.close());
  return tracker;
}

// ---------------------------------------------------------------------------------------------
// Cases shared by both transports: one test body, run per transport.

type Case = 'port0' | 'many-peers' | 'failure' | 'silent';

interface Transport {
  name: string;
  /** A tracker whose server behaves per `c`. */
  start(c: Case): Promise<Tracker>;
  refusedUrl(): Promise<string>;
  unreachableUrl: string;
}

const transports: Transport[] = [
  {
    name: 'http',
    async start(c) {
      const s = await httpServer((_rq, rs) => {
        if (c === 'silent') return; // never answers
        if (c === 'failure') return void rs.end(encode({ 'failure reason': 'unregistered torrent' }));
        const peers =
          c === 'port0'
            ? Buffer.concat([compactPeers(3, () => 0), compactPeers(1, () => 6881)])
            : compactPeers(300_000, (i) => 1 + (i % 65535)); // 1.8 MB: under the body cap
        rs.end(encode({ interval: 1800, peers }));
      });
      return httpTracker(s.url());
    },
    refusedUrl: async () => `http://127.0.0.1:${await closedTcpPort()}/announce`,
    unreachableUrl: 'http://tracker.nonexistent.invalid/announce',
  },
  {
    name: 'udp',
    async start(c) {
      const s = await udpServer(({ action, tx, reply }) => {
        if (c === 'silent') return;
        if (action === 0) return reply(connectReply(tx));
        if (c === 'failure') return reply(Buffer.concat([udpHeader(3, tx), Buffer.from('unregistered torrent')]));
        const peers =
          c === 'port0'
            ? Buffer.concat([compactPeers(3, () => 0), compactPeers(1, () => 6881)])
            : compactPeers(10_000, (i) => 1 + i); // ~60 KB: the largest datagram there is
        reply(announceReply(tx, peers));
      });
      return udpTracker(s.url).tracker;
    },
    refusedUrl: async () => `udp://127.0.0.1:${await closedUdpPort()}`,
    unreachableUrl: 'udp://tracker.nonexistent.invalid:6969',
  },
];

describe.each(transports)('hostile $name tracker', (t) => {
  it('connection refused is a network error, not a wait for the deadline', async () => {
    const tracker = t.name === 'http' ? httpTracker(await t.refusedUrl()) : udpTracker(await t.refusedUrl()).tracker;
    // On fake time that never moves, only the refusal itself can end the announce.
    fakeTime();
    const e = await rejection(tracker.announce(req, { deadlineMs: 5_000 }));
    expect(e.kind).toBe('network');
    expect(e.message).toMatch(/refused/i);
    expect(e.url).toBe(tracker.url);
  }, 10_000);

  it('an unresolvable host is a network error', async () => {
    const tracker = t.name === 'http' ? httpTracker(t.unreachableUrl) : udpTracker(t.unreachableUrl).tracker;
    const e = await rejection(tracker.announce(req, { deadlineMs: 5_000 }));
    // Without DNS in the sandbox the lookup may hang instead; the deadline still ends it.
    expect(['network', 'timeout']).toContain(e.kind);
  }, 10_000);

  it('a tracker that never answers times out at the deadline', async () => {
    const tracker = await t.start('silent');
    fakeTime();
    const announce = watch(rejection(tracker.announce(req, { deadlineMs: 300 })));
    await vi.advanceTimersByTimeAsync(299);
    expect(announce.settled()).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const e = await announce.result;
    expect(e.kind).toBe('timeout');
  }, 10_000);

  it('the caller can abort', async () => {
    const tracker = await t.start('silent');
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const e = await rejection(tracker.announce(req, { signal: ac.signal, deadlineMs: 5_000 }));
    expect(e.kind).toBe('aborted');
  }, 10_000);

  it('failure reason / error action is a failure error with the tracker message', async () => {
    const tracker = await t.start('failure');
    const e = await rejection(tracker.announce(req, { deadlineMs: 5_000 }));
    expect(e.kind).toBe('failure');
    expect(e.code).toBe('ERR_TRACKER');
    expect(e.message).toBe('tracker refused: unregistered torrent');
  }, 10_000);

  it('peers with port 0 are dropped', async () => {
    const tracker = await t.start('port0');
    const r = await tracker.announce(req, { deadlineMs: 5_000 });
    expect(r.peers).toEqual([{ ip: '10.0.0.0', port: 6881 }]);
  }, 10_000);

  it('a huge peer list is capped', async () => {
    const tracker = await t.start('many-peers');
    const r: AnnounceResponse = await tracker.announce(req, { deadlineMs: 5_000 });
    expect(r.peers).toHaveLength(2000);
    expect(r.peers.every((p) => p.port > 0)).toBe(true);
  }, 10_000);

  it('close() aborts what is in flight and later calls fail', async () => {
    const tracker = await t.start('silent');
    const pending = rejection(tracker.announce(req, { deadlineMs: 5_000 }));
    setTimeout(() => tracker.close(), 50);
    expect((await pending).kind).toBe('aborted');
    expect((await rejection(tracker.announce(req))).kind).toBe('aborted');
  }, 10_000);
});

// ---------------------------------------------------------------------------------------------
// HTTP only

describe('hostile HTTP tracker', () => {
  const kinds = async (script: HttpScript): Promise<TrackerError> => {
    const s = await httpServer(script);
    return rejection(httpTracker(s.url()).announce(req, { deadlineMs: 5_000 }));
  };

  it.each<[string, HttpScript, TrackerErrorKind, RegExp]>([
    [
      'an HTML page',
      (_q, s) => {
        s.setHeader('content-type', 'text/html');
        s.end('<html><body><h1>502 Bad Gateway</h1></body></html>');
      },
      'protocol',
      /HTML/,
    ],
    ['a non-bencoded body', (_q, s) => s.end('interval=1800'), 'protocol', /not valid bencode/],
    ['a truncated body (no length)', (_q, s) => s.end('d8:intervali1800e5:peers600:abc'), 'protocol', /not valid bencode/],
    [
      'a body shorter than its Content-Length',
      (_q, s) => {
        s.setHeader('content-length', '1000');
        s.write('d8:intervali1800e');
        setTimeout(() => s.socket?.destroy(), 20);
      },
      'protocol',
      /cut short/,
    ],
    ['an empty body', (_q, s) => s.end(), 'protocol', /empty/],
    ['a bencoded list', (_q, s) => s.end('le'), 'protocol', /not a dictionary/],
    ['HTTP 500 without failure reason', (_q, s) => ((s.statusCode = 500), s.end('oops')), 'network', /HTTP 500/],
    ['a connection reset', (q) => q.socket.destroy(), 'network', /ECONNRESET|socket hang up/],
    [
      'a declared 100 MB body',
      (_q, s) => {
        s.setHeader('content-length', String(100 * 1024 * 1024));
        s.write(Buffer.alloc(1024));
      },
      'too-large',
      /larger than/,
    ],
    [
      'a million compact peers (6 MB)',
      (_q, s) => s.end(encode({ interval: 1800, peers: compactPeers(1_000_000, () => 1) })),
      'too-large',
      /larger than 2097152 bytes/,
    ],
  ])('%s', async (_name, script, kind, message) => {
    const e = await kinds(script);
    expect(e.kind).toBe(kind);
    expect(e.message).toMatch(message);
  }, 10_000);

  it('a failure reason sent with HTTP 400 is reported as the failure', async () => {
    const e = await kinds((_q, s) => {
      s.statusCode = 400;
      s.end(encode({ 'failure reason': 'bad passkey' }));
    });
    expect(e.kind).toBe('failure');
    expect(e.message).toMatch(/bad passkey/);
  });

  it('an endless 100 MB body is read only up to the cap, streamed, then hung up on', async () => {
    let written = 0;
    let serverDone!: () => void;
    const finished = new Promise<void>((r) => (serverDone = r));
    const s = await httpServer((_q, res) => {
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const limit = 100 * 1024 * 1024;
      const pump = (): void => {
        while (written < limit && !res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('close', serverDone);
      res.write('d8:intervali1800e5:peers104857600:');
      pump();
    });
    const heapBefore = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
    const e = await rejection(httpTracker(s.url()).announce(req, { deadlineMs: 10_000 }));
    expect(e.kind).toBe('too-large');
    await finished;
    // The client hung up long before 100 MB: what the server got out is the cap plus socket buffers.
    expect(written).toBeLessThan(24 * 1024 * 1024);
    const heapAfter = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
    expect(heapAfter - heapBefore).toBeLessThan(40 * 1024 * 1024);
  }, 20_000);

  it('follows a few redirects, not a loop', async () => {
    const s = await httpServer((q, res) => {
      if (q.url?.startsWith('/loop')) return void res.writeHead(302, { location: '/loop' }).end();
      if (q.url?.startsWith('/moved')) return void res.writeHead(301, { location: '/announce?x=1' }).end();
      res.end(encode({ interval: 900, peers: compactPeers(1, () => 1) }));
    });
    const r = await httpTracker(s.url('/moved')).announce(req, { deadlineMs: 5_000 });
    expect(r.interval).toBe(900);
    const e = await rejection(httpTracker(s.url('/loop')).announce(req, { deadlineMs: 5_000 }));
    expect(e.message).toMatch(/more than 3 redirects/);
    expect(s.requests.filter((u) => u.startsWith('/loop'))).toHaveLength(4);
  });

  it('sends the tracker id back and URL-encodes info_hash byte by byte', async () => {
    const s = await httpServer((_q, res) => res.end(encode({ interval: 900, 'tracker id': Buffer.from([0xff, 0x20]) })));
    const tracker = httpTracker(s.url());
    const r1 = await tracker.announce(req);
    expect(r1.trackerId).toEqual(Buffer.from([0xff, 0x20]));
    await tracker.announce({ ...req, event: undefined });
    expect(s.requests[0]).toContain(`info_hash=${'%11'.repeat(20)}`);
    expect(s.requests[0]).not.toContain('trackerid');
    expect(s.requests[1]).toContain('trackerid=%FF%20');
  });
});

// ---------------------------------------------------------------------------------------------
// UDP only

describe('hostile UDP tracker', () => {
  it('ignores a reply with a wrong transaction id (with a warning) and takes the right one', async () => {
    const s = await udpServer(({ action, tx, reply }) => {
      if (action === 0) {
        reply(connectReply((tx + 1) >>> 0));
        reply(connectReply(tx));
      } else reply(announceReply(tx, compactPeers(2, () => 80)));
    });
    const { tracker, warnings } = udpTracker(s.url);
    const r = await tracker.announce(req, { deadlineMs: 5_000 });
    expect(r.peers).toHaveLength(2);
    expect(warnings).toEqual([expect.stringMatching(/unknown transaction id/)]);
  });

  it('ignores a reply with the right transaction id but the wrong action', async () => {
    const s = await udpServer(({ action, tx, reply }) => {
      if (action === 0) {
        reply(announceReply(tx, Buffer.alloc(0)));
        setTimeout(() => reply(connectReply(tx)), 10);
      } else reply(announceReply(tx, compactPeers(1, () => 80), 999));
    });
    const { tracker, warnings } = udpTracker(s.url);
    const r = await tracker.announce(req, { deadlineMs: 5_000 });
    expect(r.interval).toBe(999);
    expect(warnings).toEqual([expect.stringMatching(/'announce' reply to a 'connect' request/)]);
  });

  it('only wrong transaction ids: times out, warnings bounded by packets received', async () => {
    const s = await udpServer(({ tx, reply }) => reply(connectReply((tx ^ 1) >>> 0)));
    const { tracker, warnings } = udpTracker(s.url);
    const e = await rejection(tracker.announce(req, { deadlineMs: 400 }));
    expect(e.kind).toBe('timeout');
    expect(warnings.length).toBe(s.packets.length);
  });

  it('a garbled reply with our transaction id is a protocol error', async () => {
    const s = await udpServer(({ tx, reply }) => reply(Buffer.concat([udpHeader(0, tx), Buffer.from([1, 2])])));
    const e = await rejection(udpTracker(s.url).tracker.announce(req, { deadlineMs: 5_000 }));
    expect(e.kind).toBe('protocol');
  });

  it('retransmits on the 15 * 2^n schedule (base shrunk to 50 ms)', async () => {
    fakeTime();
    let connects = 0;
    const arrived: (() => void)[] = [];
    const nextConnect = (): Promise<void> => new Promise((r) => arrived.push(r));
    const s = await udpServer(({ action, tx, reply }) => {
      if (action === 0) arrived.shift()?.();
      if (action === 0 && ++connects < 3) return; // drop the first two
      if (action === 0) return reply(connectReply(tx));
      reply(announceReply(tx, Buffer.alloc(0)));
    });
    const { tracker } = udpTracker(s.url);
    let connect = nextConnect();
    const announce = tracker.announce(req, { deadlineMs: 5_000 });
    await connect;
    // Not a moment before 50 ms: at 49 ms the second connect has not been sent.
    connect = nextConnect();
    await vi.advanceTimersByTimeAsync(49);
    expect(connects).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    await connect;
    connect = nextConnect();
    await vi.advanceTimersByTimeAsync(100);
    await connect;
    await announce;
    // Fake time stood still while each packet travelled: the gaps are the schedule itself.
    const times = s.packets.filter((p) => p.action === 0).map((p) => p.at);
    expect([times[1]! - times[0]!, times[2]! - times[1]!]).toEqual([50, 100]);
    // The announce continues the schedule (n = 2) but is answered at once.
    expect(s.packets.filter((p) => p.action === 1)).toHaveLength(1);
  });

  it('gives up after the last retransmission', async () => {
    const s = await udpServer(() => {});
    const { tracker } = udpTracker(s.url, { baseTimeoutMs: 10, maxRetransmits: 3 });
    const e = await rejection(tracker.announce(req));
    expect(e.kind).toBe('timeout');
    expect(e.message).toMatch(/no reply after 4 attempts/);
    expect(s.packets).toHaveLength(4);
  });

  it('shortens the schedule to the deadline', async () => {
    let received!: () => void;
    const first = new Promise<void>((r) => (received = r));
    const s = await udpServer(() => received());
    const { tracker } = udpTracker(s.url, { baseTimeoutMs: 15_000 });
    fakeTime();
    const announce = watch(rejection(tracker.announce(req, { deadlineMs: 200 })));
    await first;
    await vi.advanceTimersByTimeAsync(200);
    // Over at the 200 ms deadline, not at the 15 s retransmission.
    expect(announce.settled()).toBe(true);
    expect((await announce.result).kind).toBe('timeout');
    expect(s.packets).toHaveLength(1);
  });

  it('reuses the connection id for a minute, then connects again', async () => {
    let clock = 1_000_000;
    const s = await udpServer(({ action, tx, msg, reply }) => {
      if (action === 0) return reply(connectReply(tx));
      expect(msg.subarray(0, 8)).toEqual(CONNECTION_ID);
      reply(announceReply(tx, Buffer.alloc(0)));
    });
    const { tracker } = udpTracker(s.url, { now: () => clock });
    await tracker.announce(req);
    clock += 59_000;
    await tracker.announce(req);
    expect(s.packets.map((p) => p.action)).toEqual([0, 1, 1]);
    clock += 2_000;
    await tracker.announce(req);
    expect(s.packets.map((p) => p.action)).toEqual([0, 1, 1, 0, 1]);
  });

  it('scrapes, and IPv6 sockets read 18-byte peers', async () => {
    const peer6 = Buffer.alloc(18);
    peer6[15] = 1;
    peer6.writeUInt16BE(6881, 16);
    const s = await udpServer(({ action, tx, msg, reply }) => {
      if (action === 0) return reply(connectReply(tx));
      if (action === 2) {
        const n = (msg.length - 16) / 20;
        const body = Buffer.alloc(12 * n);
        for (let i = 0; i < n; i++) body.writeUInt32BE(i + 1, i * 12);
        return reply(Buffer.concat([udpHeader(2, tx), body]));
      }
      reply(announceReply(tx, peer6));
    }, 'udp6');
    const { tracker } = udpTracker(s.url);
    const r = await tracker.announce(req, { deadlineMs: 5_000 });
    expect(r.peers).toEqual([{ ip: '::1', port: 6881 }]);
    const hashes = Array.from({ length: 80 }, (_, i) => Buffer.alloc(20, i));
    const sc = await tracker.scrape(hashes, { deadlineMs: 5_000 });
    expect(sc.files.size).toBe(80);
    expect(sc.files.get(Buffer.alloc(20, 0).toString('hex'))?.complete).toBe(1);
    expect(sc.files.get(Buffer.alloc(20, 74).toString('hex'))?.complete).toBe(1); // second packet
    expect(s.packets.filter((p) => p.action === 2)).toHaveLength(2);
  });
});

/**
 * uTP connections (src/utp/connection.ts, socket.ts) end to end on a fake clock: two UtpSockets
 * joined by a simulated link with configurable delay, jitter (hence reordering), loss and
 * duplication, all in memory. Minutes of protocol run in milliseconds; nothing here reads the
 * wall clock.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MAX_CONSECUTIVE_TIMEOUTS, MAX_PEER_WINDOW_BYTES, MIN_RTO_MS } from '../../src/utp/constants.js';
import { UtpConnection, UtpError } from '../../src/utp/connection.js';
import { UtpSocket, type DatagramTransport, type RemoteInfo } from '../../src/utp/socket.js';
import { FakeClock } from '../helpers/fake-clock.js';

/** mulberry32: a seeded PRNG, so every run of a lossy link loses the same packets. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(rng: () => number): (n: number) => Buffer {
  return (n) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(rng() * 256);
    return b;
  };
}

interface LinkConfig {
  delayMs: number;
  jitterMs: number;
  loss: number;
  duplicate: number;
  /** Bottleneck rate in bytes/s (0: none): packets queue behind each other, so delay grows with load. */
  rateBytesPerS: number;
  /** Drops every packet a → b (or b → a) for which this returns true, on top of `loss`. */
  dropAB?: (msg: Buffer, n: number) => boolean;
  dropBA?: (msg: Buffer, n: number) => boolean;
}

/** Two endpoints, "a" (127.0.0.1:1000) and "b" (127.0.0.2:2000), joined by a simulated path. */
class SimLink {
  readonly cfg: LinkConfig;
  sentAB = 0;
  sentBA = 0;
  /** Longest time a packet waited in the bottleneck queue a -> b, in ms. */
  maxQueueAB = 0;
  private readonly ends: Record<'a' | 'b', UtpSocket | null> = { a: null, b: null };
  private readonly rng: () => number;
  private readonly clock: FakeClock;
  /** Queue lengths are recorded after this time (slow start may overshoot before it). */
  measureFrom = 0;
  private readonly busyUntil: Record<'a' | 'b', number> = { a: 0, b: 0 };
  static readonly addr: Record<'a' | 'b', RemoteInfo> = { a: { address: '127.0.0.1', port: 1000 }, b: { address: '127.0.0.2', port: 2000 } };

  constructor(clock: FakeClock, seed: number, cfg: Partial<LinkConfig> = {}) {
    this.clock = clock;
    this.rng = prng(seed);
    this.cfg = { delayMs: 10, jitterMs: 0, loss: 0, duplicate: 0, rateBytesPerS: 0, ...cfg };
  }

  transport(side: 'a' | 'b'): DatagramTransport {
    return {
      send: (msg) => this.send(side, msg),
      close: async () => {},
      address: () => SimLink.addr[side],
    };
  }

  attach(side: 'a' | 'b', socket: UtpSocket): void {
    this.ends[side] = socket;
  }

  private send(from: 'a' | 'b', msg: Buffer): void {
    const to = from === 'a' ? 'b' : 'a';
    const n = from === 'a' ? this.sentAB++ : this.sentBA++;
    const drop = from === 'a' ? this.cfg.dropAB : this.cfg.dropBA;
    if (drop?.(msg, n)) return;
    if (this.rng() < this.cfg.loss) return;
    let queued = 0;
    if (this.cfg.rateBytesPerS > 0) {
      const now = this.clock.now();
      const start = Math.max(now, this.busyUntil[from]);
      this.busyUntil[from] = start + (msg.length * 1000) / this.cfg.rateBytesPerS;
      queued = this.busyUntil[from] - now;
      if (from === 'a' && this.clock.now() > this.measureFrom) this.maxQueueAB = Math.max(this.maxQueueAB, queued);
    }
    const copies = this.rng() < this.cfg.duplicate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = queued + this.cfg.delayMs + this.rng() * this.cfg.jitterMs;
      const bytes = Buffer.from(msg);
      this.clock.setTimeout(() => this.ends[to]?.handleDatagram(bytes, SimLink.addr[from]), delay);
    }
  }
}

interface Pair {
  clock: FakeClock;
  link: SimLink;
  a: UtpSocket;
  b: UtpSocket;
  client: UtpConnection;
  server: UtpConnection;
}

async function makePair(seed: number, cfg: Partial<LinkConfig> = {}, opts: { random?: (n: number) => Buffer; recvBufferBytes?: number } = {}): Promise<Pair> {
  const clock = new FakeClock();
  const link = new SimLink(clock, seed, cfg);
  const random = opts.random ?? randomBytes(prng(seed + 1));
  const a = new UtpSocket(link.transport('a'), { clock, random, recvBufferBytes: opts.recvBufferBytes });
  const b = new UtpSocket(link.transport('b'), { clock, random, recvBufferBytes: opts.recvBufferBytes });
  link.attach('a', a);
  link.attach('b', b);
  let server: UtpConnection | null = null;
  b.on('connection', (c) => {
    server = c;
  });
  const client = a.connect(SimLink.addr.b.address, SimLink.addr.b.port);
  let connected = false;
  client.once('connect', () => {
    connected = true;
  });
  for (let i = 0; i < 100 && !connected; i++) await clock.advance(50);
  expect(connected).toBe(true);
  expect(server).not.toBeNull();
  return { clock, link, a, b, client, server: server! };
}

function pattern(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  const rng = prng(seed);
  for (let i = 0; i < n; i += 4) out.writeUInt32LE((rng() * 2 ** 32) >>> 0, i - (i + 4 > n ? i + 4 - n : 0));
  return out;
}

function sha1(b: Buffer): string {
  return createHash('sha1').update(b).digest('hex');
}

/**
 * Writes `data` from one end (honouring write() === false), reads it at the other, advancing the
 * fake clock until it has all arrived or `maxSimMs` of simulated time passed.
 */
async function transfer(p: Pair, from: UtpConnection, to: UtpConnection, data: Buffer, maxSimMs: number, stepMs = 10): Promise<{ received: Buffer; simMs: number }> {
  const chunks: Buffer[] = [];
  let got = 0;
  to.on('data', (c: Buffer) => {
    chunks.push(c);
    got += c.length;
  });
  let off = 0;
  let waitingDrain = false;
  const pump = (): void => {
    while (off < data.length && !waitingDrain) {
      const piece = data.subarray(off, off + 16384);
      off += piece.length;
      if (!from.write(piece)) {
        waitingDrain = true;
        from.once('drain', () => {
          waitingDrain = false;
          pump();
        });
      }
    }
  };
  pump();
  const start = p.clock.now();
  while (got < data.length && p.clock.now() - start < maxSimMs) await p.clock.advance(stepMs);
  return { received: Buffer.concat(chunks), simMs: p.clock.now() - start };
}

/**
 * Writes `data` to `to` in 16 KiB calls, waiting for 'drain' each time a write says the stream is
 * full. `written` counts bytes handed over so far, `refused` the writes that said so.
 */
function writeAll(to: UtpConnection, data: Buffer): { written: () => number; refused: () => number } {
  let off = 0;
  let refused = 0;
  const pump = (): void => {
    while (off < data.length) {
      const ok = to.write(data.subarray(off, off + 16384));
      off += 16384;
      if (!ok) {
        refused++;
        to.once('drain', pump);
        return;
      }
    }
  };
  pump();
  return { written: () => off, refused: () => refused };
}

/**
 * Resumes a paused reader and moves the clock 20 ms at a time (at most `maxSteps` times) until
 * `length` bytes have arrived or `stop()` says so; returns the bytes read.
 */
async function readResumed(p: Pair, from: UtpConnection, length: number, maxSteps: number, stop = (): boolean => false): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  from.on('data', (c: Buffer) => {
    chunks.push(c);
    got += c.length;
  });
  from.resume();
  for (let i = 0; i < maxSteps && got < length && !stop(); i++) await p.clock.advance(20);
  return Buffer.concat(chunks);
}

async function closeAll(p: Pair): Promise<void> {
  p.client.destroy();
  p.server.destroy();
  await p.a.close();
  await p.b.close();
  await p.clock.advance(1);
}

describe('uTP connection over a simulated link', () => {
  it('connects: the SYN is answered, both ends are connected, bytes flow both ways', async () => {
    const p = await makePair(1);
    expect(p.client.state).toBe('connected');
    const back = transfer(p, p.server, p.client, Buffer.from('pong'), 1000);
    const there = await transfer(p, p.client, p.server, Buffer.from('ping'), 1000);
    expect(there.received.toString()).toBe('ping');
    expect((await back).received.toString()).toBe('pong');
    expect(p.server.state).toBe('connected');
    await closeAll(p);
  });

  it('moves 1 MiB over a clean 20 ms RTT path without a retransmission', async () => {
    const p = await makePair(2);
    const data = pattern(1 << 20, 2);
    const r = await transfer(p, p.client, p.server, data, 60_000);
    expect(sha1(r.received)).toBe(sha1(data));
    expect(p.client.stats.retransmits).toBe(0);
    expect(p.client.smoothedRttMs).toBeGreaterThanOrEqual(20);
    expect(p.client.smoothedRttMs).toBeLessThan(30);
    await closeAll(p);
  });
});

describe('uTP connection: loss, reordering, delay', () => {
  it('delivers 1 MiB intact through 5% loss, duplicates and reordering (jitter 30 ms)', async () => {
    const p = await makePair(3, { delayMs: 20, jitterMs: 30, loss: 0.05, duplicate: 0.02 });
    const data = pattern(1 << 20, 3);
    const r = await transfer(p, p.client, p.server, data, 300_000);
    expect(sha1(r.received)).toBe(sha1(data));
    // Loss happened and was repaired, duplicates were seen and dropped.
    expect(p.client.stats.retransmits).toBeGreaterThan(0);
    expect(p.server.stats.duplicatePackets).toBeGreaterThan(0);
    await closeAll(p);
  });

  it('moves 4 MiB over a 200 ms RTT path with 1% loss', async () => {
    const p = await makePair(4, { delayMs: 100, loss: 0.01 });
    const data = pattern(4 << 20, 4);
    const r = await transfer(p, p.client, p.server, data, 600_000, 50);
    expect(sha1(r.received)).toBe(sha1(data));
    expect(p.client.smoothedRttMs).toBeGreaterThanOrEqual(200);
    // Simulated time, not wall time: LEDBAT plus loss recovery keep the path busy.
    expect(r.simMs).toBeLessThan(120_000);
    await closeAll(p);
  });

  it('survives a delay spike: 10 ms to 1.5 s for 3 s mid-transfer, then back', async () => {
    const p = await makePair(5, { delayMs: 10, rateBytesPerS: 1_000_000 });
    const data = pattern(2 << 20, 5);
    const run = transfer(p, p.client, p.server, data, 300_000);
    await p.clock.advance(200);
    p.link.cfg.delayMs = 1500;
    await p.clock.advance(3000);
    p.link.cfg.delayMs = 10;
    const r = await run;
    expect(sha1(r.received)).toBe(sha1(data));
    // The spike outlasted the RTO, so timers fired; the connection lived through them.
    expect(p.client.stats.timeouts).toBeGreaterThan(0);
    expect(p.client.state).toBe('connected');
    await closeAll(p);
  });

  it('repairs a single lost packet by fast retransmit, not by the timer', async () => {
    let dataSeen = 0;
    const p = await makePair(6, {
      delayMs: 25,
      // Drops the 40th DATA packet a -> b (type nibble 0), once.
      dropAB: (msg) => msg[0] === 0x01 && ++dataSeen === 40,
    });
    const data = pattern(512 * 1024, 6);
    const r = await transfer(p, p.client, p.server, data, 60_000);
    expect(sha1(r.received)).toBe(sha1(data));
    expect(dataSeen).toBeGreaterThan(40);
    expect(p.client.stats.fastRetransmits).toBe(1);
    expect(p.client.stats.retransmits).toBe(1);
    expect(p.client.stats.timeouts).toBe(0);
    await closeAll(p);
  });

  it('wraps sequence numbers past 65535 without losing or reordering a byte', async () => {
    // Every 16-bit value the sockets draw is 0xfff0: both sides start 16 packets before the wrap.
    const random = (n: number): Buffer => Buffer.alloc(n, 0xff).fill(0xf0, n - 1);
    const p = await makePair(7, { delayMs: 5, jitterMs: 10, loss: 0.02 }, { random });
    const data = pattern(400 * 1380, 7);
    const back = pattern(300 * 1380, 70);
    const r2 = transfer(p, p.server, p.client, back, 120_000);
    const r = await transfer(p, p.client, p.server, data, 120_000);
    expect(sha1(r.received)).toBe(sha1(data));
    expect(sha1((await r2).received)).toBe(sha1(back));
    await closeAll(p);
  });
});

describe('uTP connection: LEDBAT on a bottleneck', () => {
  it('fills a 1 MB/s bottleneck while keeping its queue near the 100 ms target', async () => {
    const p = await makePair(13, { delayMs: 20, rateBytesPerS: 1_000_000 });
    p.link.measureFrom = p.clock.now() + 5_000;
    const data = pattern(12 << 20, 13);
    const r = await transfer(p, p.client, p.server, data, 120_000);
    expect(sha1(r.received)).toBe(sha1(data));
    // The link is kept busy: 12 MiB at 1 MB/s is 12.6 s; allow 15% for start-up and cuts.
    expect(r.simMs).toBeLessThan(12.6 * 1000 * 1.15);
    // And the queue stays bounded around the target instead of growing to the window's size.
    expect(p.link.maxQueueAB).toBeLessThan(250);
    expect(p.link.maxQueueAB).toBeGreaterThan(50);
    await closeAll(p);
  });
});

describe('uTP connection: back-pressure', () => {
  it('a reader that stops reading closes the window; the writer stops, then resumes', async () => {
    const recvBufferBytes = 64 * 1024;
    const p = await makePair(8, { delayMs: 5 }, { recvBufferBytes });
    p.server.pause();
    const data = pattern(3 << 20, 8);
    const writer = writeAll(p.client, data);
    await p.clock.advance(5_000);
    // The receiver holds at most its buffer; the window it advertises is closed.
    expect(p.server.readableLength).toBeLessThanOrEqual(recvBufferBytes);
    expect(p.server.readableLength).toBeGreaterThan(recvBufferBytes - 2 * 1400);
    expect(p.client.peerWindow).toBeLessThan(1400);
    expect(writer.refused()).toBeGreaterThan(0);
    expect(writer.written()).toBeLessThan(data.length);
    // Reading again reopens the window and everything arrives.
    const received = await readResumed(p, p.server, data.length, 2000);
    expect(sha1(received)).toBe(sha1(data));
    await closeAll(p);
  });
});

describe('uTP connection: back-pressure with loss', () => {
  it('a reader that pauses on a lossy path gets everything once it reads again', async () => {
    // Seeded so that, when the reader resumes, the packets held out of order fill the receive
    // buffer around a hole: the packet that fills it must still be taken.
    const p = await makePair(18, { delayMs: 5, jitterMs: 4, loss: 0.05 }, { recvBufferBytes: 32 * 1024 });
    const errors: Error[] = [];
    p.client.on('error', (e) => errors.push(e));
    p.server.on('error', (e) => errors.push(e));
    p.server.pause();
    const data = pattern(1 << 20, 18);
    writeAll(p.client, data);
    await p.clock.advance(7_000);
    expect(p.server.receiveWindow).toBeLessThan(1400);
    const received = await readResumed(p, p.server, data.length, 3000, () => errors.length > 0);
    expect(errors).toEqual([]);
    expect(sha1(received)).toBe(sha1(data));
    await closeAll(p);
  });
});

describe('uTP connection: ends', () => {
  it('end() on both sides exchanges FINs and closes both, and the sockets forget them', async () => {
    const p = await makePair(9, { delayMs: 10, loss: 0.1 });
    const closed: string[] = [];
    p.client.on('close', () => closed.push('client'));
    p.server.on('close', () => closed.push('server'));
    let serverEnded = false;
    p.server.on('end', () => {
      serverEnded = true;
    });
    p.server.resume();
    p.client.resume();
    p.client.end(Buffer.from('last words'));
    for (let i = 0; i < 300 && closed.length < 2; i++) await p.clock.advance(100);
    expect(serverEnded).toBe(true);
    expect(closed.sort()).toEqual(['client', 'server']);
    expect(p.a.connectionCount).toBe(0);
    expect(p.b.connectionCount).toBe(0);
    await closeAll(p);
  });

  it('destroyed with writes held for room, every write callback is still called (with an error)', async () => {
    // The peer stops acking: our send buffer fills, a write is held, more queue behind it.
    let blackhole = false;
    const p = await makePair(12, { dropBA: () => blackhole });
    blackhole = true;
    p.client.on('error', () => {});
    p.server.on('error', () => {});
    const called: (Error | null | undefined)[] = [];
    const chunk = Buffer.alloc(16384, 1);
    let writes = 0;
    let held = false;
    for (; writes < 200 && !held; writes++) held = !p.client.write(chunk, (e) => called.push(e));
    expect(held).toBe(true);
    for (let i = 0; i < 3; i++, writes++) p.client.write(chunk, (e) => called.push(e));
    await p.clock.advance(1);
    const before = called.length;
    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThan(writes); // some are held back by the full send buffer
    p.client.destroy();
    await p.clock.advance(10);
    // Before the fix the held write and those queued behind it never heard back.
    expect(called.length).toBe(writes);
    expect(called.slice(before).every((e) => e instanceof Error)).toBe(true);
    await closeAll(p);
  });

  it('destroy(err) sends a RESET: the peer fails with ECONNRESET', async () => {
    const p = await makePair(10);
    let err: unknown = null;
    p.server.on('error', (e) => {
      err = e;
    });
    p.client.on('error', () => {});
    p.client.destroy(new Error('bye'));
    await p.clock.advance(100);
    expect(err).toBeInstanceOf(UtpError);
    expect(err).toMatchObject({ code: 'ECONNRESET', errno: 'ECONNRESET' });
    expect(p.server.destroyed).toBe(true);
    await closeAll(p);
  });

  it('a peer that stops acking is timed out within its bound', async () => {
    let blackhole = false;
    const p = await makePair(11, { delayMs: 10, dropBA: () => blackhole });
    let err: unknown = null;
    let failedAt = 0;
    p.client.on('error', (e) => {
      err = e;
      failedAt = p.clock.now();
    });
    p.server.on('error', () => {});
    p.server.resume();
    p.client.write(pattern(20_000, 11));
    await p.clock.advance(500);
    expect(p.client.outstandingPackets).toBe(0);
    blackhole = true;
    const start = p.clock.now();
    p.client.write(pattern(200_000, 12));
    // RTO doubles from at least MIN_RTO_MS; the bound is the sum of the doubling series.
    const bound = MIN_RTO_MS * (2 ** MAX_CONSECUTIVE_TIMEOUTS - 1) + 1000;
    for (let i = 0; i < 400 && err === null; i++) await p.clock.advance(100);
    expect(err).toBeInstanceOf(UtpError);
    expect((err as UtpError).errno).toBe('ETIMEDOUT');
    expect(failedAt - start).toBeLessThanOrEqual(bound);
    expect(p.client.stats.timeouts).toBe(MAX_CONSECUTIVE_TIMEOUTS);
    expect(p.a.connectionCount).toBe(0);
    await closeAll(p);
  });

  it('a SYN nobody answers fails with ETIMEDOUT after two timeouts (3 s)', async () => {
    const clock = new FakeClock();
    const sent: Buffer[] = [];
    const sock = new UtpSocket({ send: (m) => sent.push(m), close: async () => {}, address: () => ({ address: '127.0.0.1', port: 1 }) }, { clock, random: randomBytes(prng(12)) });
    const c = sock.connect('127.0.0.9', 9);
    let err: unknown = null;
    c.on('error', (e) => {
      err = e;
    });
    await clock.advance(2_999);
    expect(err).toBeNull();
    expect(sent.length).toBe(2);
    await clock.advance(1);
    expect(err).toMatchObject({ code: 'ETIMEDOUT', errno: 'ETIMEDOUT' });
    expect(sent.every((m) => m[0] === 0x41)).toBe(true);
    await sock.close();
  });
});

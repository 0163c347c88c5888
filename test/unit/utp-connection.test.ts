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
  /** Drops every packet a → b (or b → a) for which this returns true, on top of `loss`. */
  dropAB?: (msg: Buffer, n: number) => boolean;
  dropBA?: (msg: Buffer, n: number) => boolean;
}

/** Two endpoints, "a" (127.0.0.1:1000) and "b" (127.0.0.2:2000), joined by a simulated path. */
class SimLink {
  readonly cfg: LinkConfig;
  sentAB = 0;
  sentBA = 0;
  private readonly ends: Record<'a' | 'b', UtpSocket | null> = { a: null, b: null };
  private readonly rng: () => number;
  private readonly clock: FakeClock;
  static readonly addr: Record<'a' | 'b', RemoteInfo> = { a: { address: '127.0.0.1', port: 1000 }, b: { address: '127.0.0.2', port: 2000 } };

  constructor(clock: FakeClock, seed: number, cfg: Partial<LinkConfig> = {}) {
    this.clock = clock;
    this.rng = prng(seed);
    this.cfg = { delayMs: 10, jitterMs: 0, loss: 0, duplicate: 0, ...cfg };
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
    const copies = this.rng() < this.cfg.duplicate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = this.cfg.delayMs + this.rng() * this.cfg.jitterMs;
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
    console.log('loss', r.simMs, p.client.stats, p.server.stats, p.client.cwnd);
    await closeAll(p);
  });

  it('moves 4 MiB over a 200 ms RTT path with 1% loss', async () => {
    const p = await makePair(4, { delayMs: 100, loss: 0.01 });
    const data = pattern(4 << 20, 4);
    const r = await transfer(p, p.client, p.server, data, 600_000, 50);
    expect(sha1(r.received)).toBe(sha1(data));
    expect(p.client.smoothedRttMs).toBeGreaterThanOrEqual(200);
    console.log('200ms', r.simMs, p.client.stats, p.client.cwnd);
    await closeAll(p);
  });
});

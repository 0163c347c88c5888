/**
 * Rc4Socket, the light stream an RC4 connection runs over once its MSE handshake is done, over
 * real loopback sockets: bytes unchanged both ways (the caller's buffers untouched), a corked
 * batch as one encrypted socket write, the dialer's shared read buffer decrypted in place with
 * BEP 3 messages split across reads, back-pressure (pause stops reading the socket), and close
 * and error reaching its owner, and a held write that asked to wait always followed by a drain.
 * Every socket and server is closed by the end of its test.
 */
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { acceptIncoming, mseConnect, mseRc4, Rc4Socket } from '../../src/mse/index.js';
import { acceptStream, READ_BUFFER_BYTES, tcpDialer } from '../../src/session/connector.js';
import { systemClock } from '../../src/util/clock.js';
import { PeerConnection, WRITE_LIMIT_BYTES, type CloseReason } from '../../src/peer/index.js';
import { encodeMessage, encodePieceHeader, Framer, maxMessageBytes, type Message } from '../../src/wire/index.js';
import { FakeClock } from '../helpers/fake-clock.js';

const IH = createHash('sha1').update('rc4 socket test').digest();
const BT_HANDSHAKE = Buffer.concat([Buffer.from('\x13BitTorrent protocol', 'latin1'), Buffer.alloc(8), IH, Buffer.alloc(20, 0x42)]);
const clock = systemClock();
const TIMEOUT_MS = 10_000;

const open: Array<{ destroy(): unknown } | Server> = [];
afterEach(async () => {
  const all = open.splice(0);
  for (const s of all) if (!('listen' in s)) s.destroy();
  for (const s of all) if ('listen' in s) await new Promise<void>((r) => s.close(() => r()));
});

async function tcpPair(): Promise<[Socket, Socket]> {
  const server = createServer();
  open.push(server);
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const client = connect(port, '127.0.0.1');
  await new Promise<void>((r, j) => client.once('connect', r).once('error', j));
  const serverSide = await accepted;
  open.push(client, serverSide);
  return [client, serverSide];
}

/** Both ends of an RC4 connection as Rc4Sockets reading 'data' events, plus their sockets. */
async function rc4Pair(): Promise<{ out: Rc4Socket; inc: Rc4Socket; c: Socket; s: Socket }> {
  const [c, s] = await tcpPair();
  const [o, i] = await Promise.all([
    mseConnect(c, { infoHash: IH, allowPlaintext: false, clock, randomBytes, timeoutMs: TIMEOUT_MS }),
    acceptIncoming(s, { allowPlaintext: false, allowEncrypted: true, infoHashes: [IH], clock, randomBytes, timeoutMs: TIMEOUT_MS }),
  ]);
  const light = (stream: typeof o.stream): Rc4Socket => {
    const d = stream.detach()!;
    expect(d.head.reduce((n, h) => n + h.length, 0)).toBe(0);
    const r = new Rc4Socket(d.socket, d.encryptor!, d.decryptor!, { externalReads: false });
    open.push(r);
    r.resume(); // handed over paused, as the peer connection receives it
    return r;
  };
  return { out: light(o.stream), inc: light(i.stream), c, s };
}

function collect(s: { on(e: 'data', l: (c: Buffer) => void): unknown; off(e: 'data', l: (c: Buffer) => void): unknown }, n: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let have = 0;
    const onData = (c: Buffer): void => {
      parts.push(Buffer.from(c));
      have += c.length;
      if (have >= n) {
        s.off('data', onData);
        resolve(Buffer.concat(parts));
      }
    };
    s.on('data', onData);
  });
}

/** Counts the writes handed to `socket` (each one encrypted buffer). */
function countWrites(socket: Duplex): { n: number } {
  const count = { n: 0 };
  const write = socket.write.bind(socket) as (chunk: Buffer) => boolean;
  (socket as unknown as { write: (chunk: Buffer) => boolean }).write = (chunk: Buffer) => {
    count.n++;
    return write(chunk);
  };
  return count;
}

describe('Rc4Socket over data events', () => {
  it('carries bytes unchanged both ways, and never modifies the buffers written to it', async () => {
    const { out, inc } = await rc4Pair();
    const toServer = Array.from({ length: 40 }, (_, k) => randomBytes(1 + ((k * 7919) % 70_000)));
    const toClient = Array.from({ length: 30 }, (_, k) => randomBytes(1 + ((k * 104_729) % 90_000)));
    const copies = [...toServer, ...toClient].map((b) => Buffer.from(b));
    const total = (l: Buffer[]): number => l.reduce((n, b) => n + b.length, 0);
    const atServer = collect(inc, total(toServer));
    const atClient = collect(out, total(toClient));
    // Some corked (one batch), some not, in one stream order.
    toServer.forEach((b, k) => {
      if (k % 5 === 0) out.cork();
      out.write(b);
      if (k % 5 === 4) out.uncork();
    });
    for (const b of toClient) inc.write(b);
    expect((await atServer).equals(Buffer.concat(toServer))).toBe(true);
    expect((await atClient).equals(Buffer.concat(toClient))).toBe(true);
    // Buffer.equals, not toEqual: a deep compare of megabytes byte by byte takes seconds.
    expect([...toServer, ...toClient].every((b, k) => b.equals(copies[k]!))).toBe(true);
  });

  it('holds corked writes (counted in writableLength) and the outermost uncork makes one socket write', async () => {
    const { out, inc, c } = await rc4Pair();
    const writes = countWrites(c);
    const parts = Array.from({ length: 50 }, (_, k) => Buffer.alloc(100 + k, k));
    const bytes = parts.reduce((n, p) => n + p.length, 0);
    const got = collect(inc, bytes);
    out.cork();
    out.cork();
    for (const p of parts) out.write(p);
    expect(out.writableLength).toBe(bytes);
    out.uncork(); // inner: still held
    expect(writes.n).toBe(0);
    expect(out.writableLength).toBe(bytes);
    out.uncork();
    expect(writes.n).toBe(1);
    expect(out.writableLength).toBeLessThanOrEqual(bytes);
    expect((await got).equals(Buffer.concat(parts))).toBe(true);
  });

  it("destroy() closes the socket; the far side sees 'end' and 'close'; later writes are dropped", async () => {
    const { out, inc, c } = await rc4Pair();
    const ended = new Promise((r) => inc.once('end', r));
    const closed = new Promise((r) => inc.once('close', r));
    out.destroy();
    expect(out.destroyed).toBe(true);
    expect(c.destroyed).toBe(true);
    expect(out.write(Buffer.from('late'))).toBe(false);
    await ended;
    await closed;
  });

  it("a socket error reaches it as 'error', and one nobody listens to is not thrown", async () => {
    const { out, c } = await rc4Pair();
    const err = new Promise<Error>((r) => out.once('error', r));
    c.destroy(new Error('boom'));
    expect((await err).message).toBe('boom');
    const other = await rc4Pair();
    expect(other.inc.listenerCount('error')).toBe(0);
    const closed = new Promise((r) => other.inc.once('close', r));
    other.s.destroy(new Error('nobody listens'));
    await closed;
  });
});

describe('Rc4Socket over the dialer: reads decrypted in place in the shared buffer', () => {
  /** An RC4 connection from tcpDialer ('require') to a server running acceptStream. */
  async function dialRc4(): Promise<{ far: Rc4Socket; farSocket: Socket; dial: Awaited<ReturnType<ReturnType<typeof tcpDialer>['dial']>> }> {
    const server = createServer();
    open.push(server);
    const accepted = new Promise<Socket>((r) => server.once('connection', r));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const dialer = tcpDialer({ encryption: 'require', transport: 'tcp', utp: () => null, handshake: BT_HANDSHAKE, infoHash: IH, clock, randomBytes });
    const dialing = dialer.dial({ host: '127.0.0.1', port }, TIMEOUT_MS, new AbortController().signal);
    const farSocket = await accepted;
    open.push(farSocket);
    const [dial, a] = await Promise.all([dialing, acceptStream(farSocket, 'tcp', { encryption: 'require', infoHash: IH, clock, randomBytes })]);
    open.push(dial.stream);
    expect(dial.transport).toBe('tcp+rc4');
    expect(a.transport).toBe('tcp+rc4');
    expect(dial.stream).toBeInstanceOf(Rc4Socket);
    expect(a.stream).toBeInstanceOf(Rc4Socket);
    expect(Buffer.concat(a.head ?? [])).toEqual(BT_HANDSHAKE); // our IA, decrypted
    const far = a.stream as Rc4Socket;
    far.resume();
    return { far, farSocket, dial };
  }

  it('BEP 3 messages split at any read boundary decode from one reused buffer, with no copy per read', async () => {
    const { far, dial } = await dialRc4();
    // Pieces of random sizes with small messages between them: every kind of split occurs.
    const sent: Message[] = [];
    const frames: Buffer[] = [];
    for (let k = 0; k < 400; k++) {
      const block = randomBytes(1 + ((k * 7919) % 16_384));
      sent.push({ type: 'piece', index: k, begin: 0, block });
      frames.push(encodePieceHeader(k, 0, block.length), block);
      const have: Message = { type: 'have', index: k };
      sent.push(have);
      frames.push(encodeMessage(have));
    }
    const framer = new Framer({ maxMessageBytes: 1 << 20 });
    const got: Message[] = [];
    const arrays = new Set<ArrayBufferLike>();
    let sharedReads = 0;
    const done = new Promise<void>((resolve) => {
      dial.bindReader!((chunk, shared) => {
        arrays.add(chunk.buffer);
        if (shared) sharedReads++;
        framer.push(chunk);
        for (let m = framer.next(); m !== null; m = framer.next()) got.push(m.type === 'piece' ? { ...m, block: Buffer.from(m.block) } : m);
        if (shared) framer.detach();
        if (got.length === sent.length) resolve();
      });
    });
    for (const h of dial.head ?? []) framer.push(h);
    dial.stream.resume();
    for (let k = 0; k < frames.length; k += 3) {
      far.cork();
      for (const f of frames.slice(k, k + 3)) far.write(f);
      far.uncork();
    }
    await done;
    expect(got.map((m) => m.type)).toEqual(sent.map((m) => m.type));
    const same = (a: Message, b: Message): boolean =>
      a.type === 'piece' && b.type === 'piece' ? a.index === b.index && a.begin === b.begin && a.block.equals(b.block) : JSON.stringify(a) === JSON.stringify(b);
    expect(got.every((m, k) => same(m, sent[k]!))).toBe(true);
    expect(sharedReads).toBeGreaterThan(0);
    // Every read landed in the dialer's one shared buffer: decrypted there, never copied out first.
    expect(arrays.size).toBe(1);
    expect([...arrays][0]!.byteLength).toBeGreaterThanOrEqual(READ_BUFFER_BYTES);
  });

  it('pause() stops reading the socket: the far side is left blocked, then resume() delivers every byte in order', async () => {
    const { far, farSocket, dial } = await dialRc4();
    const total = 32 * 1024 * 1024;
    const data = randomBytes(total);
    const parts: Buffer[] = [];
    let received = 0;
    let paused = false;
    let readsWhilePaused = 0;
    let finish: () => void = () => {};
    const done = new Promise<void>((r) => (finish = r));
    dial.bindReader!((chunk) => {
      if (paused) readsWhilePaused++;
      parts.push(Buffer.from(chunk));
      received += chunk.length;
      if (received === total) finish();
      if (!paused && readsWhilePaused === 0 && parts.length === 1) {
        dial.stream.pause(); // from inside a read, as a peer connection does
        paused = true;
      }
    });
    dial.stream.resume();
    for (let o = 0; o < total; o += 256 * 1024) far.write(data.subarray(o, o + 256 * 1024));
    // The proof that nothing reads: the far side's queue stops shrinking while most of the
    // 32 MiB is still in it (loopback kernel buffers hold a few MiB at most).
    let last = -1;
    for (let polls = 0, still = 0; still < 10 && polls < 500; polls++) {
      await new Promise((r) => setTimeout(r, 10));
      const now = farSocket.writableLength;
      still = now === last ? still + 1 : 0;
      last = now;
    }
    expect(paused).toBe(true);
    expect(far.writableLength).toBeGreaterThan(total / 2);
    expect(readsWhilePaused).toBe(0);
    expect(received).toBeLessThan(total / 2);
    paused = false;
    dial.stream.resume();
    await done;
    expect(Buffer.concat(parts).equals(data)).toBe(true);
  });

  it('a peer connection over it keeps its write bounds: a peer that never reads pauses our reads, then is closed as slow-reader', async () => {
    const { dial } = await dialRc4(); // the far side never reads what we send
    const closes: Array<{ reason: CloseReason; detail: string }> = [];
    const handler = { onOpen() {}, onMessage() {}, onDrain() {}, onBug() {}, onClose: (_p: unknown, reason: CloseReason, detail: string) => closes.push({ reason, detail }) };
    const conn = new PeerConnection(
      { id: 1, stream: dial.stream, address: { host: '127.0.0.1', port: 1 }, outgoing: true, externalReads: true, transport: dial.transport, handshakeSent: true },
      { infoHash: IH, peerId: randomBytes(20), reserved: Buffer.alloc(8), maxMessageBytes: maxMessageBytes(100), handshakeTimeoutMs: 60_000, clock: new FakeClock() },
      handler,
    );
    const pauses: number[] = [];
    const rc4 = dial.stream as Rc4Socket;
    const socketPause = rc4.pause.bind(rc4);
    rc4.pause = () => {
      pauses.push(rc4.writableLength);
      return socketPause();
    };
    const block = randomBytes(16 * 1024);
    const copy = Buffer.from(block);
    let sent = 0;
    // Far more than the kernel's loopback buffers and the limit together: the bound must act.
    while (!conn.isClosed && sent < 64 * 1024 * 1024) {
      conn.sendPiece(0, 0, block);
      sent += block.length;
    }
    expect(closes).toEqual([{ reason: 'slow-reader', detail: expect.stringMatching(/bytes queued and not read/) }]);
    expect(pauses.length).toBeGreaterThan(0);
    expect(sent).toBeLessThan(64 * 1024 * 1024);
    expect(sent).toBeGreaterThan(WRITE_LIMIT_BYTES);
    expect(dial.stream.destroyed).toBe(true);
    expect(block.equals(copy)).toBe(true); // encrypted into buffers of its own, never in place
  });
});

/**
 * A socket whose own queue the test empties: the kernel takes each write whole (write returns
 * true), so, having never asked anyone to wait, it emits no 'drain' of its own.
 */
class QuietSocket extends EventEmitter {
  writableLength = 0;
  readonly writableHighWaterMark = 16384;
  destroyed = false;
  readonly written: Buffer[] = [];
  write(chunk: Buffer): boolean {
    this.written.push(Buffer.from(chunk));
    return true;
  }
  pause(): this {
    return this;
  }
  resume(): this {
    return this;
  }
  destroy(): this {
    this.destroyed = true;
    return this;
  }
}

describe('Rc4Socket drain', () => {
  it('emits drain after a held write asked to wait, though the socket took the batch whole', async () => {
    const socket = new QuietSocket();
    const key = Buffer.alloc(20, 9);
    const r = new Rc4Socket(socket as unknown as Duplex, mseRc4(key), mseRc4(key), { externalReads: true });
    let drains = 0;
    r.on('drain', () => drains++);
    socket.writableLength = 10_000; // the socket's last write still queued
    r.cork();
    expect(r.write(Buffer.alloc(4000))).toBe(true);
    expect(r.write(Buffer.alloc(4000))).toBe(false); // 18,000 bytes queued: wait for 'drain'
    socket.writableLength = 0; // the kernel took the earlier write: no 'drain', nobody was told to wait
    r.uncork();
    expect(socket.written.map((b) => b.length)).toEqual([8000]);
    expect(drains).toBe(0); // on a later turn, as a stream's drain
    await Promise.resolve();
    expect(drains).toBe(1);
    // A batch that never asked to wait gets no drain.
    r.cork();
    expect(r.write(Buffer.alloc(100))).toBe(true);
    r.uncork();
    await Promise.resolve();
    expect(drains).toBe(1);
    r.destroy();
  });

  it('forwards the socket\'s own drain once, without adding one', async () => {
    const socket = new QuietSocket();
    const key = Buffer.alloc(20, 3);
    const r = new Rc4Socket(socket as unknown as Duplex, mseRc4(key), mseRc4(key), { externalReads: true });
    let drains = 0;
    r.on('drain', () => drains++);
    r.cork();
    expect(r.write(Buffer.alloc(20_000))).toBe(false);
    socket.write = (chunk: Buffer): boolean => (socket.written.push(Buffer.from(chunk)), false); // the socket asks to wait too
    r.uncork();
    await Promise.resolve();
    expect(drains).toBe(0);
    socket.emit('drain');
    await Promise.resolve();
    expect(drains).toBe(1);
    r.destroy();
  });
});


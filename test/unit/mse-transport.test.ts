/**
 * The MSE transport over real loopback sockets: mseConnect against acceptIncoming, plaintext
 * sniffing and replay, refusals, the deadline on a fake clock, back-pressure both ways, and
 * close/destroy propagation. Every socket and server is closed by the end of its test.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { acceptIncoming, MseError, mseConnect, type MseStream } from '../../src/mse/index.js';
import { systemClock } from '../../src/util/clock.js';
import { FakeClock } from '../helpers/fake-clock.js';

const IH = createHash('sha1').update('transport test').digest();
const BT_HANDSHAKE = Buffer.concat([Buffer.from('\x13BitTorrent protocol', 'latin1'), Buffer.alloc(8), IH, Buffer.alloc(20, 0x41)]);
const clock = systemClock();
const TIMEOUT_MS = 10_000;

const open: Array<Socket | Server> = [];
afterEach(async () => {
  for (const s of open.splice(0)) {
    if ('destroy' in s) s.destroy();
    else await new Promise<void>((r) => s.close(() => r()));
  }
});

/** A connected pair of loopback sockets: [the dialler's, the listener's]. */
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

async function readExactly(s: MseStream, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let have = 0;
  for await (const c of s) {
    parts.push(c as Buffer);
    have += (c as Buffer).length;
    if (have >= n) break;
  }
  return Buffer.concat(parts);
}

function collect(s: MseStream, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let have = 0;
    const onData = (c: Buffer): void => {
      parts.push(c);
      have += c.length;
      if (have >= n) {
        s.off('data', onData);
        resolve(Buffer.concat(parts));
      }
    };
    s.on('data', onData);
    s.once('error', reject);
  });
}

describe('mseConnect against acceptIncoming', () => {
  it('RC4: IA arrives first, then both directions carry bytes unchanged', async () => {
    const [c, s] = await tcpPair();
    const [out, inc] = await Promise.all([
      mseConnect(c, { infoHash: IH, allowPlaintext: false, initialPayload: BT_HANDSHAKE, clock, randomBytes, timeoutMs: TIMEOUT_MS }),
      acceptIncoming(s, { allowPlaintext: false, allowEncrypted: true, infoHashes: [randomBytes(20), IH], clock, randomBytes, timeoutMs: TIMEOUT_MS }),
    ]);
    expect(out.method).toBe('rc4');
    expect(out.stream.encrypted).toBe(true);
    expect(inc.encrypted).toBe(true);
    expect(inc.infoHash).toEqual(IH);
    const toServer = randomBytes(300_000);
    const toClient = randomBytes(200_000);
    const serverGets = collect(inc.stream, BT_HANDSHAKE.length + toServer.length);
    const clientGets = collect(out.stream, toClient.length);
    out.stream.write(toServer);
    inc.stream.write(toClient);
    expect(await serverGets).toEqual(Buffer.concat([BT_HANDSHAKE, toServer]));
    expect(await clientGets).toEqual(toClient);
    out.stream.destroy();
    inc.stream.destroy();
  });

  it('encryption off: an MSE handshake is refused, even one offering plaintext', async () => {
    const [c, s] = await tcpPair();
    const [out, inc] = await Promise.allSettled([
      mseConnect(c, { infoHash: IH, allowPlaintext: true, initialPayload: BT_HANDSHAKE, clock, randomBytes, timeoutMs: TIMEOUT_MS }),
      acceptIncoming(s, { allowPlaintext: true, allowEncrypted: false, infoHashes: [IH], clock, randomBytes, timeoutMs: TIMEOUT_MS }),
    ]);
    expect(inc.status === 'rejected' && (inc.reason as MseError).reason).toBe('encrypted-refused');
    expect(out.status === 'rejected' && (out.reason as MseError).reason).toBe('closed');
  });

  it('MSE with plaintext selected: offered both, a receiver that allows both takes plaintext', async () => {
    const [c, s] = await tcpPair();
    const [out, inc] = await Promise.all([
      mseConnect(c, { infoHash: IH, allowPlaintext: true, initialPayload: BT_HANDSHAKE, clock, randomBytes, timeoutMs: TIMEOUT_MS }),
      acceptIncoming(s, { allowPlaintext: true, allowEncrypted: true, infoHashes: [IH], clock, randomBytes, timeoutMs: TIMEOUT_MS }),
    ]);
    // Offered both: the receiver takes plaintext, as libtorrent does by default.
    expect(out.method).toBe('plaintext');
    expect(inc.encrypted).toBe(false);
    expect(inc.infoHash).toEqual(IH);
    out.stream.destroy();
    inc.stream.destroy();
  });

  it('a plaintext BitTorrent handshake is recognised and replayed, split at any byte', async () => {
    const [c, s] = await tcpPair();
    c.setNoDelay(true);
    const accepted = acceptIncoming(s, { allowPlaintext: true, allowEncrypted: true, infoHashes: [IH], clock, randomBytes, timeoutMs: TIMEOUT_MS });
    // The prefix in two pieces, the second carrying the rest of the handshake and more.
    c.write(BT_HANDSHAKE.subarray(0, 7));
    await new Promise((r) => setTimeout(r, 20));
    c.write(Buffer.concat([BT_HANDSHAKE.subarray(7), Buffer.from('after')]));
    const r = await accepted;
    expect(r.encrypted).toBe(false);
    expect(r.infoHash).toBeNull();
    expect(await readExactly(r.stream, BT_HANDSHAKE.length + 5)).toEqual(Buffer.concat([BT_HANDSHAKE, Buffer.from('after')]));
    r.stream.destroy();
  });

  it('plaintext refused when only encryption is allowed; the socket is closed', async () => {
    const [c, s] = await tcpPair();
    const closed = new Promise((r) => c.once('close', r));
    c.on('error', () => {});
    const accepted = acceptIncoming(s, { allowPlaintext: false, allowEncrypted: true, infoHashes: [IH], clock, randomBytes, timeoutMs: TIMEOUT_MS });
    c.write(BT_HANDSHAKE);
    await expect(accepted).rejects.toMatchObject({ reason: 'plaintext-refused' });
    await closed;
    expect(s.destroyed).toBe(true);
  });

  it('an unknown torrent: the receiver refuses, and the initiator learns the connection closed', async () => {
    const [c, s] = await tcpPair();
    const [out, inc] = await Promise.allSettled([
      mseConnect(c, { infoHash: IH, allowPlaintext: false, initialPayload: BT_HANDSHAKE, clock, randomBytes, timeoutMs: TIMEOUT_MS }),
      acceptIncoming(s, { allowPlaintext: true, allowEncrypted: true, infoHashes: [randomBytes(20)], clock, randomBytes, timeoutMs: TIMEOUT_MS }),
    ]);
    expect(inc.status === 'rejected' && (inc.reason as MseError).reason).toBe('unknown-torrent');
    expect(out.status === 'rejected' && (out.reason as MseError).reason).toBe('closed');
  });

  it('the deadline comes from the injected clock: a silent peer fails with reason timeout', async () => {
    const [c, s] = await tcpPair();
    const fake = new FakeClock();
    c.on('error', () => {});
    const closed = new Promise((r) => c.once('close', r));
    const accepted = acceptIncoming(s, { allowPlaintext: true, allowEncrypted: true, infoHashes: [IH], clock: fake, randomBytes, timeoutMs: 5000 });
    let settled = false;
    accepted.catch(() => {}).finally(() => (settled = true));
    await fake.advance(4999);
    expect(settled).toBe(false);
    await fake.advance(1);
    await expect(accepted).rejects.toMatchObject({ reason: 'timeout' });
    expect(fake.timerCount).toBe(0);
    await closed;
  });
});

describe('back-pressure and close', () => {
  async function rc4Pair(): Promise<[MseStream, MseStream, Socket, Socket]> {
    const [c, s] = await tcpPair();
    const [out, inc] = await Promise.all([
      mseConnect(c, { infoHash: IH, allowPlaintext: false, clock, randomBytes, timeoutMs: TIMEOUT_MS }),
      acceptIncoming(s, { allowPlaintext: false, allowEncrypted: true, infoHashes: [IH], clock, randomBytes, timeoutMs: TIMEOUT_MS }),
    ]);
    return [out.stream, inc.stream, c, s];
  }

  it('a reader that does not read pauses the socket; the writer sees write() return false; every byte arrives in order', async () => {
    const [out, inc, , s] = await rc4Pair();
    const data = randomBytes(8 * 1024 * 1024);
    let sawFalse = false;
    const paused = new Promise((r) => s.once('pause', r));
    inc.read(0); // one read request resumes the socket; nothing reads after it
    for (let o = 0; o < data.length; o += 64 * 1024) if (!out.write(data.subarray(o, o + 64 * 1024))) sawFalse = true;
    await paused;
    // The receiving side stopped reading the socket instead of buffering the 8 MiB.
    expect(s.isPaused()).toBe(true);
    expect(inc.readableLength).toBeLessThan(inc.readableHighWaterMark + 256 * 1024);
    expect(sawFalse).toBe(true);
    const got = await collect(inc, data.length);
    expect(got.equals(data)).toBe(true);
    out.destroy();
    inc.destroy();
  });

  it('cork/uncork sends a batch as one encrypted write and it decrypts in order', async () => {
    const [out, inc] = await rc4Pair();
    const parts = Array.from({ length: 50 }, (_, k) => Buffer.alloc(100 + k, k));
    const gets = collect(inc, parts.reduce((n, p) => n + p.length, 0));
    out.cork();
    for (const p of parts) out.write(p);
    out.uncork();
    expect(await gets).toEqual(Buffer.concat(parts));
    out.destroy();
    inc.destroy();
  });

  it("destroy() closes the socket, and the far side's stream ends and closes", async () => {
    const [out, inc, c] = await rc4Pair();
    const farClosed = new Promise((r) => inc.once('close', r));
    inc.resume();
    out.destroy();
    await farClosed;
    expect(c.destroyed).toBe(true);
  });

  it("a socket error reaches the stream as 'error' and closes it", async () => {
    const [out, inc, c] = await rc4Pair();
    const err = new Promise<Error>((r) => out.once('error', r));
    c.destroy(new Error('boom'));
    expect((await err).message).toBe('boom');
    inc.destroy();
  });

  it('the caller\'s buffer is not modified by an encrypted write', async () => {
    const [out, inc] = await rc4Pair();
    const block = Buffer.alloc(16384, 0x5a);
    const gets = collect(inc, block.length);
    out.write(block);
    expect(await gets).toEqual(Buffer.alloc(16384, 0x5a));
    expect(block).toEqual(Buffer.alloc(16384, 0x5a));
    out.destroy();
    inc.destroy();
  });
});

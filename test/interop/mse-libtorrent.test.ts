/**
 * MSE/PE against python3-libtorrent forcing encryption (pe_forced both ways, RC4 only), at the
 * stream level: no session, just our transport and the wire codec.
 * - We dial its seeder with mseConnect (plaintext not offered), our BitTorrent handshake as IA:
 *   its handshake and bitfield come back decrypted, and one requested block matches the file.
 * - It dials our acceptIncoming server: the handshake decrypts, names the torrent's info hash,
 *   and after our reply its bitfield arrives intact.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptIncoming, mseConnect, type MseStream } from '../../src/mse/index.js';
import { systemClock } from '../../src/util/clock.js';
import {
  decodeHandshake,
  encodeHandshake,
  encodeMessage,
  Framer,
  HANDSHAKE_BYTES,
  makePeerId,
  maxMessageBytes,
  reservedBits,
  type Message,
} from '../../src/wire/index.js';
import { repoRoot } from '../helpers/corpus.js';
import { ltCreate } from '../helpers/lt.js';
import { bytes } from '../helpers/make-torrent.js';
import { startProcess, type Proc } from '../helpers/processes.js';

const PY = '/usr/bin/python3';
const SCRIPT = join(repoRoot, 'test', 'helpers', 'lt_mse_peer.py');
const PIECE_LENGTH = 64 * 1024;
const BLOCK = 16 * 1024;
const data = bytes(5 * PIECE_LENGTH + 1000, 12);
const pieceCount = Math.ceil(data.length / PIECE_LENGTH);
const clock = systemClock();

const work = mkdtempSync(join(tmpdir(), 'torrent-mse-lt-'));
const seedDir = join(work, 'seed');
const torrent = join(work, 'data.torrent');
const procs: Proc[] = [];
const sockets: Socket[] = [];
let server: Server | null = null;

beforeAll(async () => {
  mkdirSync(seedDir);
  writeFileSync(join(seedDir, 'data.bin'), data);
  await ltCreate(join(seedDir, 'data.bin'), torrent, { pieceLength: PIECE_LENGTH });
}, 60_000);

afterAll(async () => {
  for (const s of sockets) s.destroy();
  if (server) await new Promise<void>((r) => server!.close(() => r()));
  await Promise.all(procs.map((p) => p.kill()));
  rmSync(work, { recursive: true, force: true });
});

async function startLt(mode: 'seed' | 'dial', extra: string[] = []): Promise<{ port: number; infoHash: Buffer; proc: Proc }> {
  const proc = startProcess(PY, [SCRIPT, mode, torrent, seedDir, ...extra]);
  procs.push(proc);
  const m = await proc.waitFor(/ready (\d+) ([0-9a-f]{40})/, 60_000);
  return { port: Number(m[1]), infoHash: Buffer.from(m[2]!, 'hex'), proc };
}

/** Reads the stream through a Framer: first the 68-byte handshake, then messages. */
function reader(stream: MseStream) {
  const framer = new Framer({ maxMessageBytes: maxMessageBytes(pieceCount) });
  const queue: Buffer[] = [];
  let wake: (() => void) | null = null;
  let failed: Error | null = null;
  stream.on('data', (c: Buffer) => {
    queue.push(c);
    wake?.();
  });
  stream.on('error', (e) => {
    failed = e;
    wake?.();
  });
  stream.on('close', () => {
    failed ??= new Error('stream closed');
    wake?.();
  });
  const more = async (): Promise<void> => {
    while (queue.length === 0) {
      if (failed) throw failed;
      await new Promise<void>((r) => (wake = r));
      wake = null;
    }
    for (const c of queue.splice(0)) framer.push(c);
  };
  return {
    async handshake() {
      for (;;) {
        const raw = framer.takeRaw(HANDSHAKE_BYTES);
        if (raw) return decodeHandshake(raw)!;
        await more();
      }
    },
    /** The next message that is not a keep-alive and matches `types`. */
    async until(types: Message['type'][]): Promise<Message> {
      for (;;) {
        for (let m = framer.next(); m; m = framer.next()) if (types.includes(m.type)) return m;
        await more();
      }
    },
  };
}

function ourHandshake(infoHash: Buffer): Buffer {
  return encodeHandshake({ reserved: reservedBits({}), infoHash, peerId: makePeerId(randomBytes) });
}

function expectAllPieces(m: Message): void {
  if (m.type === 'have-all') return;
  expect(m.type).toBe('bitfield');
  if (m.type !== 'bitfield') return;
  const full = Buffer.alloc(Math.ceil(pieceCount / 8), 0xff);
  full[full.length - 1] = (0xff << (8 - (pieceCount % 8 || 8))) & 0xff;
  expect(m.bitfield).toEqual(full);
}

describe('MSE/PE with python3-libtorrent forcing RC4', () => {
  it('we dial its seeder: handshake and bitfield decrypt, and a requested block matches the file', async () => {
    const lt = await startLt('seed');
    const socket = connect(lt.port, '127.0.0.1');
    sockets.push(socket);
    await new Promise<void>((r, j) => socket.once('connect', r).once('error', j));
    const { stream, method } = await mseConnect(socket, {
      infoHash: lt.infoHash,
      allowPlaintext: false,
      initialPayload: ourHandshake(lt.infoHash),
      clock,
      randomBytes,
      timeoutMs: 20_000,
    });
    expect(method).toBe('rc4');
    expect(stream.encrypted).toBe(true);
    const r = reader(stream);
    const hs = await r.handshake();
    expect(hs.infoHash).toEqual(lt.infoHash);
    expectAllPieces(await r.until(['bitfield', 'have-all']));
    stream.write(encodeMessage({ type: 'interested' }));
    await r.until(['unchoke']);
    const index = 2;
    const begin = BLOCK;
    stream.write(encodeMessage({ type: 'request', index, begin, length: BLOCK }));
    const piece = await r.until(['piece']);
    if (piece.type !== 'piece') throw new Error(piece.type);
    expect([piece.index, piece.begin]).toEqual([index, begin]);
    const offset = index * PIECE_LENGTH + begin;
    expect(piece.block.equals(data.subarray(offset, offset + BLOCK))).toBe(true);
    stream.destroy();
  }, 90_000);

  it('the same seeder closes a plaintext connection without answering (encryption really is forced)', async () => {
    const lt = await startLt('seed');
    const socket = connect(lt.port, '127.0.0.1');
    sockets.push(socket);
    socket.on('error', () => {});
    await new Promise<void>((r, j) => socket.once('connect', r).once('error', j));
    let received = 0;
    socket.on('data', (c: Buffer) => (received += c.length));
    const closed = new Promise((r) => socket.once('close', r));
    socket.write(ourHandshake(lt.infoHash));
    await closed;
    expect(received).toBe(0);
  }, 90_000);

  it('it dials our acceptIncoming server: the decrypted handshake names the torrent, and its bitfield follows ours', async () => {
    server = createServer();
    const incoming = new Promise<Socket>((r) => server!.once('connection', r));
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const lt = await startLt('dial', [`127.0.0.1:${port}`]);
    const socket = await incoming;
    sockets.push(socket);
    const res = await acceptIncoming(socket, {
      allowPlaintext: false,
      allowEncrypted: true,
      infoHashes: [randomBytes(20), lt.infoHash],
      clock,
      randomBytes,
      timeoutMs: 20_000,
    });
    expect(res.encrypted).toBe(true);
    expect(res.infoHash).toEqual(lt.infoHash);
    const r = reader(res.stream);
    const hs = await r.handshake();
    expect(hs.infoHash).toEqual(lt.infoHash);
    res.stream.write(ourHandshake(lt.infoHash));
    res.stream.write(encodeMessage({ type: 'bitfield', bitfield: Buffer.alloc(Math.ceil(pieceCount / 8)) }));
    expectAllPieces(await r.until(['bitfield', 'have-all']));
    res.stream.destroy();
  }, 90_000);
});

/**
 * uTP against Transmission's libutp: a `transmission-cli` seeder (uTP is on by default; its UDP
 * port is its peer port) serves a file we download through our UtpSocket, speaking the BitTorrent
 * wire protocol with the src/wire codecs. transmission-cli cannot be told to dial a peer, so only
 * this direction is covered here. Loopback only; the process, socket and temp folder are cleaned up.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseTorrent } from '../../src/metainfo/index.js';
import { systemClock } from '../../src/util/clock.js';
import { UtpSocket, type UtpConnection } from '../../src/utp/index.js';
import { decodeHandshake, encodeHandshake, encodeMessage, Framer, maxMessageBytes } from '../../src/wire/index.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';
import { transmissionConfig, transmissionRun, type RealPeer } from '../helpers/real-clients.js';

const PIECE = 32 * 1024;
const BLOCK = 16 * 1024;
const work = mkdtempSync(join(tmpdir(), 'torrent-utp-tr-'));
const data = bytes(3 * 1024 * 1024 + 777, 41);
const pieceCount = Math.ceil(data.length / PIECE);
let seeder: RealPeer | null = null;
let sock: UtpSocket | null = null;

const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');

/** One attempt: handshake, interested, every block; resolves with the bytes or rejects. */
function download(conn: UtpConnection, infoHash: Buffer, timeoutMs: number): Promise<Buffer> {
  const framer = new Framer({ maxMessageBytes: maxMessageBytes(pieceCount) });
  const out = Buffer.alloc(data.length);
  const blocks: { index: number; begin: number; length: number }[] = [];
  for (let off = 0; off < data.length; off += BLOCK) blocks.push({ index: Math.floor(off / PIECE), begin: off % PIECE, length: Math.min(BLOCK, data.length - off) });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('incomplete')), timeoutMs);
    const fail = (e: Error): void => {
      clearTimeout(timer);
      reject(e);
    };
    conn.once('connect', () => conn.write(encodeHandshake({ reserved: Buffer.alloc(8), infoHash, peerId: Buffer.concat([Buffer.from('-TS0001-'), randomBytes(12)]) })));
    conn.on('error', fail);
    conn.on('end', () => fail(new Error('closed by transmission')));
    let handshaken = false;
    let unchoked = false;
    let next = 0;
    let inflight = 0;
    let received = 0;
    conn.on('data', (chunk: Buffer) => {
      framer.push(chunk);
      if (!handshaken) {
        const raw = framer.takeRaw(68);
        if (raw === null) return;
        const hs = decodeHandshake(raw)!;
        if (!hs.infoHash.equals(infoHash)) return fail(new Error('wrong info hash'));
        handshaken = true;
        conn.write(encodeMessage({ type: 'interested' }));
      }
      for (let m = framer.next(); m !== null; m = framer.next()) {
        if (m.type === 'unchoke') unchoked = true;
        else if (m.type === 'choke') unchoked = false;
        else if (m.type === 'piece') {
          m.block.copy(out, m.index * PIECE + m.begin);
          received += m.block.length;
          inflight--;
        }
      }
      while (unchoked && inflight < 32 && next < blocks.length) {
        conn.write(encodeMessage({ type: 'request', ...blocks[next]! }));
        next++;
        inflight++;
      }
      if (received === data.length) {
        clearTimeout(timer);
        resolve(out);
      }
    });
  });
}

afterAll(async () => {
  await seeder?.stop();
  await sock?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('uTP interop with transmission-cli (libutp)', () => {
  it('downloads 3 MiB from a transmission-cli seeder over our UtpSocket', async () => {
    const seedDir = join(work, 'seed');
    mkdirSync(seedDir);
    writeFileSync(join(seedDir, 'x.bin'), data);
    const torrentPath = join(work, 'x.torrent');
    writeFileSync(torrentPath, makeTorrent({ name: 'x.bin', pieceLength: PIECE, data }));
    const infoHash = parseTorrent(readFileSync(torrentPath)).infoHash!;
    seeder = await transmissionRun(torrentPath, seedDir, transmissionConfig(work, 'seed'));
    sock = await UtpSocket.bind({ port: 0, host: '127.0.0.1', clock: systemClock(), random: (n) => randomBytes(n) });
    // Transmission drops peers while it verifies its copy: dial again until a download completes.
    let got: Buffer | null = null;
    let lastError = '';
    for (let attempt = 0; attempt < 20 && got === null; attempt++) {
      const conn = sock.connect('127.0.0.1', seeder.port);
      try {
        got = await download(conn, infoHash, 20_000);
      } catch (e) {
        lastError = (e as Error).message;
        conn.destroy();
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    expect(got, `last error: ${lastError}\n${seeder.proc.output().slice(-1500)}`).not.toBeNull();
    expect(sha1(got!)).toBe(sha1(data));
  }, 120_000);
});

/**
 * uTP against python3-libtorrent with TCP disabled (test/helpers/lt_utp_peer.py), at the stream
 * level: our UtpSocket carries the BitTorrent wire protocol (src/wire codecs) both ways.
 * - we dial a uTP-only libtorrent seeder and download a multi-MiB file block by block;
 * - a uTP-only libtorrent leecher dials our UtpSocket and downloads the same file from us.
 * Everything on 127.0.0.1 with port 0; processes, sockets and the temp folder are cleaned up.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTorrent } from '../../src/metainfo/index.js';
import { systemClock } from '../../src/util/clock.js';
import { UtpSocket, type UtpConnection } from '../../src/utp/index.js';
import { decodeHandshake, encodeHandshake, encodeMessage, Framer, maxMessageBytes, type Handshake } from '../../src/wire/index.js';
import { repoRoot } from '../helpers/corpus.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';
import { startProcess, type Proc } from '../helpers/processes.js';

const PY = '/usr/bin/python3';
const SCRIPT = join(repoRoot, 'test', 'helpers', 'lt_utp_peer.py');
const PIECE = 64 * 1024;
const BLOCK = 16 * 1024;
const work = mkdtempSync(join(tmpdir(), 'torrent-utp-lt-'));
const seedDir = join(work, 'seed');
const torrentPath = join(work, 'x.torrent');
const data = bytes(6 * 1024 * 1024 + 12_345, 29);
let infoHash: Buffer;
const procs: Proc[] = [];
const sockets: UtpSocket[] = [];

const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');
const pieceCount = Math.ceil(data.length / PIECE);

async function socket(): Promise<UtpSocket> {
  const s = await UtpSocket.bind({ port: 0, host: '127.0.0.1', clock: systemClock(), random: (n) => randomBytes(n) });
  sockets.push(s);
  return s;
}

function peerId(): Buffer {
  return Buffer.concat([Buffer.from('-TS0001-'), randomBytes(12)]);
}

/** Downloads the whole torrent from one peer over `conn`, pipelining requests. */
function download(conn: Duplex, timeoutMs: number): Promise<{ bytes: Buffer; remote: Handshake }> {
  const framer = new Framer({ maxMessageBytes: maxMessageBytes(pieceCount) });
  const out = Buffer.alloc(data.length);
  const blocks: { index: number; begin: number; length: number }[] = [];
  for (let off = 0; off < data.length; off += BLOCK) {
    blocks.push({ index: Math.floor(off / PIECE), begin: off % PIECE, length: Math.min(BLOCK, data.length - off) });
  }
  conn.write(encodeHandshake({ reserved: Buffer.alloc(8), infoHash, peerId: peerId() }));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`download incomplete after ${timeoutMs} ms`)), timeoutMs);
    let remote: Handshake | null = null;
    let unchoked = false;
    let next = 0;
    let inflight = 0;
    let received = 0;
    conn.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    conn.on('data', (chunk: Buffer) => {
      framer.push(chunk);
      if (remote === null) {
        const raw = framer.takeRaw(68);
        if (raw === null) return;
        remote = decodeHandshake(raw);
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
      while (unchoked && inflight < 64 && next < blocks.length) {
        conn.write(encodeMessage({ type: 'request', ...blocks[next]! }));
        next++;
        inflight++;
      }
      if (received === data.length) {
        clearTimeout(timer);
        resolve({ bytes: out, remote: remote! });
      }
    });
  });
}

/** Serves the whole torrent to the peer on `conn` (it speaks first, as a dialler does). */
function serve(conn: Duplex): Promise<Handshake> {
  const framer = new Framer({ maxMessageBytes: maxMessageBytes(pieceCount) });
  return new Promise((resolve, reject) => {
    let remote: Handshake | null = null;
    conn.on('error', () => {});
    conn.on('data', (chunk: Buffer) => {
      try {
        framer.push(chunk);
        if (remote === null) {
          const raw = framer.takeRaw(68);
          if (raw === null) return;
          remote = decodeHandshake(raw);
          resolve(remote!);
          const bitfield = Buffer.alloc(Math.ceil(pieceCount / 8), 0xff);
          bitfield[bitfield.length - 1] = (0xff << (bitfield.length * 8 - pieceCount)) & 0xff;
          conn.write(encodeHandshake({ reserved: Buffer.alloc(8), infoHash, peerId: peerId() }));
          conn.write(encodeMessage({ type: 'bitfield', bitfield }));
          conn.write(encodeMessage({ type: 'unchoke' }));
        }
        for (let m = framer.next(); m !== null; m = framer.next()) {
          if (m.type === 'request') {
            const start = m.index * PIECE + m.begin;
            conn.write(encodeMessage({ type: 'piece', index: m.index, begin: m.begin, block: data.subarray(start, start + m.length) }));
          }
        }
      } catch (e) {
        reject(e);
      }
    });
  });
}

beforeAll(() => {
  mkdirSync(seedDir);
  writeFileSync(join(seedDir, 'x.bin'), data);
  writeFileSync(torrentPath, makeTorrent({ name: 'x.bin', pieceLength: PIECE, data }));
  infoHash = parseTorrent(readFileSync(torrentPath)).infoHash!;
});

afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill()));
  await Promise.all(sockets.map((s) => s.close()));
  rmSync(work, { recursive: true, force: true });
});

describe('uTP interop with python3-libtorrent (TCP disabled)', () => {
  it('downloads 6 MiB from a uTP-only libtorrent seeder over our UtpSocket', async () => {
    const seeder = startProcess(PY, [SCRIPT, 'seed', torrentPath, seedDir]);
    procs.push(seeder);
    const port = Number((await seeder.waitFor(/ready (\d+)/, 60_000))[1]);
    const sock = await socket();
    const conn: UtpConnection = sock.connect('127.0.0.1', port);
    await new Promise<void>((resolve, reject) => {
      conn.once('connect', resolve);
      conn.once('error', reject);
    });
    const got = await download(conn, 60_000);
    expect(got.remote.infoHash.equals(infoHash)).toBe(true);
    expect(sha1(got.bytes)).toBe(sha1(data));
    conn.destroy();
    await seeder.kill();
  }, 120_000);

  it('serves 6 MiB to a uTP-only libtorrent leecher that dials our UtpSocket', async () => {
    const sock = await socket();
    const port = sock.address().port;
    const handshakes: Promise<Handshake>[] = [];
    sock.on('connection', (conn) => handshakes.push(serve(conn)));
    const leechDir = join(work, 'leech');
    mkdirSync(leechDir);
    const leecher = startProcess(PY, [SCRIPT, 'leech', torrentPath, leechDir, '--peer', `127.0.0.1:${port}`, '--timeout', '60']);
    procs.push(leecher);
    await leecher.waitFor(/done [\d.]+ \d+/, 90_000);
    expect(handshakes.length).toBeGreaterThan(0);
    const hs = await handshakes[0]!;
    // The BitTorrent handshake arrived intact over uTP: the right info hash and a 20-byte peer id.
    expect(hs.infoHash.equals(infoHash)).toBe(true);
    expect(hs.peerId.length).toBe(20);
    expect(sha1(readFileSync(join(leechDir, 'x.bin')))).toBe(sha1(data));
    await leecher.kill();
  }, 120_000);
});

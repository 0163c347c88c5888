/**
 * Magnet links end to end against python3-libtorrent: metadata over BEP 9/10 from a seeder found
 * through the magnet's tracker, a peer known only through PEX (BEP 11), a peer serving wrong
 * metadata beside an honest one, and `info --fetch` against `info` on the .torrent itself.
 * (The DHT case lives in dht-magnet.test.ts.)
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode } from '../../src/bencode/index.js';
import { parseTorrent } from '../../src/metainfo/index.js';
import { encodeExtendedHandshake, encodeHandshake, encodeMessage, encodeMetadataMessage, decodeMetadataMessage, Framer, makePeerId, reservedBits } from '../../src/wire/index.js';
import { runCli } from '../helpers/cli.js';
import { ltHub, ltSeed, type LtSeeder } from '../helpers/lt.js';
import { bytes, pieceHashes } from '../helpers/make-torrent.js';
import { startOpentracker, type RunningOpentracker } from '../helpers/opentracker.js';
import { needs } from '../helpers/requirements.js';

/** Real clients this file runs; missing ones fail in CI and skip elsewhere. */
const tools = needs('python3-libtorrent', 'opentracker');

const work = mkdtempSync(join(tmpdir(), 'torrent-magnet-'));
const data = bytes(2 * 1024 * 1024 + 12_345, 41);
const name = 'magnet-test.bin';
const torrentFile = join(work, 'm.torrent');
let tracker: RunningOpentracker;
let seeder: LtSeeder;
const running: { stop(): Promise<void> }[] = [];
let infoHash = '';

const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');
const env = (): NodeJS.ProcessEnv => ({ TORRENT_CACHE_DIR: join(work, `cache-${Math.random().toString(36).slice(2)}`) });

/** A torrent without creation date, creator or comment: everything it says survives a magnet round trip. */
function writeTorrent(announce: string): void {
  const info = { length: data.length, name, 'piece length': 32768, pieces: pieceHashes(data, 32768) };
  writeFileSync(torrentFile, encode({ announce, info }));
}

beforeAll(async () => {
  mkdirSync(join(work, 'seed'));
  writeFileSync(join(work, 'seed', name), data);
  writeTorrent('http://127.0.0.1:1/announce');
  const hash = parseTorrent(readFileSync(torrentFile)).infoHash!;
  infoHash = hash.toString('hex');
  tracker = await startOpentracker([hash]);
  writeTorrent(tracker.httpUrl);
  seeder = await ltSeed(torrentFile, join(work, 'seed'));
  running.push(seeder);
}, 90_000);

afterAll(async () => {
  await Promise.all(running.map((r) => r.stop()));
  await tracker?.stop();
  rmSync(work, { recursive: true, force: true });
});

async function magnetOf(extra = ''): Promise<string> {
  const r = await runCli(['magnet', torrentFile]);
  expect(r.code).toBe(0);
  return `${r.stdout.trim()}${extra}`;
}

describe.skipIf(tools.skip)(`magnet links${tools.note}`, () => {
  it('a magnet with tr: metadata from a libtorrent seeder, then a verified download', async () => {
    const out = join(work, 'out-tr');
    const saved = join(work, 'saved.torrent');
    const r = await runCli(['download', await magnetOf(), '-o', out, '--port', '0', '--timeout', '60', '--no-dht', '-q', '--save-torrent', saved], {
      env: env(),
      timeoutMs: 90_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(sha1(readFileSync(join(out, name)))).toBe(sha1(data));
    expect(parseTorrent(readFileSync(saved)).infoHash!.toString('hex')).toBe(infoHash);
  }, 120_000);

  it('info --fetch --json equals info --json of the .torrent itself', async () => {
    const fetched = await runCli(['info', await magnetOf(), '--fetch', '--json', '--no-dht', '--timeout', '30'], { env: env(), timeoutMs: 60_000 });
    expect(fetched.code, fetched.stderr).toBe(0);
    const direct = await runCli(['info', torrentFile, '--json']);
    expect(JSON.parse(fetched.stdout)).toEqual(JSON.parse(direct.stdout));
  }, 60_000);

  it('uses a peer it only learns about through PEX', async () => {
    // The hub has no data and never downloads; only the seeder has the data, and we are told
    // nothing but the hub's address: finishing proves the seeder came from the hub's PEX.
    const hub = await ltHub(torrentFile, join(work, 'hub'), [`127.0.0.1:${seeder.port}`]);
    running.push(hub);
    const magnet = `magnet:?xt=urn:btih:${infoHash}&dn=${name}`;
    const out = join(work, 'out-pex');
    const r = await runCli(['download', magnet, '-o', out, '--port', '0', '--timeout', '90', '--no-dht', '-q', '--peer', `127.0.0.1:${hub.port}`], {
      env: env(),
      timeoutMs: 150_000,
    });
    expect(r.code, `${r.stderr}\n${hub.proc.output().slice(-1000)}`).toBe(0);
    expect(sha1(readFileSync(join(out, name)))).toBe(sha1(data));
  }, 180_000);

  it('rejects wrong metadata: with only a lying peer nothing is accepted', async () => {
    const liar = await startLiar(Buffer.from(infoHash, 'hex'), readInfoLength());
    running.push({ stop: () => new Promise((r) => liar.server.close(() => r())) });
    const r = await runCli(
      ['download', `magnet:?xt=urn:btih:${infoHash}`, '-o', join(work, 'out-liar-only'), '--port', '0', '--timeout', '4', '--no-dht', '--peer', `127.0.0.1:${liar.port}`],
      { env: env(), timeoutMs: 60_000 },
    );
    expect(r.code).toBe(1);
    expect(liar.completedCopies()).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/sent metadata that does not match the info hash; banned/);
    expect(r.stderr).toMatch(/torrent: no metadata from 0 connected peer\(s\) in 4 s|torrent: no peer with the metadata found in 4 s/);
  }, 60_000);

  it('rejects wrong metadata from a lying peer and completes from an honest one', async () => {
    const liar = await startLiar(Buffer.from(infoHash, 'hex'), readInfoLength());
    running.push({ stop: () => new Promise((r) => liar.server.close(() => r())) });
    const magnet = `magnet:?xt=urn:btih:${infoHash}`;
    const out = join(work, 'out-liar');
    const r = await runCli(
      ['download', magnet, '-o', out, '--port', '0', '--timeout', '60', '--no-dht', '--peer', `127.0.0.1:${liar.port}`, '--peer', `127.0.0.1:${seeder.port}`],
      { env: env(), timeoutMs: 90_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(sha1(readFileSync(join(out, name)))).toBe(sha1(data));
    // It was dialled beside the honest peer (whether its copy got far enough to be refused
    // depends on which answers first; the liar-only case above shows the refusal).
    expect(liar.connections()).toBeGreaterThan(0);
  }, 120_000);

  it('exits 1 when no peer has the metadata before --timeout', async () => {
    const r = await runCli(['download', 'magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567', '-o', join(work, 'never'), '--port', '0', '--timeout', '2', '--no-dht'], {
      env: env(),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/torrent: no peer with the metadata found in 2 s/);
  }, 30_000);
});

function readInfoLength(): number {
  return parseTorrent(readFileSync(torrentFile)).infoBytes.length;
}

/** A peer that answers every ut_metadata request with random bytes of the right size. */
async function startLiar(
  infoHashBuf: Buffer,
  size: number,
): Promise<{ server: Server; port: number; connections(): number; served(): number; completedCopies(): number }> {
  let connections = 0;
  let served = 0;
  let copies = 0;
  const pieceCount = Math.ceil(size / 16384);
  const server = createServer((socket: Socket) => {
    connections++;
    const framer = new Framer({ maxMessageBytes: 1 << 20 });
    let shook = false;
    const asked = new Set<number>();
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      try {
        framer.push(chunk);
        if (!shook) {
          if (!framer.takeRaw(68)) return;
          shook = true;
          socket.write(encodeHandshake({ reserved: reservedBits({ extensionProtocol: true }), infoHash: infoHashBuf, peerId: makePeerId((n) => Buffer.alloc(n, 7)) }));
          socket.write(encodeMessage({ type: 'extended', id: 0, payload: encodeExtendedHandshake({ m: { ut_metadata: 3 }, metadataSize: size }) }));
        }
        for (let m = framer.next(); m; m = framer.next()) {
          if (m.type !== 'extended' || m.id !== 3) continue; // our ut_metadata id is 3; the client sends with it
          const req = decodeMetadataMessage(m.payload);
          if (req.type !== 'request') continue;
          const len = req.piece === pieceCount - 1 ? size - req.piece * 16384 : 16384;
          served++;
          asked.add(req.piece);
          if (asked.size === pieceCount) copies++;
          socket.write(encodeMessage({ type: 'extended', id: 1, payload: encodeMetadataMessage({ type: 'data', piece: req.piece, totalSize: size, data: bytes(len, 99 + req.piece) }) }));
        }
      } catch {
        socket.destroy();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return { server, port, connections: () => connections, served: () => served, completedCopies: () => copies };
}

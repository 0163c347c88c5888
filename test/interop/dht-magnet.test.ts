/**
 * A magnet with no tracker and no x.pe downloads through the DHT alone: python3-libtorrent
 * seeds and announces itself in a loopback DHT, and our client, bootstrapped only from that
 * node (never a public router), finds it, fetches the metadata and the data.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode } from '../../src/bencode/index.js';
import { parseTorrent } from '../../src/metainfo/index.js';
import { runCli } from '../helpers/cli.js';
import { repoRoot } from '../helpers/corpus.js';
import { bytes, pieceHashes } from '../helpers/make-torrent.js';
import { startProcess, type Proc } from '../helpers/processes.js';
import { needs } from '../helpers/requirements.js';

/** Real clients this file runs; missing ones fail in CI and skip elsewhere. */
const tools = needs('python3-libtorrent');

const work = mkdtempSync(join(tmpdir(), 'torrent-dht-magnet-'));
const data = bytes(1024 * 1024 + 777, 51);
const name = 'dht-only.bin';
const torrentFile = join(work, 'd.torrent');
let seeder: Proc;
let dhtPort = 0;

beforeAll(async () => {
  mkdirSync(join(work, 'seed'));
  writeFileSync(join(work, 'seed', name), data);
  writeFileSync(torrentFile, encode({ info: { length: data.length, name, 'piece length': 16384, pieces: pieceHashes(data, 16384) } }));
  seeder = startProcess('/usr/bin/python3', [join(repoRoot, 'test', 'helpers', 'lt_dht.py'), '--port', '0', '--torrent', torrentFile, '--save', join(work, 'seed')]);
  dhtPort = Number((await seeder.waitFor(/ready \d+ (\d+)/, 60_000))[1]);
}, 90_000);

afterAll(async () => {
  await seeder?.kill();
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(tools.skip)(`DHT${tools.note}`, () => {
  it('downloads a magnet with no tracker and no x.pe through a loopback DHT', async () => {
    const infoHash = parseTorrent(readFileSync(torrentFile)).infoHash!.toString('hex');
    const out = join(work, 'out');
    const r = await runCli(
      ['download', `magnet:?xt=urn:btih:${infoHash}`, '-o', out, '--port', '0', '--timeout', '60', '-q', '--dht-bootstrap', `127.0.0.1:${dhtPort}`],
      { env: { TORRENT_CACHE_DIR: join(work, 'cache') }, timeoutMs: 120_000 },
    );
    expect(r.code, `${r.stderr}\n${seeder.output().slice(-1500)}`).toBe(0);
    expect(createHash('sha1').update(readFileSync(join(out, name))).digest('hex')).toBe(createHash('sha1').update(data).digest('hex'));
  }, 150_000);

  it('--no-dht finds nobody for the same magnet', async () => {
    const infoHash = parseTorrent(readFileSync(torrentFile)).infoHash!.toString('hex');
    const r = await runCli(['download', `magnet:?xt=urn:btih:${infoHash}`, '-o', join(work, 'none'), '--port', '0', '--timeout', '3', '--no-dht'], {
      env: { TORRENT_CACHE_DIR: join(work, 'cache2') },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no peer with the metadata found/);
  }, 30_000);
});

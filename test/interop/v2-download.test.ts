/**
 * BitTorrent v2 (BEP 52) downloads and seeding against python3-libtorrent on loopback: a v2-only
 * and a hybrid torrent made by libtorrent's own creator, downloaded from a libtorrent seeder;
 * our seeder serving a v2-only torrent to a libtorrent leecher; the v2 handshake uses the
 * truncated SHA-256 info hash.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseTorrent } from '../../src/metainfo/index.js';
import { expectAlbum, ltCreateV2, writeAlbum } from '../helpers/album.js';
import { bin, runCli } from '../helpers/cli.js';
import { ltLeech, ltSeed, type LtSeeder } from '../helpers/lt.js';
import { bytes } from '../helpers/make-torrent.js';
import { freeTcpPort } from '../helpers/opentracker.js';
import { waitForPort } from '../helpers/real-clients.js';
import { needs } from '../helpers/requirements.js';
import { scratch } from '../helpers/scratch.js';

const tools = needs('python3-libtorrent');
const sc = scratch('v2-dl');
const work = sc.root;
const { fresh, start } = sc;
const seedDir = join(work, 'seed');
const album = 'album';
const files: [string, Buffer][] = [
  ['a.bin', bytes(300_000, 51)],
  ['b/c.bin', bytes(1_000_000, 52)],
  ['b/d.txt', bytes(777, 53)],
];
const seeders: LtSeeder[] = [];
const after: (() => Promise<void>)[] = [];

const ltCreate = (kind: '--v2' | '--hybrid'): string => ltCreateV2(join(seedDir, album), join(work, `${kind.slice(2)}.torrent`), kind, 65536).path;

beforeAll(() => writeAlbum(seedDir, album, files));

afterEach(async () => {
  await Promise.all(seeders.splice(0).map((s) => s.stop()));
  await sc.cleanup();
  await Promise.all(after.splice(0).map((f) => f()));
});

afterAll(() => sc.remove());

describe.skipIf(tools.skip)(`BitTorrent v2${tools.note}`, () => {
  it.each([['--v2' as const], ['--hybrid' as const]])('downloads a %s torrent made by libtorrent from a libtorrent seeder', async (kind) => {
    const torrent = ltCreate(kind);
    const meta = parseTorrent(readFileSync(torrent));
    expect(meta.infoHashV2).not.toBeNull();
    expect(meta.pieces === null).toBe(kind === '--v2');
    const seeder = await ltSeed(torrent, seedDir);
    seeders.push(seeder);
    const out = fresh('out');
    const r = await runCli(['download', torrent, '-o', out, '--port', '0', '--no-dht', '--timeout', '30', '-q', '--peer', `127.0.0.1:${seeder.port}`], {
      env: { TORRENT_CACHE_DIR: fresh('cache') },
      timeoutMs: 90_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expectAlbum(out, album, files);
    const verify = await runCli(['verify', torrent, out]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });

  it('seeds a v2-only torrent to a libtorrent leecher', async () => {
    const torrent = ltCreate('--v2');
    const port = await freeTcpPort();
    const seeder = start(process.execPath, [bin, 'seed', torrent, seedDir, '--port', String(port), '--no-dht', '-q'], { TORRENT_CACHE_DIR: fresh('cache') });
    await waitForPort(port, 20_000, seeder);
    const out = fresh('lt');
    const leech = ltLeech(torrent, out, [`127.0.0.1:${port}`], 60);
    after.push(() => leech.kill('SIGKILL'));
    expect(await leech.exited, leech.output()).toBe(0);
    expectAlbum(out, album, files);
  });
});

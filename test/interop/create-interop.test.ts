/**
 * Torrents made by `torrent create` as other clients see them: python3-libtorrent, aria2c and
 * transmission-show read the same info hash, files and trackers; libtorrent's own creator makes
 * the same info hash for a single file (same piece-length table); and a python3-libtorrent leecher
 * downloads the data from a python3-libtorrent seeder, which proves the piece hashes are right.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { repoRoot } from '../helpers/corpus.js';
import { ltCreate, ltLeech, ltSeed } from '../helpers/lt.js';
import { bytes } from '../helpers/make-torrent.js';
import { needs } from '../helpers/requirements.js';

const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'torrent-create-interop-'));
const seedDir = join(work, 'seed');
const folder = join(seedDir, 'album');
const single = join(seedDir, 'single.bin');
const folderTorrent = join(work, 'album.torrent');
const singleTorrent = join(work, 'single.torrent');
const TRACKERS = ['http://a.example/announce', 'udp://b.example:1337/announce'];
const WEB_SEED = 'http://mirror.example/pub/';
// Sizes chosen so files end mid-piece (64 KiB pieces) and an empty file sits in the middle.
const files: [string, Buffer][] = [
  ['a.bin', bytes(1_000_003, 1)],
  ['b/c.bin', bytes(70_001, 2)],
  ['b/empty', Buffer.alloc(0)],
  ['b/z.txt', bytes(12_345, 3)],
  ['d.bin', bytes(2_500_000, 4)],
];
const paths = files.map(([p]) => `album/${p}`);
/** Stops every seeder and leecher we started (afterAll). */
const cleanups: (() => Promise<void>)[] = [];

interface LtView {
  infoHash: string;
  name: string;
  pieceLength: number;
  numPieces: number;
  totalSize: number;
  private: boolean;
  comment: string;
  files: { path: string; size: number }[];
  trackers: { url: string; tier: number }[];
  webSeeds: string[];
}

async function ltInfo(torrent: string): Promise<LtView> {
  const { stdout } = await run('/usr/bin/python3', [join(repoRoot, 'test', 'helpers', 'lt_info.py'), torrent], { timeout: 30_000 });
  return JSON.parse(stdout) as LtView;
}

async function ourInfo(torrent: string): Promise<{ infoHash: string; pieceLength: number; pieceCount: number }> {
  const r = await runCli(['info', '--json', torrent]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

/** Each reader this file compares with; a missing one fails in CI and skips elsewhere. */
const lt = needs('python3-libtorrent');
const aria2 = needs('aria2c');
const transmission = needs('transmission-show');

beforeAll(async () => {
  mkdirSync(join(folder, 'b'), { recursive: true });
  for (const [p, d] of files) writeFileSync(join(folder, p), d);
  writeFileSync(single, bytes(3_000_000, 9));
  const a = await runCli(['create', folder, '-o', folderTorrent, '-q', '--piece-length', '64K', '--comment', 'interop',
    ...TRACKERS.flatMap((t) => ['--tracker', t]), '--web-seed', WEB_SEED]);
  expect(a.code, a.stderr).toBe(0);
  const b = await runCli(['create', single, '-o', singleTorrent, '-q']);
  expect(b.code, b.stderr).toBe(0);
}, 60_000);

afterAll(async () => {
  await Promise.all(cleanups.map((stop) => stop()));
  rmSync(work, { recursive: true, force: true });
});

describe('torrents made by torrent create, read by other clients', () => {
  it.skipIf(lt.skip)(`python3-libtorrent: same info hash, files, piece geometry, trackers and web seed${lt.note}`, async () => {
    const ours = await ourInfo(folderTorrent);
    const lt = await ltInfo(folderTorrent);
    expect(lt.infoHash).toBe(ours.infoHash);
    expect(lt.name).toBe('album');
    expect(lt.pieceLength).toBe(65_536);
    expect(lt.numPieces).toBe(ours.pieceCount);
    expect(lt.files).toEqual(files.map(([p, d]) => ({ path: `album/${p}`, size: d.length })));
    expect(lt.trackers).toEqual([
      { url: TRACKERS[0], tier: 0 },
      { url: TRACKERS[1], tier: 1 },
    ]);
    expect(lt.webSeeds).toEqual([WEB_SEED]);
    expect(lt.comment).toBe('interop');
    expect(lt.private).toBe(false);
  });

  it.skipIf(lt.skip)(`python3-libtorrent reads --private${lt.note}`, async () => {
    const t = join(work, 'private.torrent');
    const r = await runCli(['create', single, '-o', t, '-q', '--private', '--tracker', TRACKERS[0]!]);
    expect(r.code, r.stderr).toBe(0);
    const lt = await ltInfo(t);
    expect(lt.private).toBe(true);
    expect(lt.infoHash).toBe((await ourInfo(t)).infoHash);
  });

  it.skipIf(lt.skip)(`libtorrent's own creator, left to choose the piece length, makes the same single-file torrent${lt.note}`, async () => {
    const theirs = join(work, 'single-lt.torrent');
    await ltCreate(single, theirs); // piece length 0: libtorrent's automatic size
    const lt = await ltInfo(theirs);
    const ours = await ourInfo(singleTorrent);
    expect(ours.pieceLength).toBe(lt.pieceLength);
    expect(ours.infoHash).toBe(lt.infoHash);
  }, 60_000);

  it.skipIf(aria2.skip)(`aria2c -S: same info hash and files${aria2.note}`, async () => {
    const ours = await ourInfo(folderTorrent);
    const { stdout } = await run('aria2c', ['-S', folderTorrent], { timeout: 30_000 });
    expect(stdout).toMatch(new RegExp(`^Info Hash: ${ours.infoHash}$`, 'mi'));
    expect(stdout).toMatch(/^Mode: multi$/m);
    expect(stdout).toMatch(/^Piece Length: 64KiB$/m);
    const listed = [...stdout.matchAll(/^\s*\d+\|\.\/(.+)$/gm)].map((m) => m[1]);
    expect(listed).toEqual(paths);
    const sizes = [...stdout.matchAll(/^\s*\|.*\(([\d,]+)\)$/gm)].map((m) => Number(m[1]!.replace(/,/g, '')));
    expect(sizes).toEqual(files.map(([, d]) => d.length));
    for (const t of TRACKERS) expect(stdout).toContain(t);
  });

  it.skipIf(transmission.skip)(`transmission-show: same info hash and files${transmission.note}`, async () => {
    const ours = await ourInfo(folderTorrent);
    const { stdout } = await run('transmission-show', [folderTorrent], { timeout: 30_000 });
    expect(stdout).toMatch(new RegExp(`^\\s*Hash: ${ours.infoHash}$`, 'm'));
    const section = stdout.slice(stdout.indexOf('FILES'));
    const listed = [...section.matchAll(/^\s+(album\/\S+) \(/gm)].map((m) => m[1]);
    expect(listed).toEqual(paths);
    expect(stdout).toMatch(/Tier #1\s+http:\/\/a\.example\/announce/);
    expect(stdout).toMatch(/Tier #2\s+udp:\/\/b\.example:1337\/announce/);
    expect(stdout).toContain(WEB_SEED);
  });
});

describe.skipIf(lt.skip)(`the piece hashes are right${lt.note}`, () => {
  it('a python3-libtorrent seeder accepts our data and a python3-libtorrent leecher completes', async () => {
    // The seeder force-rechecks its data against our hashes: it only reports ready when all match.
    const seeder = await ltSeed(folderTorrent, seedDir);
    cleanups.push(() => seeder.stop());
    const out = join(work, 'leech');
    mkdirSync(out);
    const leech = ltLeech(folderTorrent, out, [`127.0.0.1:${seeder.port}`], 90);
    cleanups.push(() => leech.kill());
    await leech.waitFor(/done [\d.]+ \d+/, 100_000);
    for (const [p, d] of files) expect(readFileSync(join(out, 'album', p)).equals(d), p).toBe(true);
    // And our verify agrees on libtorrent's copy.
    const v = await runCli(['verify', folderTorrent, out, '--json']);
    expect(v.code, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout).complete).toBe(true);
  }, 120_000);

  it('the single-file torrent too', async () => {
    const seeder = await ltSeed(singleTorrent, seedDir);
    cleanups.push(() => seeder.stop());
    const out = join(work, 'leech-single');
    mkdirSync(out);
    const leech = ltLeech(singleTorrent, out, [`127.0.0.1:${seeder.port}`], 90);
    cleanups.push(() => leech.kill());
    await leech.waitFor(/done [\d.]+ \d+/, 100_000);
    expect(readFileSync(join(out, 'single.bin')).equals(readFileSync(single))).toBe(true);
  }, 120_000);
});

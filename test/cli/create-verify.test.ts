/**
 * `torrent create` and `torrent verify` as a user runs them (bin/torrent.js in a subprocess):
 * exit codes, stdout kept for data, what lands in the torrent (read back with `torrent info`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTorrent } from '../../src/metainfo/index.js';
import { bin, runCli } from '../helpers/cli.js';
import { bytes } from '../helpers/make-torrent.js';

const work = mkdtempSync(join(tmpdir(), 'torrent-create-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const single = join(work, 'data', 'movie.bin');
const singleData = bytes(300_000, 11);
const folder = join(work, 'data', 'album');
const folderFiles: [string, Buffer][] = [
  ['b.flac', bytes(70_000, 1)],
  ['a.flac', bytes(50_000, 2)],
  ['Z.txt', bytes(100, 3)], // uppercase sorts before lowercase in byte order
  ['sub/c.bin', bytes(40_000, 4)],
  ['sub/deeper/d.bin', bytes(1, 5)],
  ['empty', Buffer.alloc(0)],
];

beforeAll(() => {
  mkdirSync(join(folder, 'sub', 'deeper'), { recursive: true });
  mkdirSync(join(folder, 'nothing-here'));
  mkdirSync(join(folder, '.git'));
  writeFileSync(single, singleData);
  for (const [p, d] of folderFiles) writeFileSync(join(folder, p), d);
  writeFileSync(join(folder, '.git', 'config'), 'secret');
  writeFileSync(join(folder, '.env'), 'TOKEN=1');
  symlinkSync('a.flac', join(folder, 'link.flac'));
});

const info = async (torrent: string): Promise<Record<string, any>> => {
  const r = await runCli(['info', '--json', torrent]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, any>;
};

describe('torrent create', () => {
  it('a file: single-file torrent named after it, written to <name>.torrent here, stdout empty', async () => {
    const cwd = join(work, 'cwd1');
    mkdirSync(cwd);
    const r = await runCli(['create', single], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    const out = join(cwd, 'movie.bin.torrent');
    const j = await info(out);
    expect(r.stderr).toContain(out);
    expect(r.stderr).toContain(`info hash: ${j.infoHash}`);
    expect(j.name).toBe('movie.bin');
    expect(j.length).toBe(300_000);
    expect(j.pieceLength).toBe(16_384); // libtorrent's table: < 2.56 MiB
    expect(j.files).toEqual([{ path: 'movie.bin', length: 300_000, offset: 0 }]);
    expect(j.announce).toEqual([]);
    expect(j.private).toBe(false);
    expect(j.createdBy).toMatch(/^torrent\//);
    expect(j.creationDate).not.toBeNull();
  });

  it('a folder: files in byte order, hidden entries, symlinks and empty folders left out', async () => {
    const out = join(work, 'album.torrent');
    const r = await runCli(['create', folder, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/link\.flac: symlink skipped/);
    expect(r.stderr).toMatch(/left out 2 hidden entries/);
    const j = await info(out);
    expect(j.name).toBe('album');
    expect(j.files.map((f: { path: string }) => f.path)).toEqual(['Z.txt', 'a.flac', 'b.flac', 'empty', 'sub/c.bin', 'sub/deeper/d.bin']);
    // Same folder, same info hash (no date, no tracker inside info).
    const again = await runCli(['create', folder, '-o', join(work, 'album2.torrent'), '--quiet']);
    expect(again.code).toBe(0);
    expect((await info(join(work, 'album2.torrent'))).infoHash).toBe(j.infoHash);
  });

  it('--include-hidden adds dot files', async () => {
    const out = join(work, 'hidden.torrent');
    const r = await runCli(['create', folder, '-o', out, '--include-hidden', '-q']);
    expect(r.code, r.stderr).toBe(0);
    const paths = (await info(out)).files.map((f: { path: string }) => f.path);
    expect(paths).toContain('.env');
    expect(paths).toContain('.git/config');
  });

  it('-o - writes the torrent, and only it, to stdout; --no-date makes it reproducible', async () => {
    // runCli decodes stdout as text; the torrent is binary, so take the raw bytes here.
    const run = (): ReturnType<typeof spawnSync> =>
      spawnSync(process.execPath, [bin, 'create', single, '-o', '-', '--no-date'], { cwd: work, timeout: 20_000 });
    const [a, b] = [run(), run()];
    expect(a.status, String(a.stderr)).toBe(0);
    expect(String(a.stderr)).toBe('');
    const meta = parseTorrent(a.stdout as Buffer);
    expect(meta.name).toBe('movie.bin');
    expect(meta.creationDate).toBeNull();
    expect((a.stdout as Buffer).equals(b.stdout as Buffer)).toBe(true);
    expect(existsSync(join(work, 'movie.bin.torrent'))).toBe(false);
  });

  it('tracker tiers, web seeds, private, comment, name and piece length land in torrent info', async () => {
    const out = join(work, 'flags.torrent');
    const r = await runCli([
      'create', folder, '-o', out,
      '--tracker', 'http://a.example/announce', '--tracker', 'udp://b.example:1337/announce',
      '--web-seed', 'http://mirror.example/files/', '--private', '--comment', 'made for a test',
      '--name', 'renamed', '--piece-length', '32K', '--source', 'TEST',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const j = await info(out);
    expect(j.announce).toEqual([['http://a.example/announce'], ['udp://b.example:1337/announce']]);
    expect(j.urlList).toEqual(['http://mirror.example/files/']);
    expect(j.private).toBe(true);
    expect(j.comment).toBe('made for a test');
    expect(j.name).toBe('renamed');
    expect(j.pieceLength).toBe(32_768);
    // private and source are inside info: a different swarm from the plain torrent.
    expect(j.infoHash).not.toBe((await info(join(work, 'album.torrent'))).infoHash);
  });

  it.each([['1000'], ['20000'], ['8K'], ['1G'], ['abc'], ['-5']])('--piece-length %s: exit 2', async (v) => {
    const r = await runCli(['create', single, '-o', join(work, 'never.torrent'), '--piece-length', v]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/piece-length/);
    expect(existsSync(join(work, 'never.torrent'))).toBe(false);
  });

  it('refuses: an empty torrent, a missing path, a bad URL, an existing output without --force (exit 2)', async () => {
    const emptyDir = join(work, 'empty-dir');
    mkdirSync(join(emptyDir, 'sub'), { recursive: true });
    writeFileSync(join(emptyDir, 'sub', 'zero'), '');
    writeFileSync(join(emptyDir, '.hidden'), 'x');
    const empty = await runCli(['create', emptyDir, '-o', join(work, 'e.torrent')]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/nothing to share/);
    expect(empty.stderr).toMatch(/--include-hidden/);
    expect((await runCli(['create', join(work, 'nope'), '-o', join(work, 'n.torrent')])).code).toBe(2);
    const bad = await runCli(['create', single, '-o', join(work, 'u.torrent'), '--tracker', 'ftp://x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--tracker ftp:\/\/x/);
    const out = join(work, 'exists.torrent');
    writeFileSync(out, 'keep me');
    const r = await runCli(['create', single, '-o', out]);
    expect(r.code).toBe(2);
    expect(readFileSync(out, 'utf8')).toBe('keep me');
    expect((await runCli(['create', single, '-o', out, '--force', '-q'])).code).toBe(0);
    expect(parseTorrent(readFileSync(out)).name).toBe('movie.bin');
  });

  it('the output file inside the folder is not part of the torrent', async () => {
    const dir = join(work, 'selfref');
    mkdirSync(dir);
    writeFileSync(join(dir, 'data'), bytes(1000, 1));
    const first = await runCli(['create', '.', '-q'], { cwd: dir });
    expect(first.code, first.stderr).toBe(0);
    const second = await runCli(['create', '.', '-q', '--force'], { cwd: dir });
    expect(second.code, second.stderr).toBe(0);
    expect(parseTorrent(readFileSync(join(dir, 'selfref.torrent'))).files.map((f) => f.path.join('/'))).toEqual(['data']);
  });
});

describe('torrent verify', () => {
  const torrent = join(work, 'verify.torrent');
  const root = join(work, 'data');

  beforeAll(async () => {
    const r = await runCli(['create', folder, '-o', torrent, '--piece-length', '16K', '-q']);
    expect(r.code, r.stderr).toBe(0);
  });

  it('complete data: exit 0, every file 100%', async () => {
    const r = await runCli(['verify', torrent, root]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^complete: \d+ of \d+ pieces verified, 6 files$/m);
    for (const [p] of folderFiles) expect(r.stdout).toMatch(new RegExp(`100\\.0%.*  ${p.replace('.', '\\.')}$`, 'm'));
  });

  it('--json: one object with the documented keys', async () => {
    const r = await runCli(['verify', torrent, root, '--json']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    const j = JSON.parse(r.stdout);
    expect(Object.keys(j).sort()).toEqual(['complete', 'files', 'pieceCount', 'verifiedPieces']);
    expect(j.complete).toBe(true);
    expect(j.verifiedPieces).toBe(j.pieceCount);
    expect(Object.keys(j.files[0]).sort()).toEqual(['complete', 'length', 'path']);
    const listed = await info(torrent);
    expect(j.files.map((f: { path: string }) => f.path)).toEqual(listed.files.map((f: { path: string }) => f.path));
  });

  it('the current folder by default', async () => {
    const r = await runCli(['verify', torrent, '--json'], { cwd: root });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).complete).toBe(true);
  });

  it('a missing file: exit 1, that file incomplete, the rest complete', async () => {
    const copy = join(work, 'partial');
    mkdirSync(join(copy, 'album', 'sub', 'deeper'), { recursive: true });
    // Everything but sub/c.bin; the files beside it in byte order share pieces with it.
    for (const [p, d] of folderFiles) if (p !== 'sub/c.bin') writeFileSync(join(copy, 'album', p), d);
    const r = await runCli(['verify', torrent, copy, '--json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/incomplete/);
    const j = JSON.parse(r.stdout);
    expect(j.complete).toBe(false);
    const byPath = Object.fromEntries(j.files.map((f: { path: string; complete: boolean }) => [f.path, f.complete]));
    expect(byPath['sub/c.bin']).toBe(false);
    expect(byPath['Z.txt']).toBe(true);
    expect(byPath['a.flac']).toBe(true);
    expect(j.verifiedPieces).toBeGreaterThan(0);
    expect(j.verifiedPieces).toBeLessThan(j.pieceCount);
    const text = await runCli(['verify', torrent, copy]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^incomplete: \d+ of \d+ pieces verified/m);
    expect(text.stdout).not.toMatch(/100\.0%.*sub\/c\.bin/);
  });

  it('a flipped byte: exit 1, that file incomplete', async () => {
    const copy = join(work, 'corrupt');
    mkdirSync(join(copy, 'album', 'sub', 'deeper'), { recursive: true });
    for (const [p, d] of folderFiles) writeFileSync(join(copy, 'album', p), d);
    const bad = Buffer.from(folderFiles[0]![1]); // b.flac
    bad[35_000]! ^= 0x01; // b.flac is 70 000 bytes
    writeFileSync(join(copy, 'album', 'b.flac'), bad);
    const r = await runCli(['verify', torrent, copy, '--json']);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout);
    expect(j.verifiedPieces).toBe(j.pieceCount - 1);
    expect(j.files.filter((f: { complete: boolean }) => !f.complete).map((f: { path: string }) => f.path)).toEqual(['b.flac']);
  });

  it('a missing empty file is incomplete; no data at all is exit 1, not an error', async () => {
    const copy = join(work, 'no-empty');
    mkdirSync(join(copy, 'album', 'sub', 'deeper'), { recursive: true });
    for (const [p, d] of folderFiles) writeFileSync(join(copy, 'album', p), d);
    unlinkSync(join(copy, 'album', 'empty'));
    const r = await runCli(['verify', torrent, copy, '--json']);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout);
    expect(j.verifiedPieces).toBe(j.pieceCount);
    expect(j.files.find((f: { path: string }) => f.path === 'empty').complete).toBe(false);
    const none = await runCli(['verify', torrent, join(work, 'does-not-exist'), '--json']);
    expect(none.code).toBe(1);
    expect(JSON.parse(none.stdout).verifiedPieces).toBe(0);
  });

  it('a single-file torrent looks for <dir>/<name>', async () => {
    const t = join(work, 'single-verify.torrent');
    expect((await runCli(['create', single, '-o', t, '-q'])).code).toBe(0);
    const r = await runCli(['verify', t, root]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/100\.0%.*movie\.bin/);
  });

  it('a bad torrent or a magnet URI: exit 2', async () => {
    const bad = join(work, 'bad.torrent');
    writeFileSync(bad, 'd4:infod4:name1:xee');
    expect((await runCli(['verify', bad, root])).code).toBe(2);
    expect((await runCli(['verify', join(work, 'missing.torrent')])).code).toBe(2);
    expect((await runCli(['verify', 'magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567'])).code).toBe(2);
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { corpusDir } from '../helpers/corpus.js';
import { needs } from '../helpers/requirements.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';

const dir = mkdtempSync(join(tmpdir(), 'torrent-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const multi = join(dir, 'multi.torrent');
writeFileSync(
  multi,
  makeTorrent({
    name: 'album',
    files: [
      { path: ['cd1', 'track1.flac'], data: bytes(30_000, 1) },
      { path: ['.pad', '2768'], data: Buffer.alloc(2768), attr: 'p' },
      { path: ['cover.jpg'], data: bytes(5000, 2) },
    ],
    announceList: [['http://a.example/announce'], ['udp://b.example:1337']],
    urlList: 'http://mirror.example/album',
    comment: 'test',
  }),
);
const KEYS = [
  'infoHash', 'infoHashV2', 'name', 'length', 'pieceLength', 'pieceCount', 'files', 'announce',
  'urlList', 'private', 'comment', 'createdBy', 'creationDate', 'magnet',
];

describe('torrent info', () => {
  it('--json prints exactly one object with the documented keys', async () => {
    const r = await runCli(['info', '--json', multi]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    const j = JSON.parse(r.stdout);
    expect(Object.keys(j).sort()).toEqual([...KEYS].sort());
    expect(j.infoHash).toMatch(/^[0-9a-f]{40}$/);
    expect(j.infoHashV2).toBeNull();
    expect(j.name).toBe('album');
    expect(j.length).toBe(35_000);
    expect(j.files).toEqual([
      { path: 'cd1/track1.flac', length: 30_000, offset: 0 },
      { path: 'cover.jpg', length: 5000, offset: 32_768 },
    ]);
    expect(j.announce).toEqual([['http://a.example/announce'], ['udp://b.example:1337']]);
    expect(j.urlList).toEqual(['http://mirror.example/album/']);
    expect(j.private).toBe(false);
    expect(j.creationDate).toBe('2023-11-14T22:13:20.000Z');
    expect(j.magnet).toBe(
      `magnet:?xt=urn:btih:${j.infoHash}&dn=album&tr=http%3A%2F%2Fa.example%2Fannounce&tr=udp%3A%2F%2Fb.example%3A1337&ws=http%3A%2F%2Fmirror.example%2Falbum%2F`,
    );
  });

  it('prints readable text: hashes, sizes, a file tree without pad files, trackers, magnet', async () => {
    const r = await runCli(['info', multi]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Name\s+album/);
    expect(r.stdout).toMatch(/Size\s+34\.2 KiB \(35,000 bytes\)/);
    expect(r.stdout).toMatch(/Pieces\s+3 × 16\.0 KiB/);
    expect(r.stdout).toContain('track1.flac');
    expect(r.stdout).not.toContain('.pad');
    expect(r.stdout).toMatch(/tier 0\s+http:\/\/a\.example\/announce/);
    expect(r.stdout).toContain('magnet:?xt=urn:btih:');
    expect(r.stdout).not.toMatch(/\x1b\[/); // NO_COLOR and not a TTY
  });

  it('colours only when asked to (FORCE_COLOR)', async () => {
    const r = await runCli(['info', multi], { env: { NO_COLOR: undefined, FORCE_COLOR: '1' } });
    expect(r.stdout).toMatch(/\x1b\[/);
  });

  it('reads a torrent from stdin with -', async () => {
    const bytesIn = makeTorrent({ name: 'piped', data: bytes(10) });
    const r = await runCli(['info', '--json', '-'], { input: bytesIn });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).name).toBe('piped');
  });

  it('shows a magnet URI with nulls for what a magnet does not know, plus peers and select', async () => {
    const uri = 'magnet:?xt=urn:btih:UCU34C2MR45V4L25BZWGWHAMB4PC2PCL&dn=x&tr=udp%3A%2F%2Ft%3A1&x.pe=%5B::1%5D:5&so=1,3-4';
    const r = await runCli(['info', '--json', uri]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(Object.keys(j).sort()).toEqual([...KEYS, 'peers', 'select'].sort());
    expect(j).toMatchObject({
      infoHash: 'a0a9be0b4c8f3b5e2f5d0e6c6b1c0c0f1e2d3c4b',
      name: 'x',
      length: null,
      files: null,
      pieceCount: null,
      announce: [['udp://t:1']],
      peers: ['[::1]:5'],
      select: [1, 3, 4],
    });
  });

  it.each([
    ['a malformed torrent', () => writeBad('bad.torrent', makeTorrent({ name: 'x', data: bytes(10), info: { pieces: Buffer.alloc(19) } })), /^torrent: .*bad\.torrent: info\.pieces is 19 bytes, not a multiple of 20\n$/],
    ['a missing file', () => join(dir, 'missing.torrent'), /^torrent: .*missing\.torrent: no such file\nhint: /],
    ['a directory', () => dir, /^torrent: .*: is a directory/],
    ['garbage', () => writeBad('garbage.torrent', Buffer.from('<html>not a torrent</html>')), /^torrent: .*garbage\.torrent: invalid bencoding at byte 0/],
    ['a bad magnet', () => 'magnet:?xt=urn:btih:1234', /^torrent: magnet URI: invalid info hash/],
  ])('exits 2 with one clear line for %s', async (_what, make, pattern) => {
    const r = await runCli(['info', make()]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('prints the stack only with --debug', async () => {
    const bad = writeBad('bad2.torrent', Buffer.from('i1e'));
    const r = await runCli(['--debug', 'info', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/\n\s+at /);
  });

  it('exits 2 on bad usage', async () => {
    expect((await runCli(['info'])).code).toBe(2);
    expect((await runCli(['info', '--nope', multi])).code).toBe(2);
    expect((await runCli(['frobnicate'])).code).toBe(2);
  });

  it('has --help, <command> --help and --version', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('info');
    expect(help.stdout).toContain('Exit codes');
    const sub = await runCli(['info', '--help']);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toContain('--json');
    const v = await runCli(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  const corpus = needs('corpus');
  it.skipIf(corpus.skip)(`agrees with the corpus on a v2 torrent${corpus.note}`, async () => {
    const r = await runCli(['info', '--json', join(corpusDir, 'torrents', 'v2_only.torrent')]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.infoHash).toBeNull();
    expect(j.infoHashV2).toMatch(/^[0-9a-f]{64}$/);
    expect(j.pieceCount).toBe(16);
    expect(j.magnet).toContain(`xt=urn:btmh:1220${j.infoHashV2}`);
  });
});

function writeBad(name: string, content: Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

/**
 * `torrent create --v2` and `--hybrid` as python3-libtorrent sees them: libtorrent's own creator
 * on the same data makes the same v1 and v2 info hashes and the same piece layers (so the file
 * tree, pad files, merkle roots and SHA-1 pieces are byte for byte libtorrent's), our own parser
 * reads the same hashes back, and libtorrent's check of the data against our torrent (SHA-1 and
 * merkle) finds every piece. `torrent verify` agrees on both kinds, and finds a flipped byte.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTorrent, fileTree } from '../../src/metainfo/index.js';
import { runCli } from '../helpers/cli.js';
import { repoRoot } from '../helpers/corpus.js';
import { bytes } from '../helpers/make-torrent.js';
import { needs } from '../helpers/requirements.js';

const run = promisify(execFile);
const SCRIPT = join(repoRoot, 'test', 'helpers', 'lt_v2.py');
const work = mkdtempSync(join(tmpdir(), 'torrent-v2-create-'));
const data = join(work, 'data');
const folder = join(data, 'album');
const single = join(data, 'single.bin');
// Sizes around 32 KiB pieces and 16 KiB blocks: one block short, one piece plus one, exactly two
// pieces, a short file, an empty file between them, and a multi-piece file ending mid-block.
const files: [string, Buffer][] = [
  ['a.bin', bytes(32_767, 1)],
  ['b/c.bin', bytes(32_769, 2)],
  ['b/empty', Buffer.alloc(0)],
  ['b/exact.bin', bytes(65_536, 3)],
  ['d.txt', bytes(5, 4)],
  ['e.bin', bytes(300_001, 5)],
];

interface LtView {
  v1: string | null;
  v2: string | null;
  numPieces: number;
  pieceLength: number;
  files: { path: string; size: number }[];
  pieceLayers: Record<string, string>;
}

async function lt(...args: string[]): Promise<LtView> {
  const { stdout } = await run('/usr/bin/python3', [SCRIPT, ...args], { timeout: 90_000 });
  return JSON.parse(stdout) as LtView;
}

async function ours(target: string, out: string, ...flags: string[]): Promise<{ infoHash: string | null; infoHashV2: string | null; pieceCount: number }> {
  const c = await runCli(['create', target, '-o', out, '-q', '--no-date', ...flags], { timeoutMs: 60_000 });
  expect(c.code, c.stderr).toBe(0);
  expect(c.stderr).toBe('');
  const i = await runCli(['info', '--json', out]);
  expect(i.code, i.stderr).toBe(0);
  return JSON.parse(i.stdout);
}

const need = needs('python3-libtorrent');

beforeAll(() => {
  mkdirSync(join(folder, 'b'), { recursive: true });
  for (const [p, d] of files) writeFileSync(join(folder, p), d);
  writeFileSync(single, bytes(200_000, 9));
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('torrent create --v2/--hybrid usage', () => {
  it('--v2 with --hybrid is a usage error (exit 2), and nothing is written', async () => {
    const out = join(work, 'both.torrent');
    const r = await runCli(['create', folder, '-o', out, '--v2', '--hybrid']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--v2 and --hybrid exclude each other/);
    expect(() => readFileSync(out)).toThrow();
  });

  it('the summary names the kind and both info hashes of a hybrid', async () => {
    const out = join(work, 'summary.torrent');
    const r = await runCli(['create', single, '-o', out, '--hybrid', '--no-date']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^wrote .*summary\.torrent: hybrid, 1 file, /m);
    expect(r.stderr).toMatch(/^info hash: [0-9a-f]{40}$/m);
    expect(r.stderr).toMatch(/^info hash v2: [0-9a-f]{64}$/m);
  });
});

describe('torrent verify on a hybrid whose two hash sets disagree', () => {
  it('exits 2 naming the piece and the file, as libtorrent refuses such a torrent', async () => {
    const pieceLength = 16384;
    const data = bytes(3 * pieceLength, 21);
    const other = Buffer.from(data);
    other[pieceLength + 5]! ^= 1; // the v1 hash of piece 1 describes other bytes
    const sha1 = (b: Buffer): Buffer => createHash('sha1').update(b).digest();
    const pieces = Buffer.concat([0, 1, 2].map((i) => sha1(other.subarray(i * pieceLength, (i + 1) * pieceLength))));
    const t = join(work, 'disagree.torrent');
    writeFileSync(t, buildTorrent({
      name: 'single.bin', files: [], length: data.length, pieceLength, pieces, version: 'hybrid', trees: [fileTree(data, pieceLength)],
      announce: [], urlList: [], private: false, comment: null, createdBy: null, creationDate: null,
    }));
    const dir = join(work, 'disagree');
    mkdirSync(dir);
    writeFileSync(join(dir, 'single.bin'), data);
    const r = await runCli(['verify', t, dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/v1 and v2 hashes of this hybrid torrent disagree on piece 1 \(single\.bin\)/);
    expect(r.stdout).toBe('');
  });
});

const CASES: [string, string, string[]][] = [
  ['a folder, --v2, 32 KiB pieces', 'album', ['--v2', '--piece-length', '32K']],
  ['a folder, --hybrid, 32 KiB pieces', 'album', ['--hybrid', '--piece-length', '32K']],
  ['a folder, --hybrid, piece length chosen as libtorrent does', 'album', ['--hybrid']],
  ['one file, --v2, 16 KiB pieces', 'single.bin', ['--v2', '--piece-length', '16K']],
  ['one file, --hybrid, 64 KiB pieces', 'single.bin', ['--hybrid', '--piece-length', '64K']],
];

describe.skipIf(need.skip)(`torrent create --v2/--hybrid read by python3-libtorrent${need.note}`, () => {
  it.each(CASES)('%s: the same info hashes and piece layers as libtorrent\'s own creator', async (_label, target, flags) => {
    const name = `${target}${flags.join('')}`.replace(/[^\w.-]/g, '_');
    const mine = join(work, `${name}.ours.torrent`);
    const theirs = join(work, `${name}.lt.torrent`);
    const we = await ours(join(data, target), mine, ...flags);
    const pieceLength = flags.includes('--piece-length') ? (await lt('info', mine)).pieceLength : 0;
    const ltMade = await lt('create', join(data, target), theirs, flags.includes('--v2') ? '--v2' : '--hybrid', ...(pieceLength ? ['--piece-length', String(pieceLength)] : []));
    const ltRead = await lt('info', mine);
    expect(ltRead.v2).toMatch(/^[0-9a-f]{64}$/);
    expect(ltRead.v2).toBe(ltMade.v2);
    expect(ltRead.v1).toBe(ltMade.v1);
    expect(ltRead.v1 === null).toBe(flags.includes('--v2'));
    expect(ltRead.pieceLength).toBe(ltMade.pieceLength);
    expect(ltRead.pieceLayers).toEqual(ltMade.pieceLayers);
    expect(ltRead.files).toEqual(ltMade.files);
    // Our parser reads the same hashes back from our bytes.
    expect(we.infoHashV2).toBe(ltRead.v2);
    expect(we.infoHash).toBe(ltRead.v1);
    expect(we.pieceCount).toBe(ltRead.numPieces);
  }, 120_000);

  it('the hashes are right: libtorrent checks the data against our torrents and has every piece', async () => {
    for (const flag of ['--v2', '--hybrid']) {
      const t = join(work, `check${flag}.torrent`);
      await ours(folder, t, flag, '--piece-length', '32K');
      const r = (await lt('check', t, data)) as unknown as { have: number; numPieces: number; error: string | null };
      expect(r.error, flag).toBeNull();
      expect(r.have, flag).toBe(r.numPieces);
      expect(r.numPieces, flag).toBeGreaterThan(10);
    }
  }, 120_000);

  it('torrent verify: complete on the data, and names the one file whose byte was flipped (v2 and hybrid)', async () => {
    const copy = join(work, 'copy');
    mkdirSync(join(copy, 'album', 'b'), { recursive: true });
    for (const [p, d] of files) writeFileSync(join(copy, 'album', p), d);
    for (const flag of ['--v2', '--hybrid']) {
      const t = join(work, `verify${flag}.torrent`);
      await ours(folder, t, flag, '--piece-length', '32K');
      const good = await runCli(['verify', t, data, '--json']);
      expect(good.code, good.stderr).toBe(0);
      const view = JSON.parse(good.stdout) as { complete: boolean; files: { path: string; complete: boolean }[] };
      expect(view.complete).toBe(true);
      expect(view.files.map((f) => f.path)).toEqual(files.map(([p]) => p));
      const bad = Buffer.from(files[5]![1]);
      bad[200_000]! ^= 1;
      writeFileSync(join(copy, 'album', 'e.bin'), bad);
      const r = await runCli(['verify', t, copy, '--json']);
      expect(r.code, r.stderr).toBe(1);
      const v = JSON.parse(r.stdout) as { complete: boolean; files: { path: string; complete: boolean }[] };
      expect(v.complete).toBe(false);
      expect(v.files.filter((f) => !f.complete).map((f) => f.path)).toEqual(['e.bin']);
      writeFileSync(join(copy, 'album', 'e.bin'), files[5]![1]);
    }
    expect(readFileSync(join(copy, 'album', 'e.bin')).equals(files[5]![1])).toBe(true);
  }, 120_000);
});

/**
 * The real CLI against hostile file systems and file lists (issue 17):
 * - cause 11: a symbolic link planted in the output folder under the torrent's name, or in place
 *   of one of its files, is refused with one ERR_DISK line naming it; nothing is read or written
 *   through it (`verify` would otherwise report data outside the folder as complete);
 * - cause 12: `info` of a torrent listing 130,000 files prints all of them (it overflowed the
 *   stack spreading the file list).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';

const work = mkdtempSync(join(tmpdir(), 'torrent-hostile-fs-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const a = bytes(20_000, 1);
const b = bytes(9_000, 2);
const torrentFile = join(work, 'victim.torrent');
writeFileSync(
  torrentFile,
  makeTorrent({ name: 'victim', pieceLength: 16384, files: [{ path: ['a.bin'], data: a }, { path: ['sub', 'b.bin'], data: b }] }),
);

/** A folder outside the output folder holding the torrent's correct data, as `victim/`. */
function outsideCopy(): string {
  const outside = mkdtempSync(join(work, 'outside-'));
  mkdirSync(join(outside, 'sub'));
  writeFileSync(join(outside, 'a.bin'), a);
  writeFileSync(join(outside, 'sub', 'b.bin'), b);
  return outside;
}

describe('a symbolic link out of the output folder', () => {
  it('under the torrent name: verify refuses it (exit 1, one line naming it) instead of reading through it', async () => {
    const out = mkdtempSync(join(work, 'out-'));
    const outside = outsideCopy();
    symlinkSync(outside, join(out, 'victim'));
    const r = await runCli(['verify', torrentFile, out, '--quiet'], { timeoutMs: 30_000 });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`torrent: refusing to use ${join(out, 'victim')}: it is a symbolic link to ${outside}`);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('in place of one file: refused; the same data in real files verifies', async () => {
    const out = mkdtempSync(join(work, 'out-'));
    const outside = outsideCopy();
    mkdirSync(join(out, 'victim', 'sub'), { recursive: true });
    symlinkSync(join(outside, 'a.bin'), join(out, 'victim', 'a.bin'));
    writeFileSync(join(out, 'victim', 'sub', 'b.bin'), b);
    const refused = await runCli(['verify', torrentFile, out, '--quiet'], { timeoutMs: 30_000 });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`refusing to use ${join(out, 'victim', 'a.bin')}`);

    rmSync(join(out, 'victim', 'a.bin'));
    writeFileSync(join(out, 'victim', 'a.bin'), a);
    const ok = await runCli(['verify', torrentFile, out, '--quiet'], { timeoutMs: 30_000 });
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    // Nothing outside was touched by either run.
    expect(readFileSync(join(outside, 'a.bin')).equals(a)).toBe(true);
    expect(readdirSync(outside).sort()).toEqual(['a.bin', 'sub']);
  });
});

describe('a torrent listing 130,000 files', () => {
  const FILES = 130_000;
  const big = join(work, 'files-130k.torrent');
  const files = Array.from({ length: FILES }, (_, i) => ({ path: [`folder-${i % 300}`, `file-number-${i}.dat`], data: Buffer.alloc(0) }));
  files.push({ path: ['last.bin'], data: Buffer.from('x') });
  writeFileSync(big, makeTorrent({ name: 'many', pieceLength: 16384, files }));

  it('info prints every file in the tree, and info --json lists them all', async () => {
    const text = await runCli(['info', big], { timeoutMs: 60_000 });
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`Files (${(FILES + 1).toLocaleString('en-US')})`);
    expect(text.stdout.split('\n').filter((l) => l.includes('file-number-')).length).toBe(FILES);

    const json = await runCli(['info', '--json', big], { timeoutMs: 60_000 });
    expect(json.code).toBe(0);
    expect((JSON.parse(json.stdout) as { files: unknown[] }).files).toHaveLength(FILES + 1);
  }, 120_000);
});

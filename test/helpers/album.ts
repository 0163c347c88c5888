/**
 * A small multi-file payload ("album") for interop tests of v2 and hybrid torrents: written into
 * a seeder's folder, made into a torrent by python3-libtorrent (lt_v2.py), and checked in a
 * leecher's output file by file.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { parseTorrent, type Metainfo } from '../../src/metainfo/index.js';
import { repoRoot } from './corpus.js';

const PY = '/usr/bin/python3';
const LT_V2 = join(repoRoot, 'test', 'helpers', 'lt_v2.py');

export type AlbumFiles = readonly (readonly [string, Buffer])[];

const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');

/** Writes `files` under `dir/name`. */
export function writeAlbum(dir: string, name: string, files: AlbumFiles): void {
  for (const [p, d] of files) {
    mkdirSync(join(dir, name, p, '..'), { recursive: true });
    writeFileSync(join(dir, name, p), d);
  }
}

/** Every file of the album is in `dir/name`, byte for byte. */
export function expectAlbum(dir: string, name: string, files: AlbumFiles): void {
  for (const [p, d] of files) expect(sha1(readFileSync(join(dir, name, p))), p).toBe(sha1(d));
}

/** libtorrent's own torrent of a folder: v2-only or hybrid, written to `out`. */
export function ltCreateV2(folder: string, out: string, kind: '--v2' | '--hybrid', pieceLength: number): { path: string; meta: Metainfo } {
  execFileSync(PY, [LT_V2, 'create', folder, out, kind, '--piece-length', String(pieceLength)], { timeout: 60_000 });
  return { path: out, meta: parseTorrent(readFileSync(out)) };
}

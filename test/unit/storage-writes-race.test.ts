/**
 * FileStorage.changedFiles while our own writes are still queued: they move the file's size and
 * mtime as it is looked at, and must never be taken for a change from outside (that made a
 * resume save in the middle of a download forget every piece it had and fetch it all again).
 */
import { mkdtempSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseTorrent } from '../../src/metainfo/index.js';
import { FileStorage } from '../../src/storage/index.js';
import { bytes, makeTorrent } from '../helpers/make-torrent.js';

const dir = mkdtempSync(join(tmpdir(), 'torrent-writes-race-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('changedFiles during a run of writes', () => {
  it('does not take a write of ours queued after the check began for a change from outside', async () => {
    const PIECE = 16 * 1024;
    const data = bytes(8 * PIECE, 5);
    const meta = parseTorrent(makeTorrent({ name: 'race.bin', data, pieceLength: PIECE }));
    const fs = new FileStorage({ root: dir, meta, selected: null });
    const piece = (p: number): Buffer[] => [data.subarray(p * PIECE, (p + 1) * PIECE)];
    const had = new Set<number>();
    // Piece 0 written alone: its stat is the file's baseline.
    await fs.writePiece(0, piece(0));
    had.add(0);
    // Piece 1 is being written when a resume save looks at the file, and piece 2 arrives right
    // after (a download does not stop for the save): piece 1's write is then not the last of its
    // run, so the baseline lags the file until piece 2's write ends.
    const w1 = fs.writePiece(1, piece(1));
    const check = fs.changedFiles((q) => had.has(q));
    const w2 = fs.writePiece(2, piece(2));
    expect((await check).pieces).toEqual([]);
    await Promise.all([w1, w2]);
    had.add(1).add(2);
    expect((await fs.changedFiles((q) => had.has(q))).pieces).toEqual([]);
    // A change from outside is still seen once our writes have settled.
    truncateSync(join(dir, 'race.bin'), PIECE);
    // (a changed file loses every piece it holds: which bytes changed is not known)
    expect((await fs.changedFiles((q) => had.has(q))).pieces).toEqual([0, 1, 2]);
    await fs.close();
  });
});

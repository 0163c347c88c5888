/**
 * The start-up check: which pieces are already on disk and correct (BEP 3: a piece is had only
 * when its bytes hash to the torrent's SHA-1).
 *
 * Trust rule for resume data: a recorded piece is taken without reading only when every file it
 * touches exists now, was recorded as existing, has the recorded size, mtime (and inode, when
 * recorded), and is long enough to hold the piece's bytes. A piece with bytes in the part file
 * is never trusted (resume data does not describe that file). Every other piece whose data may
 * be present is read and verified; missing data costs nothing. So a resume file that claims
 * pieces over deleted, truncated or edited files, or that was edited itself, claims nothing.
 *
 * The stats seen here become the storage's baseline (FileStorage.recordChecked), so a file
 * changed from outside later is noticed by FileStorage.changedFiles.
 *
 * Speed: the pieces to hash go in batches of consecutive pieces, up to CHECK_BATCH_BYTES each, so
 * a file is read in large positional reads rather than one per piece. When WORKER_MIN_BYTES or
 * more are to be hashed, each batch goes to a HashPool thread (hash-pool.ts) that reads the bytes
 * itself, through descriptors the storage opens (its confinement, part file and descriptor cache
 * apply) and lends for the batch (FileStorage.lendPieces): the copy out of the page cache then
 * lands in the cache of the core that hashes it (hash-worker.ts says what that is worth), and
 * this thread only opens files and answers. Each thread has a batch hashing and the next one
 * queued, so none waits on this one (check-hashing.ts, shared with check-v2.ts). Otherwise this
 * thread reads each batch into one of two reusable buffers (buffer-pool.ts: no allocation per
 * piece), the next read in flight while the current batch is hashed. Memory does not grow with
 * the torrent: two buffers, or a few digests and at most FILES_HELD_IN_FLIGHT lent descriptors
 * (piece-batches.ts). An aborted signal stops new batches; those started finish, and the result
 * holds what was verified so far. The pool is closed before checkExisting returns or throws.
 */
import { createHash } from 'node:crypto';
import type { Metainfo } from '../metainfo/index.js';
import { Bitfield } from '../util/bitfield.js';
import { BufferPool } from './buffer-pool.js';
import { CHECK_BATCH_BYTES, CheckProgress, hashLentBatches, withCheckPool, type CheckHashOptions } from './check-hashing.js';
import type { FileStorage } from './file-storage.js';
import { batchPieces, runBatches, type BatchDone } from './piece-batches.js';
import type { FileStat, ResumeData } from './resume.js';

export interface CheckResult {
  verified: Bitfield;
  /** Pieces read and hashed. */
  hashed: number;
  /** Pieces taken from resume data without reading. */
  trusted: number;
}

export interface CheckOptions extends CheckHashOptions {
  storage: FileStorage;
  meta: Metainfo;
  /** Only these pieces are looked at (the selection). */
  wanted: (piece: number) => boolean;
  resume: ResumeData | null;
}

export async function checkExisting(o: CheckOptions): Promise<CheckResult> {
  const { storage, meta } = o;
  const verified = new Bitfield(meta.pieceCount);
  if (!meta.pieces) return { verified, hashed: 0, trusted: 0 };
  const stats = await storage.fileStats();
  storage.recordChecked(stats);
  const present = stats.map((s) => s !== null && s.size > 0);
  const recorded = o.resume ? Buffer.from(o.resume.verified, 'base64') : null;
  const unchanged = stats.map((s, i) => sameStat(s, o.resume?.files[i] ?? null));
  /** The file is as recorded and holds the span's bytes. */
  const holds = (fileIndex: number, end: number): boolean => unchanged[fileIndex] === true && stats[fileIndex]!.size >= end;
  let trusted = 0;
  const candidates: number[] = [];
  for (let p = 0; p < meta.pieceCount; p++) if (o.wanted(p)) candidates.push(p);
  // First decide, without reading, which pieces are trusted and which must be read; then read
  // and hash those, a bounded number at a time.
  const toHash: number[] = [];
  let hashBytes = 0;
  for (const p of candidates) {
    const spans = storage.map.pieceSpans(p).filter((s) => !s.pad);
    const stored = spans.filter((s) => storage.pathOf(s.fileIndex) !== null);
    // Spans of unselected files live in the part file, which resume data does not describe.
    const inPartFile = stored.length < spans.length;
    const trust =
      recorded !== null &&
      !inPartFile &&
      (recorded[p >> 3]! & (0x80 >> (p & 7))) !== 0 &&
      stored.every((s) => holds(s.fileIndex, s.fileOffset + s.length));
    if (trust) {
      verified.set(p);
      trusted++;
    } else if (inPartFile || stored.some((s) => present[s.fileIndex])) {
      toHash.push(p);
      hashBytes += storage.map.pieceSize(p);
    }
  }
  const progress = new CheckProgress(candidates.length, candidates.length - toHash.length, o.onProgress);
  let hashed = 0;
  const done = (first: number, _count: number, digests: readonly (Buffer | null)[]): void => {
    digests.forEach((d, k) => {
      const p = first + k;
      // Every piece looked for counts, found or not.
      hashed++;
      if (d !== null && d.equals(meta.pieces!.subarray(p * 20, p * 20 + 20))) verified.set(p);
    });
    progress.add(digests.length);
  };
  await withCheckPool(o, toHash.length, hashBytes, async (pool) => {
    if (pool === null) return hashBatchesHere(storage, meta, toHash, o, done);
    // A pool thread reads the batch through the lent descriptors: digests, null for missing pieces.
    return hashLentBatches(storage, meta, toHash, pool, o, async (spans, _first, count) => {
      const r = await pool.hashSpans(spans, meta.pieceLength);
      return Array.from({ length: count }, (_, k) => (r.missing[k] ? null : r.digests.subarray(k * 20, k * 20 + 20)));
    }, done);
  });
  return { verified, hashed, trusted };
}

/**
 * Reads and hashes `pieces` (ascending) on this thread in batches (piece-batches.ts), calling
 * `done` for each batch in order: two reusable buffers, the next batch read (one read at a time)
 * while the current one is hashed.
 */
async function hashBatchesHere(
  storage: FileStorage,
  meta: Metainfo,
  pieces: readonly number[],
  o: CheckHashOptions,
  done: BatchDone<(Buffer | null)[]>,
): Promise<void> {
  const batchBytes = o.batchBytes ?? CHECK_BATCH_BYTES;
  const buffers = new BufferPool(Math.min(batchPieces(batchBytes, meta.pieceLength) * meta.pieceLength, meta.totalLength), 2);
  let lastRead: Promise<unknown> = Promise.resolve();
  const start = async (first: number, count: number): Promise<(Buffer | null)[]> => {
    const buf = buffers.take();
    try {
      // One read at a time, each starting when the one before it is done.
      const read = lastRead.then(() => readBatch(storage, meta, first, count, buf));
      lastRead = read.catch(() => undefined);
      return hashHere(buf, meta, first, count, await read);
    } finally {
      buffers.give(buf);
    }
  };
  await runBatches(meta, storage.map, pieces, { batchBytes, inFlight: 2, signal: o.signal }, start, done);
}

/**
 * Reads a batch into `buf`: one read for the run; when some byte of it is missing, each piece on
 * its own, to learn which. Null: nothing missing; else which pieces are.
 */
async function readBatch(storage: FileStorage, meta: Metainfo, first: number, count: number, buf: Buffer): Promise<boolean[] | null> {
  if ((await storage.readPiecesInto(first, count, buf)) !== null) return null;
  const missing: boolean[] = [];
  for (let k = 0; k < count; k++) missing.push((await storage.readPiecesInto(first + k, 1, buf.subarray(k * meta.pieceLength))) === null);
  return missing;
}

/** SHA-1 of each piece of a batch read into `buf`, on this thread (null for missing pieces). */
function hashHere(buf: Buffer, meta: Metainfo, first: number, count: number, missing: boolean[] | null): (Buffer | null)[] {
  const length = Math.min(count * meta.pieceLength, meta.totalLength - first * meta.pieceLength);
  const out: (Buffer | null)[] = [];
  for (let k = 0; k < count; k++) {
    const at = k * meta.pieceLength;
    out.push(missing?.[k] ? null : createHash('sha1').update(buf.subarray(at, Math.min(at + meta.pieceLength, length))).digest());
  }
  return out;
}

/** Both present and equal; an absent file is never "unchanged" (it holds nothing to trust). */
function sameStat(now: FileStat | null, recorded: FileStat | null): boolean {
  if (now === null || recorded === null) return false;
  const inoKnown = now.ino !== undefined && recorded.ino !== undefined;
  return now.size === recorded.size && now.mtimeMs === recorded.mtimeMs && (!inoKnown || now.ino === recorded.ino);
}

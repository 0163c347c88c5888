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
 * Speed: pieces are read through the storage on this thread (its confinement, part file and
 * descriptor cache apply) and, when WORKER_MIN_BYTES or more are to be hashed, hashed on a
 * HashPool's threads (hash-pool.ts), the piece buffer transferred, not copied. At most
 * CHECK_BYTES_IN_FLIGHT of pieces (and at least MIN_PIECES_IN_FLIGHT) are read or hashing at once,
 * so memory does not grow with the torrent. An aborted signal stops new reads; the pieces already
 * started finish, and the result holds what was verified so far. The pool is closed before
 * checkExisting returns or throws.
 */
import { createHash } from 'node:crypto';
import type { Metainfo } from '../metainfo/index.js';
import { Bitfield } from '../util/bitfield.js';
import type { FileStorage } from './file-storage.js';
import { defaultWorkerCount, HashPool, WORKER_MIN_BYTES, workerScript } from './hash-pool.js';
import type { FileStat, ResumeData } from './resume.js';

/**
 * Piece bytes read or hashing at once: enough for both hashing threads to always have a piece
 * queued while the next ones are read (4 MiB pieces: 8 in flight), small beside the memory the
 * download that follows uses.
 */
const CHECK_BYTES_IN_FLIGHT = 32 * 1024 * 1024;
/** However large the pieces, keep this many in flight: one per hashing thread plus one being read. */
const MIN_PIECES_IN_FLIGHT = 3;

export interface CheckResult {
  verified: Bitfield;
  /** Pieces read and hashed. */
  hashed: number;
  /** Pieces taken from resume data without reading. */
  trusted: number;
}

export interface CheckOptions {
  storage: FileStorage;
  meta: Metainfo;
  /** Only these pieces are looked at (the selection). */
  wanted: (piece: number) => boolean;
  resume: ResumeData | null;
  onProgress?: (checked: number, total: number) => void;
  signal?: AbortSignal;
  /** Hashing threads; by default min(2, cores) when WORKER_MIN_BYTES or more are to be hashed. */
  workers?: number;
  /** The worker script (tests point at the built one). */
  workerUrl?: URL;
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
  let checked = candidates.length - toHash.length;
  const report = (): void => {
    if (o.onProgress && (checked % 64 === 0 || checked === candidates.length)) o.onProgress(checked, candidates.length);
  };
  if (toHash.length === 0 && candidates.length > 0) o.onProgress?.(checked, candidates.length);

  const workers = o.workers ?? (hashBytes >= WORKER_MIN_BYTES ? defaultWorkerCount() : 0);
  const script = workers > 0 ? workerScript(o.workerUrl) : null;
  const pool = script ? new HashPool(script, workers) : null;
  const sha1 = (data: Buffer): Promise<Buffer> | Buffer =>
    pool ? pool.hashBytes(data, data.length) : createHash('sha1').update(data).digest();
  const inFlightLimit = Math.max(MIN_PIECES_IN_FLIGHT, Math.floor(CHECK_BYTES_IN_FLIGHT / meta.pieceLength));
  const inFlight: { piece: number; digest: Promise<Buffer | null> }[] = [];
  let hashed = 0;
  const settleOldest = async (): Promise<void> => {
    const { piece, digest } = inFlight.shift()!;
    const got = await digest;
    hashed++;
    if (got && got.equals(meta.pieces!.subarray(piece * 20, piece * 20 + 20))) verified.set(piece);
    checked++;
    report();
  };
  try {
    for (const p of toHash) {
      if (o.signal?.aborted) break;
      if (inFlight.length >= inFlightLimit) await settleOldest();
      const digest = storage.readPiece(p).then((data) => (data ? sha1(data) : null));
      // Handled now: it may fail while an older piece is awaited; it is rethrown in its turn.
      digest.catch(() => undefined);
      inFlight.push({ piece: p, digest });
    }
    while (inFlight.length > 0) await settleOldest();
  } finally {
    // On a failure, let the reads already started end before the caller closes the storage.
    await Promise.allSettled(inFlight.map((f) => f.digest));
    await pool?.close();
  }
  return { verified, hashed, trusted };
}

/** Both present and equal; an absent file is never "unchanged" (it holds nothing to trust). */
function sameStat(now: FileStat | null, recorded: FileStat | null): boolean {
  if (now === null || recorded === null) return false;
  const inoKnown = now.ino !== undefined && recorded.ino !== undefined;
  return now.size === recorded.size && now.mtimeMs === recorded.mtimeMs && (!inoKnown || now.ino === recorded.ino);
}

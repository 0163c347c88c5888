/**
 * What both start-up checks (check.ts for v1, check-v2.ts for v2 and hybrids) share in hashing
 * the pieces they must read: their hashing options, whether a HashPool's threads do it, the
 * batches of lent descriptors those threads read, and progress reporting. What a piece's hashes
 * mean (SHA-1, merkle nodes, the verdicts) stays with each check.
 *
 * Invariants: a pool is started only when there is something to hash and threads pay
 * (WORKER_MIN_BYTES or more, or as many as the caller asks for) and the worker script is built,
 * and it is closed before withCheckPool returns or throws; each thread has a batch hashing and
 * the next posted (JOBS_PER_WORKER), plus one waiting, and the files those batches hold open are
 * bounded by piece-batches.ts.
 */
import type { Metainfo } from '../metainfo/index.js';
import type { FileStorage, LentSpan } from './file-storage.js';
import { HashPool, JOBS_PER_WORKER, spanReadError, startHashPool } from './hash-pool.js';
import { runBatches, type BatchDone } from './piece-batches.js';

/**
 * Bytes per batch (whole pieces; one piece when pieces are larger): large enough that the cost of
 * a batch (a message to a thread and back, a read per file) vanishes in the hashing, small enough
 * that the last batches are shared evenly between the hashing threads and two buffers of it cost
 * nothing.
 */
export const CHECK_BATCH_BYTES = 4 * 1024 * 1024;
/** How often onProgress is called, in pieces: often enough for a live line, cheap. */
const PROGRESS_EVERY_PIECES = 64;

/** How a check hashes and reports, whatever it checks. */
export interface CheckHashOptions {
  onProgress?: (checked: number, total: number) => void;
  signal?: AbortSignal;
  /** Hashing threads; by default min(2, cores) when WORKER_MIN_BYTES or more are to be hashed. */
  workers?: number;
  /** The worker script (tests point at the built one). */
  workerUrl?: URL;
  /** Bytes per batch, CHECK_BATCH_BYTES by default (tests use small values to exercise batch boundaries). */
  batchBytes?: number;
}

/**
 * Runs `hash` with a pool for `pieces` pieces of `bytes` bytes to hash when threads pay and the
 * worker script is built, else with null (hash on this thread); the pool is closed once `hash`
 * settles.
 */
export async function withCheckPool<T>(o: CheckHashOptions, pieces: number, bytes: number, hash: (pool: HashPool | null) => Promise<T>): Promise<T> {
  const pool = startHashPool(pieces > 0 ? bytes : 0, o);
  try {
    return await hash(pool);
  } finally {
    await pool?.close();
  }
}

/**
 * Hashes `pieces` (ascending) in batches (piece-batches.ts) on the pool's threads, which read the
 * bytes themselves through descriptors the storage lends for the batch (FileStorage.lendPieces);
 * `hash` posts a batch's spans to the pool and makes its result, `done` takes the results in
 * batch order. A thread's failed read is the error the storage's own read would have thrown.
 */
export async function hashLentBatches<T>(
  storage: FileStorage,
  meta: Metainfo,
  pieces: readonly number[],
  pool: HashPool,
  o: CheckHashOptions,
  hash: (spans: LentSpan[], first: number, count: number) => Promise<T>,
  done: BatchDone<T>,
): Promise<void> {
  const opts = { batchBytes: o.batchBytes ?? CHECK_BATCH_BYTES, inFlight: pool.size * JOBS_PER_WORKER + 1, signal: o.signal };
  const start = (first: number, count: number): Promise<T> =>
    storage.lendPieces(first, count, async (spans) => {
      try {
        return await hash(spans, first, count);
      } catch (e) {
        throw spanReadError(e);
      }
    });
  await runBatches(meta, storage.map, pieces, opts, start, done);
}

/**
 * A check's progress over its `total` candidate pieces, those it need not read counted from the
 * start: reported every PROGRESS_EVERY_PIECES and at the end, and at once when nothing is left
 * to read.
 */
export class CheckProgress {
  private checked: number;

  constructor(
    private readonly total: number,
    notRead: number,
    private readonly onProgress: ((checked: number, total: number) => void) | undefined,
  ) {
    this.checked = notRead;
    if (notRead === total && total > 0) onProgress?.(notRead, total);
  }

  /** `n` more pieces are checked. */
  add(n: number): void {
    const before = this.checked;
    this.checked += n;
    const every = PROGRESS_EVERY_PIECES;
    if (this.onProgress && (Math.floor(before / every) !== Math.floor(this.checked / every) || this.checked === this.total)) {
      this.onProgress(this.checked, this.total);
    }
  }
}

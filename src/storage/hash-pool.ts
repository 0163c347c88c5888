/**
 * A small pool of hashing worker threads (hash-worker.ts), so `torrent create`, `torrent verify`
 * and the start-up check hash on every core instead of one (BEP 3 SHA-1 pieces, BEP 52 merkle
 * trees). Hashing dominates their CPU: one core does ~1.6 GB/s of SHA-1 here (OpenSSL with the
 * SHA extensions), and node:crypto runs on the calling thread.
 *
 * Owns: the workers, a FIFO of jobs not yet handed to one, and the promise of each job.
 *
 * Invariants:
 * - Each worker has at most JOBS_PER_WORKER jobs posted to it at a time; a job goes, in
 *   submission order, to the worker with the fewest. Posting the next job before the current one
 *   is done means a worker that finishes one starts the next at once, without waiting for this
 *   thread to hear of it and answer (which, with both cores busy hashing, can be a scheduler tick
 *   away). A caller bounds how many jobs it has outstanding (and so the memory they hold); the
 *   pool adds no buffering of its own beyond the queue the caller fills.
 * - A job carries no data, only what to read (paths, or descriptors lent for it): each worker
 *   reads its own bytes (hash-worker.ts says why). Digests come back transferred.
 * - close() terminates every worker (once it has loaded its script: see close) and settles every
 *   job (rejected with InternalError if not done); after it no thread or handle of ours is left. A worker that dies fails the pool: its
 *   job and every queued job reject with InternalError (a dead SHA-1 thread is a bug, not input).
 * - The worker script is the built file next to this one (dist/storage/hash-worker.js). Running
 *   from TypeScript sources (vitest) there is none: `workerScript()` returns null and callers
 *   hash on their own thread, as they do for inputs too small to repay starting threads.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { InternalError, RuntimeError } from '../errors.js';
import type { FileSegment, HashJob, HashJobFailure, HashReply, HashSpan, V2JobPiece, WorkerReady } from './hash-worker.js';

export type { FileSegment, HashJobFailure, HashSpan, V2JobPiece } from './hash-worker.js';

/**
 * Most workers a pool starts. This machine class has 2 cores (mktorrent -t 2 is the yardstick);
 * more threads than cores only add switching, and the main thread still needs a little time to
 * read directories, feed jobs and draw progress.
 */
export const MAX_HASH_WORKERS = 2;

/**
 * Below this many bytes to hash, callers stay on their own thread: starting a worker costs
 * ~30 ms (a fresh V8 isolate), which is what one core hashes in about 50 MiB; under 32 MiB a
 * second core cannot win that back.
 */
export const WORKER_MIN_BYTES = 32 * 1024 * 1024;

/** Workers for a pool on this machine: min(MAX_HASH_WORKERS, cores), at least 1. */
export function defaultWorkerCount(): number {
  return Math.max(1, Math.min(MAX_HASH_WORKERS, availableParallelism()));
}

/**
 * Jobs posted to one worker at once: the one it hashes and the next, so it never waits on this
 * thread between jobs; more would only make the last jobs less evenly shared between workers.
 */
export const JOBS_PER_WORKER = 2;

/**
 * How long close() lets a worker that is still loading its script finish (see close): loading
 * takes tens of milliseconds, so this only bounds a worker script that never says it is ready.
 */
const WORKER_LOAD_WAIT_MS = 2_000;

const DEFAULT_SCRIPT = new URL('./hash-worker.js', import.meta.url);

/** The worker script to start, or null when it is not there (running from sources). */
export function workerScript(url: URL = DEFAULT_SCRIPT): URL | null {
  return existsSync(fileURLToPath(url)) ? url : null;
}

/**
 * The pool to hash `bytes` bytes on: `o.workers` threads, by default min(2, cores) from
 * WORKER_MIN_BYTES up and none below; null (hash on the calling thread) when there is nothing to
 * hash, no thread is wanted, or the worker script is not built. The caller closes it.
 */
export function startHashPool(bytes: number, o: { workers?: number; workerUrl?: URL } = {}): HashPool | null {
  const workers = o.workers ?? (bytes >= WORKER_MIN_BYTES ? defaultWorkerCount() : 0);
  const script = workers > 0 && bytes > 0 ? workerScript(o.workerUrl) : null;
  return script === null ? null : new HashPool(script, workers);
}

/** A job that failed reading (or opening, or found a file short): the caller decides which typed error it is. */
export class HashReadFailure extends Error {
  constructor(readonly failure: HashJobFailure) {
    super(`${failure.stage} ${failure.path}: ${failure.message}`);
  }
}

/** A hashSpans result: one digest per piece, and 1 per piece that had bytes not on disk. */
export interface SpansHashed {
  readonly digests: Buffer;
  readonly missing: Uint8Array;
}

/** A hashSpansV2 result (see there). */
export interface SpansHashedV2 extends SpansHashed {
  readonly roots: Uint8Array;
  readonly zeroTail: Uint8Array;
}

/**
 * A failed read of lent spans (hashSpans, hashSpansV2) as the error the storage's own read would
 * have thrown (ERR_DISK naming the file); anything else unchanged.
 */
export function spanReadError(e: unknown): unknown {
  return e instanceof HashReadFailure ? new RuntimeError('ERR_DISK', `cannot read ${e.failure.path}: ${e.failure.message}`, { cause: e }) : e;
}

/** A worker's answer to a job, its digests as a Buffer. */
type Answer = Omit<Extract<HashReply, { digests: Uint8Array }>, 'digests' | 'id'> & { readonly digests: Buffer };

interface Pending {
  readonly job: HashJob;
  resolve(reply: Answer): void;
  reject(e: unknown): void;
}

interface Slot {
  readonly worker: Worker;
  /** Settles once the worker has loaded its script (its `ready` message), or failed or exited. */
  readonly ready: Promise<void>;
  loaded(): void;
  /** Jobs posted to this worker and not answered yet, oldest first (it answers in order). */
  readonly posted: Pending[];
}

export class HashPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 0;
  private failed: Error | null = null;
  private closed = false;

  /** @param script from workerScript(); @param size number of threads (>= 1) */
  constructor(script: URL, size: number = defaultWorkerCount()) {
    if (!Number.isSafeInteger(size) || size < 1) throw new RangeError(`hash pool size ${size}`);
    for (let i = 0; i < size; i++) {
      let loaded = (): void => undefined;
      const ready = new Promise<void>((resolve) => (loaded = resolve));
      const slot: Slot = { worker: new Worker(script), posted: [], ready, loaded };
      slot.worker.on('message', (reply: HashReply | WorkerReady) => {
        if ('ready' in reply) slot.loaded();
        else this.onReply(slot, reply);
      });
      slot.worker.on('error', (e) => {
        slot.loaded();
        this.fail(new InternalError(`hash worker failed: ${e.message}`, { cause: e }));
      });
      slot.worker.on('exit', (code) => {
        slot.loaded();
        if (!this.closed) this.fail(new InternalError(`hash worker exited with code ${code}`));
      });
      this.slots.push(slot);
    }
  }

  get size(): number {
    return this.slots.length;
  }

  /**
   * SHA-1 of each piece of the bytes the spans hold (descriptors lent by FileStorage.lendPieces,
   * which must stay open until this settles), read in order by the worker, and which pieces had
   * bytes not on disk (`missing[i]` = 1: its digest means nothing). Rejects with HashReadFailure
   * on a read error.
   */
  async hashSpans(spans: readonly HashSpan[], pieceLength: number): Promise<SpansHashed> {
    const r = await this.submit({ id: this.nextId++, kind: 'spans', spans, pieceLength });
    if (!r.missing) throw new InternalError('hash worker answered a spans job without its missing pieces');
    return { digests: r.digests, missing: r.missing };
  }

  /**
   * BEP 52 hashes of each piece of the bytes the spans hold (as hashSpans reads them): the merkle
   * hash of its file data (`roots`, 32 bytes a piece), whether the bytes after that data are all
   * zero (`zeroTail`), the SHA-1 of the whole piece when `sha1` (a hybrid; else `digests` is
   * empty), and which pieces had bytes not on disk.
   */
  async hashSpansV2(spans: readonly HashSpan[], pieceLength: number, pieces: readonly V2JobPiece[], sha1: boolean): Promise<SpansHashedV2> {
    const r = await this.submit({ id: this.nextId++, kind: 'v2spans', spans, pieceLength, pieces, sha1 });
    if (!r.missing || !r.roots || !r.zeroTail) throw new InternalError('hash worker answered a v2 spans job without its merkle hashes');
    return { digests: r.digests, missing: r.missing, roots: r.roots, zeroTail: r.zeroTail };
  }

  /**
   * SHA-1 of each piece of the bytes the segments hold, read in order by the worker. Rejects
   * with HashReadFailure when a file cannot be opened or read, or is shorter than listed.
   */
  async hashFiles(segments: readonly FileSegment[], pieceLength: number): Promise<Buffer> {
    return (await this.submit({ id: this.nextId++, kind: 'files', segments, pieceLength })).digests;
  }

  /**
   * Terminates the workers; pending jobs reject. Safe to call twice. A worker still loading its
   * script is let finish loading first (at most WORKER_LOAD_WAIT_MS): terminated mid-load, Node
   * leaves the descriptor of the module file it was reading open in this process (seen when a
   * check ended before its second thread had started).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.fail(new InternalError('hash pool closed'));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, WORKER_LOAD_WAIT_MS)));
    await Promise.race([Promise.all(this.slots.map((s) => s.ready)), late]);
    clearTimeout(timer);
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private submit(job: HashJob): Promise<Answer> {
    return new Promise((resolve, reject) => {
      if (this.failed) return reject(this.failed);
      this.queue.push({ job, resolve, reject });
      this.dispatch();
    });
  }

  /** Posts queued jobs, each to the worker with the fewest posted, up to JOBS_PER_WORKER each. */
  private dispatch(): void {
    while (this.queue.length > 0) {
      let best: Slot | null = null;
      for (const slot of this.slots) if (best === null || slot.posted.length < best.posted.length) best = slot;
      if (best === null || best.posted.length >= JOBS_PER_WORKER) return;
      const next = this.queue.shift()!;
      best.posted.push(next);
      best.worker.postMessage(next.job);
    }
  }

  private onReply(slot: Slot, reply: HashReply): void {
    const p = slot.posted.shift();
    if (!p || p.job.id !== reply.id) {
      const e = new InternalError(`hash worker answered job ${reply.id}, expected ${p?.job.id ?? 'none'}`);
      p?.reject(e);
      this.fail(e);
      return;
    }
    if ('failure' in reply) p.reject(new HashReadFailure(reply.failure));
    else p.resolve({ ...reply, digests: Buffer.from(reply.digests.buffer, reply.digests.byteOffset, reply.digests.byteLength) });
    this.dispatch();
  }

  private fail(e: Error): void {
    this.failed ??= e;
    for (const s of this.slots) for (const p of s.posted.splice(0)) p.reject(e);
    for (const p of this.queue.splice(0)) p.reject(e);
  }
}

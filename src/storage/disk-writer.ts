/**
 * Positional writes of verified pieces, in calls of at most WRITE_CHUNK_BYTES (64 KiB), made by a
 * thread of their own when the bytes live in shared memory (the piece buffers do: see
 * session/piece-buffers.ts), else from libuv's pool, a chunk at a time.
 *
 * Why chunks: writing fresh page cache costs far more system time per byte in large calls than
 * in small ones on this machine class (Linux 6.18, ext4, a VM whose freed memory goes back to
 * the host). Measured here, 1 GiB in 1 MiB pieces after dropping caches: one 1 MiB pwrite (or
 * one pwritev of sixteen 64 KiB views) per piece, 2.2-2.5 s of system time; sixteen 64 KiB
 * pwrites, 0.3-0.35 s; 128 KiB, 0.8 s. libtorrent writes 16 KiB blocks and pays ~1 s.
 * Why a thread: the same 64 KiB writes, one libuv round trip each, cost ~1.4 s of CPU a GiB
 * (wake-ups and futexes); one message per piece to a thread that writes its chunks in a row, 0.75 s.
 *
 * Owns: the writer thread (started at the first shared write, ended by close()) and the promise
 * of each write posted to it.
 * Invariants:
 * - every write settles exactly once: resolved when all its bytes are written, rejected with an
 *   Error carrying the system's `code` when a call failed (the caller names the file);
 * - the thread keeps the process alive only while a write is posted to it;
 * - a thread that dies fails every write posted and every later one with InternalError (a bug,
 *   not input); close() waits for posted writes to settle, then ends the thread.
 */
import { write as fsWrite } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { InternalError } from '../errors.js';
import { WRITE_CHUNK_BYTES, type WriteJob, type WriteReply, type WriterReady } from './disk-writer-worker.js';
import { workerScript } from './hash-pool.js';

export { WRITE_CHUNK_BYTES } from './disk-writer-worker.js';

const DEFAULT_SCRIPT = new URL('./disk-writer-worker.js', import.meta.url);

/** The writer thread's script, or null when it is not there (running from sources: vitest). */
export function diskWriterScript(): URL | null {
  return workerScript(DEFAULT_SCRIPT);
}

/** How long close() lets a thread still loading its script finish (as HashPool.close). */
const WORKER_LOAD_WAIT_MS = 2_000;

interface Posted {
  resolve(): void;
  reject(e: Error): void;
}

export class DiskWriter {
  private worker: Worker | null = null;
  private ready: Promise<void> = Promise.resolve();
  private readonly posted = new Map<number, Posted>();
  /** The promise of each write posted and not yet settled (close() waits for them). */
  private readonly settling = new Set<Promise<void>>();
  private nextId = 0;
  private failed: Error | null = null;
  private closed = false;

  /** @param script the thread's script (diskWriterScript()); null: every write goes through libuv's pool */
  constructor(private readonly script: URL | null) {}

  /** Writes all of `data` at `position` of `fd`, which must stay open until this settles. */
  write(fd: number, data: Uint8Array, position: number): Promise<void> {
    if (this.closed) return Promise.reject(new InternalError('disk writer closed'));
    if (this.failed) return Promise.reject(this.failed);
    if (this.script === null || !(data.buffer instanceof SharedArrayBuffer)) return writeChunked(fd, data, position);
    const worker = this.worker ?? this.start(this.script);
    const id = this.nextId++;
    const written = new Promise<void>((resolve, reject) => {
      this.posted.set(id, { resolve, reject });
      if (this.posted.size === 1) worker.ref();
      const job: WriteJob = { id, fd, buffer: data.buffer as SharedArrayBuffer, byteOffset: data.byteOffset, length: data.length, position };
      worker.postMessage(job);
    });
    this.settling.add(written);
    void written.catch(() => undefined).finally(() => this.settling.delete(written));
    return written;
  }

  /** Waits for the writes posted to settle, then ends the thread. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const worker = this.worker;
    if (!worker) return;
    await Promise.allSettled([...this.settling]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.ready, new Promise<void>((r) => (timer = setTimeout(r, WORKER_LOAD_WAIT_MS)))]);
    clearTimeout(timer);
    await worker.terminate();
  }

  private start(script: URL): Worker {
    const worker = new Worker(script);
    this.worker = worker;
    let loaded = (): void => undefined;
    this.ready = new Promise<void>((resolve) => (loaded = resolve));
    worker.unref();
    worker.on('message', (reply: WriteReply | WriterReady) => {
      if ('ready' in reply) return loaded();
      const p = this.posted.get(reply.id);
      if (!p) return this.fail(new InternalError(`disk writer answered write ${reply.id}, which it was not given`));
      this.posted.delete(reply.id);
      if (this.posted.size === 0) worker.unref();
      if ('error' in reply) p.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
      else p.resolve();
    });
    worker.on('error', (e) => {
      loaded();
      this.fail(new InternalError(`disk writer failed: ${e.message}`, { cause: e }));
    });
    worker.on('exit', (code) => {
      loaded();
      if (!this.closed) this.fail(new InternalError(`disk writer exited with code ${code}`));
    });
    return worker;
  }

  private fail(e: Error): void {
    this.failed ??= e;
    const all = [...this.posted.values()];
    this.posted.clear();
    for (const p of all) p.reject(e);
  }
}

/** Writes `data` at `position` of `fd` through libuv's pool, WRITE_CHUNK_BYTES a call, in order. */
export function writeChunked(fd: number, data: Uint8Array, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const next = (): void => {
      if (done >= data.length) return resolve();
      fsWrite(fd, data, done, Math.min(WRITE_CHUNK_BYTES, data.length - done), position + done, (e, n) => {
        if (e) return reject(e);
        if (n <= 0) return reject(Object.assign(new Error('short write'), { code: 'EIO' }));
        done += n;
        next();
      });
    };
    next();
  });
}

/**
 * The disk writer's thread (disk-writer.ts): writes each job's bytes at its position in calls of
 * at most WRITE_CHUNK_BYTES, synchronously, one job after another, and answers each job once.
 * The bytes are a view of a SharedArrayBuffer the main thread lent: nothing is copied on the way.
 */
import { writeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

/** Most bytes per write call (see disk-writer.ts for why). */
export const WRITE_CHUNK_BYTES = 64 * 1024;

export interface WriteJob {
  readonly id: number;
  readonly fd: number;
  readonly buffer: SharedArrayBuffer;
  readonly byteOffset: number;
  readonly length: number;
  readonly position: number;
}

export type WriteReply = { readonly id: number } | { readonly id: number; readonly error: { readonly code: string | undefined; readonly message: string } };

export interface WriterReady {
  readonly ready: true;
}

/** Writes `data` at `position` of `fd` in calls of at most WRITE_CHUNK_BYTES; throws on a failed or empty write. */
export function writeChunkedSync(fd: number, data: Uint8Array, position: number): void {
  let done = 0;
  while (done < data.length) {
    const n = writeSync(fd, data, done, Math.min(WRITE_CHUNK_BYTES, data.length - done), position + done);
    if (n <= 0) throw Object.assign(new Error('short write'), { code: 'EIO' });
    done += n;
  }
}

parentPort?.on('message', (job: WriteJob) => {
  let reply: WriteReply;
  try {
    writeChunkedSync(job.fd, new Uint8Array(job.buffer, job.byteOffset, job.length), job.position);
    reply = { id: job.id };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    reply = { id: job.id, error: { code: err.code, message: err.message } };
  }
  parentPort!.postMessage(reply);
});
parentPort?.postMessage({ ready: true } satisfies WriterReady);

/**
 * The body of one hashing worker thread (node:worker_threads), started by hash-pool.ts from the
 * built file next to it (dist/storage/hash-worker.js). BEP 3: a piece's hash is the SHA-1 of its
 * bytes; pieces run across file boundaries.
 *
 * Owns: turning one job into the 20-byte SHA-1 of each piece it covers. A job is either bytes the
 * main thread read and transferred here (`bytes`), or a list of file ranges this thread reads
 * itself (`files`), so the copy out of the page cache is done on this core too, not on the main
 * thread or libuv's pool.
 *
 * Invariants: a job's data starts on a piece boundary and holds whole pieces except possibly the
 * last piece of the torrent; replies go back in the order jobs arrived, one per job; the digests
 * buffer is transferred (never copied); nothing is thrown out of the message handler: a failure
 * becomes an error reply the pool turns into a typed error. The read buffer (READ_BYTES) is this
 * thread's only large allocation, made once and reused, whatever the piece length.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

/** One range of one file, in stream order. */
export interface FileSegment {
  readonly path: string;
  /** Offset in the file. */
  readonly position: number;
  readonly length: number;
  /** The file's length as listed: for the "changed while hashed" message. */
  readonly fileLength: number;
}

export type HashJob =
  | { readonly id: number; readonly kind: 'bytes'; readonly data: Uint8Array; readonly pieceLength: number }
  | { readonly id: number; readonly kind: 'files'; readonly segments: readonly FileSegment[]; readonly pieceLength: number };

/** Why a `files` job failed: mapped to InputError/RuntimeError by the pool's caller. */
export interface HashJobFailure {
  readonly stage: 'open' | 'read' | 'short';
  readonly path: string;
  /** errno code (ENOENT...) for open/read failures. */
  readonly code: string | undefined;
  readonly message: string;
  /** For `short`: the file's real end, and the length the torrent lists. */
  readonly at: number;
  readonly fileLength: number;
}

export type HashReply =
  | { readonly id: number; readonly digests: Uint8Array }
  | { readonly id: number; readonly failure: HashJobFailure };

/**
 * Bytes per read in a `files` job. Each read is hashed at once, while the bytes are still in this
 * core's cache (L2 is 1-2 MiB here): reading a whole 4 MiB job first and hashing it after went
 * through memory twice and measured slower.
 */
const READ_BYTES = 256 * 1024;

const scratch = new Uint8Array(READ_BYTES);

function digestAll(data: Uint8Array, pieceLength: number): Uint8Array {
  const count = Math.ceil(data.length / pieceLength);
  const out = new Uint8Array(count * 20);
  for (let i = 0; i < count; i++) {
    const start = i * pieceLength;
    const view = data.subarray(start, Math.min(start + pieceLength, data.length));
    out.set(createHash('sha1').update(view).digest(), i * 20);
  }
  return out;
}

/** Reads the segments in order, READ_BYTES at a time, hashing as it goes; digests or a failure. */
function hashSegments(segments: readonly FileSegment[], pieceLength: number): Uint8Array | HashJobFailure {
  let total = 0;
  for (const s of segments) total += s.length;
  const out = new Uint8Array(Math.ceil(total / pieceLength) * 20);
  let hash = createHash('sha1');
  let inPiece = 0;
  let done = 0;
  for (const s of segments) {
    let fd: number;
    try {
      fd = openSync(s.path, 'r');
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      return { stage: 'open', path: s.path, code: err.code, message: err.message, at: 0, fileLength: s.fileLength };
    }
    try {
      let got = 0;
      while (got < s.length) {
        const want = Math.min(READ_BYTES, s.length - got, pieceLength - inPiece);
        let n: number;
        try {
          n = readSync(fd, scratch, 0, want, s.position + got);
        } catch (e) {
          const err = e as NodeJS.ErrnoException;
          return { stage: 'read', path: s.path, code: err.code, message: err.message, at: s.position + got, fileLength: s.fileLength };
        }
        if (n === 0) return { stage: 'short', path: s.path, code: undefined, message: 'short read', at: s.position + got, fileLength: s.fileLength };
        hash.update(scratch.subarray(0, n));
        got += n;
        inPiece += n;
        if (inPiece === pieceLength) {
          out.set(hash.digest(), done * 20);
          done++;
          hash = createHash('sha1');
          inPiece = 0;
        }
      }
    } finally {
      try {
        closeSync(fd);
      } catch {
        // A close error after a complete read changes nothing we hashed.
      }
    }
  }
  if (inPiece > 0) out.set(hash.digest(), done * 20);
  return out;
}

function run(job: HashJob): HashReply {
  if (job.kind === 'bytes') return { id: job.id, digests: digestAll(job.data, job.pieceLength) };
  const digests = hashSegments(job.segments, job.pieceLength);
  if (!(digests instanceof Uint8Array)) return { id: job.id, failure: digests };
  return { id: job.id, digests };
}

parentPort?.on('message', (job: HashJob) => {
  const reply = run(job);
  parentPort!.postMessage(reply, 'digests' in reply ? [reply.digests.buffer as ArrayBuffer] : []);
});

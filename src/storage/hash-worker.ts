/**
 * The body of one hashing worker thread (node:worker_threads), started by hash-pool.ts from the
 * built file next to it (dist/storage/hash-worker.js). BEP 3: a piece's hash is the SHA-1 of its
 * bytes; pieces run across file boundaries.
 *
 * Owns: turning one job into the 20-byte SHA-1 of each piece it covers. A job is one of:
 * - `bytes`: bytes the main thread read and transferred here, kept (hashBytes);
 * - `files`: a list of file ranges this thread opens and reads itself (create: plain paths the
 *   user named);
 * - `spans`: stretches of descriptors the main thread opened through its storage and lends for
 *   the job (file-storage.ts lendPieces: confinement, part file and descriptor cache apply there),
 *   plus pad zeros and bytes not on disk; pieces with bytes not on disk come back marked missing.
 * Reading here, not on the main thread, puts the copy out of the page cache on the core that
 * hashes the bytes, READ_BYTES at a time while they sit in its cache: measured on 1 GiB, the main
 * thread reading 4 MiB batches and transferring them here cost 1.8 times the CPU in SHA-1 and in
 * the copy (the bytes came from another core's cache or memory), so nearly half as fast.
 *
 * Invariants: a job's data starts on a piece boundary and holds whole pieces except possibly the
 * last piece of the torrent; replies go back in the order jobs arrived, one per job; the digests
 * (and a `spans` job's missing marks) are transferred, never copied; nothing is thrown out of the
 * message handler: a failure becomes an error reply the pool turns into a typed error. The read
 * buffer (READ_BYTES) is this thread's only large allocation, made once and reused, whatever the
 * piece length.
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

/**
 * One stretch of a `spans` job (file-storage.ts LentSpan): bytes at `position` of descriptor
 * `fd`, opened and held open by the main thread for the job; zeros; or bytes not on disk.
 */
export type HashSpan =
  | { readonly kind: 'fd'; readonly fd: number; readonly path: string; readonly position: number; readonly length: number }
  | { readonly kind: 'zeros'; readonly length: number }
  | { readonly kind: 'absent'; readonly length: number };

export type HashJob =
  | { readonly id: number; readonly kind: 'bytes'; readonly data: Uint8Array; readonly pieceLength: number }
  | { readonly id: number; readonly kind: 'files'; readonly segments: readonly FileSegment[]; readonly pieceLength: number }
  | { readonly id: number; readonly kind: 'spans'; readonly spans: readonly HashSpan[]; readonly pieceLength: number };

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
  /** `missing`, for a `spans` job: 1 per piece with bytes not on disk (its digest means nothing). */
  | { readonly id: number; readonly digests: Uint8Array; readonly missing?: Uint8Array }
  | { readonly id: number; readonly failure: HashJobFailure };

/**
 * Bytes per read in a `files` job. Each read is hashed at once, while the bytes are still in this
 * core's cache (L2 is 1-2 MiB here): reading a whole 4 MiB job first and hashing it after went
 * through memory twice and measured slower.
 */
const READ_BYTES = 256 * 1024;

const scratch = new Uint8Array(READ_BYTES);
/** Pad-file bytes, fed to SHA-1 a slice at a time (a pad can be larger than any buffer). */
const zeros = new Uint8Array(READ_BYTES);

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

/**
 * Reads the spans in order, READ_BYTES at a time, hashing as it goes. Bytes not on disk (an
 * `absent` span, or a descriptor whose file ends before the span does: it was cut since it was
 * opened) mark their pieces missing and are not hashed; a read error fails the job.
 */
function hashSpans(spans: readonly HashSpan[], pieceLength: number): { digests: Uint8Array; missing: Uint8Array } | HashJobFailure {
  let total = 0;
  for (const s of spans) total += s.length;
  const count = Math.ceil(total / pieceLength);
  const digests = new Uint8Array(count * 20);
  const missing = new Uint8Array(count);
  let hash = createHash('sha1');
  let inPiece = 0;
  let piece = 0;
  for (const s of spans) {
    let got = 0;
    let ended = s.kind === 'absent';
    while (got < s.length) {
      const want = Math.min(READ_BYTES, s.length - got, pieceLength - inPiece);
      let n = want;
      if (!ended && s.kind === 'fd') {
        try {
          n = readSync(s.fd, scratch, 0, want, s.position + got);
        } catch (e) {
          const err = e as NodeJS.ErrnoException;
          return { stage: 'read', path: s.path, code: err.code, message: err.message, at: s.position + got, fileLength: 0 };
        }
        if (n === 0) {
          ended = true;
          n = want;
        } else hash.update(scratch.subarray(0, n));
      } else if (!ended) hash.update(zeros.subarray(0, n));
      if (ended) missing[piece] = 1;
      got += n;
      inPiece += n;
      if (inPiece === pieceLength) {
        digests.set(hash.digest(), piece * 20);
        piece++;
        hash = createHash('sha1');
        inPiece = 0;
      }
    }
  }
  if (inPiece > 0) digests.set(hash.digest(), piece * 20);
  return { digests, missing };
}

function run(job: HashJob): HashReply {
  if (job.kind === 'bytes') return { id: job.id, digests: digestAll(job.data, job.pieceLength) };
  if (job.kind === 'spans') {
    const r = hashSpans(job.spans, job.pieceLength);
    return 'digests' in r ? { id: job.id, ...r } : { id: job.id, failure: r };
  }
  const digests = hashSegments(job.segments, job.pieceLength);
  if (!(digests instanceof Uint8Array)) return { id: job.id, failure: digests };
  return { id: job.id, digests };
}

parentPort?.on('message', (job: HashJob) => {
  const reply = run(job);
  const transfer: ArrayBuffer[] = [];
  if ('digests' in reply) {
    transfer.push(reply.digests.buffer as ArrayBuffer);
    if (reply.missing) transfer.push(reply.missing.buffer as ArrayBuffer);
  }
  parentPort!.postMessage(reply, transfer);
});

/**
 * The body of one hashing worker thread (node:worker_threads), started by hash-pool.ts from the
 * built file next to it (dist/storage/hash-worker.js). BEP 3: a piece's hash is the SHA-1 of its
 * bytes; pieces run across file boundaries. BEP 52: a v2 piece's hash is the merkle root of its
 * file's 16 KiB blocks (SHA-256), the piece padded with zero leaves.
 *
 * Owns: turning one job into the hashes of each piece it covers. A job is one of:
 * - `files`: a list of file ranges this thread opens and reads itself (create: plain paths the
 *   user named); a file shorter than listed fails the job;
 * - `spans`: stretches of descriptors the main thread opened through its storage and lends for
 *   the job (file-storage.ts lendPieces: confinement, part file and descriptor cache apply there),
 *   plus pad zeros and bytes not on disk; pieces with bytes not on disk come back marked missing;
 * - `v2spans`: the same stretches, for a v2 or hybrid torrent: each piece's merkle hash (as
 *   metainfo/merkle.ts pieceHash computes it, here as the bytes stream), whether its pad bytes
 *   are zero, and for a hybrid its SHA-1 too; check-v2.ts judges them.
 * All three are read by one loop (readSpans), which feeds each piece's bytes to a sink: SHA-1
 * (Sha1Sink) or the BEP 52 hashes (V2Sink).
 * Reading here, not on the main thread, puts the copy out of the page cache on the core that
 * hashes the bytes, READ_BYTES at a time while they sit in its cache: measured on 1 GiB, the main
 * thread reading 4 MiB batches and transferring them here cost 1.8 times the CPU in SHA-1 and in
 * the copy (the bytes came from another core's cache or memory), so nearly half as fast.
 *
 * Invariants: a job's data starts on a piece boundary and holds whole pieces except possibly the
 * last piece of the torrent; replies go back in the order jobs arrived, one per job; the digests
 * (and the other per-piece arrays) are transferred, never copied; nothing is thrown out of the
 * message handler: a failure becomes an error reply the pool turns into a typed error. The read
 * buffer (READ_BYTES) is this thread's only large allocation, made once and reused, whatever the
 * piece length.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { MERKLE_BLOCK_BYTES, MERKLE_HASH_BYTES, nextPowerOfTwo, rootOfRow } from '../metainfo/merkle.js';

/** One range of one file of a `files` job, in stream order: this thread opens it by path. */
export interface FileSegment {
  readonly kind: 'path';
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

/** What a `v2spans` job needs to know of each of its pieces (BEP 52). */
export interface V2JobPiece {
  /** Bytes of the piece that are its file's data (the rest, up to the piece's end, is pad); 0: none. */
  readonly dataLength: number;
  /** The length of that file: a file of one piece or less has its own tree width. */
  readonly fileLength: number;
}

export type HashJob =
  | { readonly id: number; readonly kind: 'files'; readonly segments: readonly FileSegment[]; readonly pieceLength: number }
  | { readonly id: number; readonly kind: 'spans'; readonly spans: readonly HashSpan[]; readonly pieceLength: number }
  | {
      readonly id: number;
      readonly kind: 'v2spans';
      readonly spans: readonly HashSpan[];
      readonly pieceLength: number;
      readonly pieces: readonly V2JobPiece[];
      /** Also the SHA-1 of each whole piece (a hybrid). */
      readonly sha1: boolean;
    };

/** Why a job failed (`open` and `short` only in a `files` job): mapped to a typed error by the pool's caller. */
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

/** Posted once, when this script has loaded (hash-pool.ts waits for it before terminating us). */
export interface WorkerReady {
  readonly ready: true;
}

export type HashReply =
  /**
   * `missing`, for a `spans` or `v2spans` job: 1 per piece with bytes not on disk (its hashes
   * mean nothing). For `v2spans`: `roots`, 32 bytes per piece (its merkle hash; zeros for a piece
   * without file data), `zeroTail`, 1 per piece whose bytes after its file data are all zero, and
   * `digests` the SHA-1s only when asked for (else empty).
   */
  | { readonly id: number; readonly digests: Uint8Array; readonly missing?: Uint8Array; readonly roots?: Uint8Array; readonly zeroTail?: Uint8Array }
  | { readonly id: number; readonly failure: HashJobFailure };

/**
 * Bytes per read. Each read is hashed at once, while the bytes are still in this core's cache
 * (L2 is 1-2 MiB here): reading a whole 4 MiB job first and hashing it after went through memory
 * twice and measured slower.
 */
const READ_BYTES = 256 * 1024;

const scratch = new Uint8Array(READ_BYTES);
/** Pad-file bytes, fed to SHA-1 a slice at a time (a pad can be larger than any buffer). */
const zeros = new Uint8Array(READ_BYTES);

/** Where readSpans sends a job's bytes, piece by piece. */
interface PieceSink {
  /** The next bytes of the current piece (a view, valid only during the call). */
  update(bytes: Uint8Array): void;
  /** The current piece, number `index` of the job, is complete. */
  end(index: number): void;
}

/**
 * Reads the spans in order, READ_BYTES at a time (never across a piece boundary), feeding `sink`
 * as it goes. A `path` segment is opened here for its span and closed after it; a file that
 * cannot be opened, or ends before its segment does (it changed while being hashed), fails the
 * job. Bytes not on disk otherwise (an `absent` span, or a lent descriptor whose file ends before
 * the span does: it was cut since it was opened) are not fed and mark their pieces missing; a
 * read error fails the job. Returns the missing marks, one per piece.
 */
function readSpans(spans: readonly (HashSpan | FileSegment)[], pieceLength: number, sink: PieceSink): Uint8Array | HashJobFailure {
  const missing = new Uint8Array(pieceCount(spans, pieceLength));
  let inPiece = 0;
  let piece = 0;
  for (const s of spans) {
    let fd = s.kind === 'fd' ? s.fd : -1;
    if (s.kind === 'path') {
      try {
        fd = openSync(s.path, 'r');
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        return { stage: 'open', path: s.path, code: err.code, message: err.message, at: 0, fileLength: s.fileLength };
      }
    }
    try {
      let got = 0;
      let ended = s.kind === 'absent';
      while (got < s.length) {
        const want = Math.min(READ_BYTES, s.length - got, pieceLength - inPiece);
        let n = want;
        if (!ended && (s.kind === 'fd' || s.kind === 'path')) {
          const fileLength = s.kind === 'path' ? s.fileLength : 0;
          try {
            n = readSync(fd, scratch, 0, want, s.position + got);
          } catch (e) {
            const err = e as NodeJS.ErrnoException;
            return { stage: 'read', path: s.path, code: err.code, message: err.message, at: s.position + got, fileLength };
          }
          if (n === 0 && s.kind === 'path') return { stage: 'short', path: s.path, code: undefined, message: 'short read', at: s.position + got, fileLength };
          if (n === 0) {
            ended = true;
            n = want;
          } else sink.update(scratch.subarray(0, n));
        } else if (!ended) sink.update(zeros.subarray(0, n));
        if (ended) missing[piece] = 1;
        got += n;
        inPiece += n;
        if (inPiece === pieceLength) {
          sink.end(piece);
          piece++;
          inPiece = 0;
        }
      }
    } finally {
      if (s.kind === 'path') {
        try {
          closeSync(fd);
        } catch {
          // A close error after a complete read changes nothing we hashed.
        }
      }
    }
  }
  if (inPiece > 0) sink.end(piece);
  return missing;
}

/** Pieces the spans cover (the last may be short). */
function pieceCount(spans: readonly { readonly length: number }[], pieceLength: number): number {
  let total = 0;
  for (const s of spans) total += s.length;
  return Math.ceil(total / pieceLength);
}

/** SHA-1 of each piece (BEP 3), 20 bytes each. */
class Sha1Sink implements PieceSink {
  readonly digests: Uint8Array;
  private hash = createHash('sha1');

  constructor(pieces: number) {
    this.digests = new Uint8Array(pieces * 20);
  }

  update(bytes: Uint8Array): void {
    this.hash.update(bytes);
  }

  end(index: number): void {
    this.digests.set(this.hash.digest(), index * 20);
    this.hash = createHash('sha1');
  }
}

/**
 * BEP 52 per piece: the merkle hash of the piece's bytes of its file (pieceHash in
 * metainfo/merkle.ts, computed as the bytes stream: one SHA-256 leaf per 16 KiB block, the last
 * one short, then the row up to the piece's root), whether the bytes after them (pad) are all
 * zero, and, for a hybrid, the SHA-1 of the whole piece.
 */
class V2Sink implements PieceSink {
  readonly digests: Uint8Array;
  readonly roots: Uint8Array;
  readonly zeroTail: Uint8Array;
  private sha1: Hash | null;
  /** The piece being fed (index in the job): the one after the last ended. */
  private current = 0;
  /** The current 16 KiB block's SHA-256, the bytes in it, and the piece's leaves so far. */
  private leaf: Hash = createHash('sha256');
  private inLeaf = 0;
  private leaves: Buffer[] = [];
  /** Bytes of the current piece fed so far, and whether those past its file data were all zero. */
  private at = 0;
  private tailZero = true;

  constructor(
    private readonly pieces: readonly V2JobPiece[],
    private readonly pieceLength: number,
    private readonly withSha1: boolean,
  ) {
    this.digests = new Uint8Array(withSha1 ? pieces.length * 20 : 0);
    this.roots = new Uint8Array(pieces.length * MERKLE_HASH_BYTES);
    this.zeroTail = new Uint8Array(pieces.length);
    this.sha1 = withSha1 ? createHash('sha1') : null;
  }

  update(bytes: Uint8Array): void {
    this.sha1?.update(bytes);
    const dataLength = this.pieces[this.current]!.dataLength;
    let off = 0;
    while (off < bytes.length) {
      if (this.at < dataLength) {
        const take = Math.min(bytes.length - off, dataLength - this.at, MERKLE_BLOCK_BYTES - this.inLeaf);
        this.leaf.update(bytes.subarray(off, off + take));
        this.inLeaf += take;
        this.at += take;
        off += take;
        if (this.inLeaf === MERKLE_BLOCK_BYTES) this.closeLeaf();
      } else {
        const tail = bytes.subarray(off);
        if (this.tailZero && !isZero(tail)) this.tailZero = false;
        this.at += tail.length;
        off = bytes.length;
      }
    }
  }

  end(index: number): void {
    const piece = this.pieces[index]!;
    if (this.inLeaf > 0) this.closeLeaf();
    if (piece.dataLength > 0) {
      // As pieceHash: a file of one piece or less is its own tree; a larger file's piece is a
      // subtree of pieceLength / 16 KiB leaves, zero leaves on the right of a short last piece.
      // (Fewer leaves than the data holds means bytes were missing: the caller ignores the piece.)
      const width = piece.fileLength <= this.pieceLength ? nextPowerOfTwo(Math.max(1, this.leaves.length)) : this.pieceLength / MERKLE_BLOCK_BYTES;
      this.roots.set(rootOfRow(this.leaves, width), index * MERKLE_HASH_BYTES);
    }
    this.zeroTail[index] = this.tailZero ? 1 : 0;
    if (this.sha1) {
      this.digests.set(this.sha1.digest(), index * 20);
      this.sha1 = createHash('sha1');
    }
    this.leaves = [];
    this.leaf = createHash('sha256');
    this.inLeaf = 0;
    this.at = 0;
    this.tailZero = true;
    this.current = index + 1;
  }

  private closeLeaf(): void {
    this.leaves.push(this.leaf.digest());
    this.leaf = createHash('sha256');
    this.inLeaf = 0;
  }
}

function isZero(bytes: Uint8Array): boolean {
  for (let at = 0; at < bytes.length; at += zeros.length) {
    const part = bytes.subarray(at, Math.min(at + zeros.length, bytes.length));
    if (Buffer.compare(part, zeros.subarray(0, part.length)) !== 0) return false;
  }
  return true;
}

function run(job: HashJob): HashReply {
  if (job.kind === 'v2spans') {
    const sink = new V2Sink(job.pieces, job.pieceLength, job.sha1);
    const missing = readSpans(job.spans, job.pieceLength, sink);
    if (!(missing instanceof Uint8Array)) return { id: job.id, failure: missing };
    return { id: job.id, digests: sink.digests, missing, roots: sink.roots, zeroTail: sink.zeroTail };
  }
  const spans = job.kind === 'spans' ? job.spans : job.segments;
  const sink = new Sha1Sink(pieceCount(spans, job.pieceLength));
  const missing = readSpans(spans, job.pieceLength, sink);
  if (!(missing instanceof Uint8Array)) return { id: job.id, failure: missing };
  // A `files` job never has bytes missing (a short file failed it): its digests are all it says.
  return job.kind === 'spans' ? { id: job.id, digests: sink.digests, missing } : { id: job.id, digests: sink.digests };
}

parentPort?.on('message', (job: HashJob) => {
  const reply = run(job);
  const transfer: ArrayBuffer[] = [];
  if ('digests' in reply) {
    transfer.push(reply.digests.buffer as ArrayBuffer);
    for (const extra of [reply.missing, reply.roots, reply.zeroTail]) if (extra) transfer.push(extra.buffer as ArrayBuffer);
  }
  parentPort!.postMessage(reply, transfer);
});

parentPort?.postMessage({ ready: true } satisfies WorkerReady);

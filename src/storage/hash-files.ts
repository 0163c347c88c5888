/**
 * Piece hashing of files on disk, for `torrent create`. v1 (hashFiles): the files are read in
 * order as one byte stream (BEP 3: pieces run across file boundaries) and each piece's SHA-1 is
 * yielded, in order, as soon as it is known. v2 and hybrid (hashV2Files): each file's BEP 52
 * merkle tree and, for a hybrid, the SHA-1 of each piece of the stream in which every file is
 * padded with zeros to a piece boundary, from one read of each file.
 *
 * Two ways, one result (for v1 as for v2):
 * - Inputs of WORKER_MIN_BYTES or more go to a HashPool (hash-pool.ts): the stream is cut into
 *   jobs of whole pieces (about READ_CHUNK_BYTES each) and each worker thread reads its job's
 *   file ranges and hashes them, so reading and SHA-1 both run on every core. Measured on this
 *   2-core machine (1 GiB in page cache, 512 KiB pieces): workers reading their own ranges beat
 *   the main thread reading and transferring buffers to them (see bench/create.mjs and
 *   hash-worker.ts). At most JOBS_PER_WORKER jobs per worker (and one more) are outstanding, so
 *   memory is one read buffer per worker plus digests, whatever the file or piece sizes.
 * - Smaller inputs (and runs from TypeScript sources, where no built worker script exists) hash
 *   here: two read buffers (READ_CHUNK_BYTES each); the next chunk is read (libuv thread pool)
 *   while the current one is hashed, so disk and SHA-1 overlap. hash.update() does not keep the
 *   buffer it is given, which is what makes reusing the two buffers safe.
 *
 * Each file is read for exactly the length the caller lists (from the scan); a file that turns
 * out shorter was changed while we hashed, and that is an error rather than a torrent of data
 * that never existed. Zero-length files are not opened. An aborted signal stops hashing at the
 * next job or chunk boundary and the generator throws the signal's reason.
 */
import { createHash, type Hash } from 'node:crypto';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { InputError, RuntimeError } from '../errors.js';
import type { FileTree } from '../metainfo/index.js';
import { FileMerkleHasher, MERKLE_HASH_BYTES, nextPowerOfTwo, pieceLayerHeight, rootOfRow } from '../metainfo/merkle.js';
import {
  HashPool,
  HashReadFailure,
  JOBS_PER_WORKER,
  spanReadError,
  startHashPool,
  type FileSegment,
  type HashSpan,
  type SpansHashedV2,
} from './hash-pool.js';

/**
 * Bytes per read. 4 MiB is large enough that per-read overhead (thread-pool hop, syscall) is
 * lost in the copy, and small enough that two buffers cost nothing; larger reads measured no
 * faster from page cache.
 */
export const READ_CHUNK_BYTES = 4 * 1024 * 1024;
/** Zeros fed to SHA-1 for a hybrid's pad files on this thread, a slice at a time (a pad can be 512 MiB). */
const ZERO_CHUNK = Buffer.alloc(64 * 1024);

export interface HashSource {
  /** Absolute (or cwd-relative) path to read. */
  readonly path: string;
  /** Bytes to hash from it: the length recorded in the torrent. */
  readonly length: number;
}

export interface HashOptions {
  /** Called after each chunk with the total bytes hashed so far. */
  onProgress?: (bytesHashed: number) => void;
  /** Bytes per read (tests use small values to exercise chunk boundaries). */
  chunkBytes?: number;
  /** Stops hashing; the generator then throws `signal.reason`. */
  signal?: AbortSignal;
  /**
   * Hashing threads: by default min(2, cores) for inputs of WORKER_MIN_BYTES or more, else 0
   * (this thread). Tests set it to exercise the pool on small inputs.
   */
  workers?: number;
  /** The worker script (tests point at the built one); default: hash-worker.js beside this file. */
  workerUrl?: URL;
}

/** Yields the 20-byte SHA-1 of each piece, in order. */
export async function* hashFiles(
  files: readonly HashSource[],
  pieceLength: number,
  opts: HashOptions = {},
): AsyncGenerator<Buffer, void, undefined> {
  if (!Number.isSafeInteger(pieceLength) || pieceLength <= 0) throw new RangeError(`piece length ${pieceLength}`);
  const pool = poolFor(files, opts);
  if (pool !== null) yield* hashInWorkers(files, pieceLength, opts, pool);
  else yield* hashHere(files, pieceLength, opts);
}

/** The pool to hash `files` on (startHashPool), or null. The caller closes it. */
function poolFor(files: readonly HashSource[], opts: { workers?: number; workerUrl?: URL }): HashPool | null {
  let total = 0;
  for (const f of files) total += f.length;
  return startHashPool(total, opts);
}

/** Pieces hashed by the pool's threads, each reading its own job's ranges; the pool is closed at the end. */
async function* hashInWorkers(
  files: readonly HashSource[],
  pieceLength: number,
  opts: HashOptions,
  pool: HashPool,
): AsyncGenerator<Buffer, void, undefined> {
  // Whole pieces per job, so no piece is split between two threads.
  const jobBytes = Math.max(1, Math.ceil((opts.chunkBytes ?? READ_CHUNK_BYTES) / pieceLength)) * pieceLength;
  const jobs = cutJobs(files, jobBytes);
  const inFlight: { digests: Promise<Buffer>; bytes: number }[] = [];
  let hashed = 0;
  try {
    let next = jobs.next();
    for (;;) {
      // Every worker with its jobs posted (the one it hashes, the next), and one more waiting in
      // the pool, posted the moment a worker answers, before this generator is even resumed.
      while (inFlight.length < pool.size * JOBS_PER_WORKER + 1 && !next.done) {
        opts.signal?.throwIfAborted();
        const digests = pool.hashFiles(next.value.segments, pieceLength);
        // Handled now: a later job may fail while we wait on an earlier one; it is rethrown in turn.
        digests.catch(() => undefined);
        inFlight.push({ digests, bytes: next.value.bytes });
        next = jobs.next();
      }
      const head = inFlight.shift();
      if (!head) break;
      let digests: Buffer;
      try {
        digests = await head.digests;
      } catch (e) {
        throw e instanceof HashReadFailure ? readError(e) : e;
      }
      opts.signal?.throwIfAborted();
      hashed += head.bytes;
      opts.onProgress?.(hashed);
      for (let at = 0; at < digests.length; at += 20) yield digests.subarray(at, at + 20);
    }
  } finally {
    await pool.close();
  }
}

/** The stream cut into jobs of `jobBytes` (the last may be shorter); empty files are skipped. */
function* cutJobs(files: readonly HashSource[], jobBytes: number): Generator<{ segments: FileSegment[]; bytes: number }> {
  let segments: FileSegment[] = [];
  let bytes = 0;
  for (const f of files) {
    let position = 0;
    while (position < f.length) {
      const length = Math.min(f.length - position, jobBytes - bytes);
      segments.push({ kind: 'path', path: f.path, position, length, fileLength: f.length });
      position += length;
      bytes += length;
      if (bytes === jobBytes) {
        yield { segments, bytes };
        segments = [];
        bytes = 0;
      }
    }
  }
  if (bytes > 0) yield { segments, bytes };
}

/** A worker's read failure as the same typed error this thread's reader throws. */
function readError(e: HashReadFailure): Error {
  const f = e.failure;
  if (f.stage === 'short') return shortFile(f.path, f.at, f.fileLength);
  if (f.stage === 'read') return new RuntimeError('ERR_DISK', `cannot read ${f.path}: ${f.message}`, { cause: e });
  return openError(f.path, Object.assign(new Error(f.message), { code: f.code }));
}

function shortFile(path: string, at: number, length: number): RuntimeError {
  return new RuntimeError('ERR_DISK', `${path} is ${at} bytes, not ${length}: it changed while being hashed`);
}

/** Pieces hashed on this thread, reads overlapping hashing. */
async function* hashHere(files: readonly HashSource[], pieceLength: number, opts: HashOptions): AsyncGenerator<Buffer, void, undefined> {
  const pieces = new PieceSha1(pieceLength);
  let hashed = 0;
  for await (const chunk of readAhead(files, readBuffers(opts.chunkBytes), opts.signal)) {
    const done: Buffer[] = [];
    pieces.update(chunk, done);
    hashed += chunk.length;
    opts.onProgress?.(hashed);
    for (const d of done) yield d;
  }
  const last: Buffer[] = [];
  pieces.end(last);
  for (const d of last) yield d;
}

/** The two read buffers of this thread's hashing, READ_CHUNK_BYTES (or `chunkBytes`) each. */
function readBuffers(chunkBytes = READ_CHUNK_BYTES): readonly [Buffer, Buffer] {
  return [Buffer.allocUnsafe(chunkBytes), Buffer.allocUnsafe(chunkBytes)];
}

/**
 * The files' bytes as one stream, in chunks that alternate between the two buffers: the next
 * read is in flight (libuv thread pool) while the caller hashes the current chunk, so disk and
 * hashing overlap. A chunk is valid until the caller asks for the next one (hash.update() keeps
 * no reference, which is what makes reusing the buffers safe). An aborted signal throws its
 * reason at the next chunk; stopping early, or a failure, lets the read in flight finish before
 * the file under it is closed.
 */
async function* readAhead(files: readonly HashSource[], buffers: readonly [Buffer, Buffer], signal?: AbortSignal): AsyncGenerator<Buffer, void, undefined> {
  const reader = new ConcatReader(files);
  let which = 0;
  let pending: Promise<Buffer> | null = null;
  try {
    pending = reader.fill(buffers[which]!);
    for (;;) {
      const chunk = await pending;
      if (chunk.length === 0) break;
      signal?.throwIfAborted();
      which ^= 1;
      // Start the next read before the caller hashes this chunk: that is the overlap.
      pending = reader.fill(buffers[which]!);
      // Mark it handled now: while we are suspended at a yield it may fail with nobody awaiting
      // it yet, which Node would report as an unhandled rejection. The await above still throws.
      pending.catch(() => undefined);
      yield chunk;
    }
  } finally {
    // The result, or error, of a read still in flight no longer matters.
    await pending?.catch(() => undefined);
    await reader.close();
  }
}

/** SHA-1 of each `pieceLength` piece of a stream fed in chunks of any size (BEP 3). */
class PieceSha1 {
  private hash: Hash = createHash('sha1');
  private inPiece = 0;

  constructor(private readonly pieceLength: number) {}

  /** Feeds the stream's next bytes; the digest of each piece they complete goes onto `out`. */
  update(chunk: Buffer, out: Buffer[]): void {
    let at = 0;
    while (at < chunk.length) {
      const take = Math.min(this.pieceLength - this.inPiece, chunk.length - at);
      this.hash.update(chunk.subarray(at, at + take));
      at += take;
      this.inPiece += take;
      if (this.inPiece === this.pieceLength) {
        out.push(this.hash.digest());
        this.hash = createHash('sha1');
        this.inPiece = 0;
      }
    }
  }

  /** Feeds zeros up to the next piece boundary (a hybrid's pad file), ZERO_CHUNK at a time. */
  padToPiece(out: Buffer[]): void {
    while (this.inPiece > 0) this.update(ZERO_CHUNK.subarray(0, Math.min(ZERO_CHUNK.length, this.pieceLength - this.inPiece)), out);
  }

  /** The stream has ended: the digest of its last, short piece goes onto `out` (none on a piece boundary). */
  end(out: Buffer[]): void {
    if (this.inPiece > 0) out.push(this.hash.digest());
  }
}

/** All piece hashes concatenated (what info.pieces holds). */
export async function hashAllPieces(files: readonly HashSource[], pieceLength: number, opts: HashOptions = {}): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const h of hashFiles(files, pieceLength, opts)) out.push(h);
  return Buffer.concat(out);
}

/** Reads the files as one stream into caller-supplied buffers. One fill at a time. */
class ConcatReader {
  private index = 0;
  private offset = 0;
  private handle: FileHandle | null = null;

  constructor(private readonly files: readonly HashSource[]) {}

  /** Fills `buf` as far as the data goes; returns the filled view (empty at the end). */
  async fill(buf: Buffer): Promise<Buffer> {
    let filled = 0;
    while (filled < buf.length && this.index < this.files.length) {
      const file = this.files[this.index]!;
      const left = file.length - this.offset;
      if (left === 0) {
        await this.next();
        continue;
      }
      if (!this.handle) this.handle = await openForRead(file.path);
      const want = Math.min(left, buf.length - filled);
      let r;
      try {
        r = await this.handle.read(buf, filled, want, this.offset);
      } catch (e) {
        throw new RuntimeError('ERR_DISK', `cannot read ${file.path}: ${(e as Error).message}`, { cause: e });
      }
      if (r.bytesRead === 0) {
        throw shortFile(file.path, this.offset, file.length);
      }
      filled += r.bytesRead;
      this.offset += r.bytesRead;
    }
    return buf.subarray(0, filled);
  }

  async close(): Promise<void> {
    const h = this.handle;
    this.handle = null;
    await h?.close().catch(() => undefined);
  }

  private async next(): Promise<void> {
    await this.close();
    this.index++;
    this.offset = 0;
  }
}

async function openForRead(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (e) {
    throw openError(path, e);
  }
}

/** An open failure (here or in a worker) as a typed error: the user's file, or the disk. */
function openError(path: string, e: unknown): Error {
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ENOENT') return new InputError('ERR_READ', `${path}: no such file (was it removed while being hashed?)`);
  if (err.code === 'EACCES') return new InputError('ERR_READ', `${path}: permission denied`);
  return new RuntimeError('ERR_DISK', `cannot open ${path}: ${err.message}`, { cause: e });
}

/** BEP 52 hashes of a set of files: each file's tree and, for a hybrid, the v1 piece hashes. */
export interface V2Hashes {
  /** SHA-1 of each piece of the padded stream (hybrid), or null (v2 only). */
  pieces: Buffer | null;
  /** One per file, in order; null for an empty file (it has no tree). */
  trees: (FileTree | null)[];
}

export interface V2HashOptions {
  /** Also the SHA-1 of each piece of the stream in which every file is padded with zeros to a piece boundary. */
  v1: boolean;
  /** Whether the last file is padded too (false for a single file, which has no list to hold a pad file). */
  padLast: boolean;
  onProgress?: (bytesHashed: number) => void;
  /** As HashOptions.workers: by default min(2, cores) for WORKER_MIN_BYTES or more. */
  workers?: number;
  workerUrl?: URL;
  /** Bytes per job, or per read on this thread (tests use small values). */
  chunkBytes?: number;
}

/**
 * v2 and hybrid hashing (BEP 52), for `torrent create --v2/--hybrid`: on a HashPool's threads when
 * they pay (as for hashFiles: WORKER_MIN_BYTES or more, and a built worker script), else on this
 * thread; the same result either way, equal to metainfo/merkle.ts FileMerkleHasher over each file
 * and SHA-1 over the padded stream. A file shorter than listed is the same "changed while being
 * hashed" error as v1 hashing gives.
 */
export async function hashV2Files(files: readonly HashSource[], pieceLength: number, opts: V2HashOptions): Promise<V2Hashes> {
  const pool = poolFor(files, opts);
  return pool === null ? hashV2Here(files, pieceLength, opts) : hashV2InWorkers(files, pieceLength, opts, pool);
}

/**
 * v2 and hybrid hashing on the pool's threads: each file is cut into jobs of whole pieces (v2
 * pieces never cross files), which a thread reads through a descriptor opened here and turns into
 * each piece's merkle node (and, for a hybrid, the SHA-1 of the piece with its pad zeros); the
 * tree is assembled here from the nodes (a file of one piece or less: its one node is its root).
 * At most JOBS_PER_WORKER jobs per thread (and one more) are outstanding, and at most that many
 * files are open. The pool is closed at the end.
 */
async function hashV2InWorkers(files: readonly HashSource[], pieceLength: number, opts: V2HashOptions, pool: HashPool): Promise<V2Hashes> {
  const piecesPerJob = Math.max(1, Math.floor((opts.chunkBytes ?? READ_CHUNK_BYTES) / pieceLength));
  const height = pieceLayerHeight(pieceLength);
  const trees: (FileTree | null)[] = files.map(() => null);
  const nodes: Buffer[][] = files.map(() => []);
  const sha1s: Buffer[] = [];
  const handles = new Map<number, { handle: FileHandle; jobsLeft: number }>();
  const inFlight: { file: number; bytes: number; result: Promise<SpansHashedV2> }[] = [];
  let hashed = 0;
  const settleOldest = async (): Promise<void> => {
    const { file, bytes, result } = inFlight[0]!;
    let r: SpansHashedV2;
    try {
      r = await result;
    } catch (e) {
      throw spanReadError(e);
    }
    inFlight.shift();
    const f = files[file]!;
    if (r.missing.includes(1)) throw shortFile(f.path, (await stat(f.path).catch(() => null))?.size ?? 0, f.length);
    for (let k = 0; k < r.missing.length; k++) nodes[file]!.push(Buffer.from(r.roots.subarray(k * MERKLE_HASH_BYTES, (k + 1) * MERKLE_HASH_BYTES)));
    if (opts.v1) sha1s.push(r.digests);
    const held = handles.get(file)!;
    if (--held.jobsLeft === 0) {
      handles.delete(file);
      await held.handle.close().catch(() => undefined);
      const n = nodes[file]!;
      trees[file] = f.length <= pieceLength ? { root: n[0]!, pieceLayer: Buffer.alloc(0) } : { root: rootOfRow(n, nextPowerOfTwo(n.length), height), pieceLayer: Buffer.concat(n) };
    }
    hashed += bytes;
    opts.onProgress?.(hashed);
  };
  try {
    for (let i = 0; i < files.length; i++) {
      const f = files[i]!;
      if (f.length === 0) continue;
      const pieces = Math.ceil(f.length / pieceLength);
      const jobs = Math.ceil(pieces / piecesPerJob);
      const padded = opts.v1 && (opts.padLast || i < files.length - 1);
      const pad = padded ? pieces * pieceLength - f.length : 0;
      // Room for this file's first job before opening it: at most the jobs in flight are open.
      while (inFlight.length >= pool.size * JOBS_PER_WORKER + 1) await settleOldest();
      const handle = await openForRead(f.path);
      handles.set(i, { handle, jobsLeft: jobs });
      for (let j = 0; j < jobs; j++) {
        if (j > 0) while (inFlight.length >= pool.size * JOBS_PER_WORKER + 1) await settleOldest();
        const first = j * piecesPerJob;
        const count = Math.min(piecesPerJob, pieces - first);
        const position = first * pieceLength;
        const length = Math.min(count * pieceLength, f.length - position);
        const spans: HashSpan[] = [{ kind: 'fd', fd: handle.fd, path: f.path, position, length }];
        if (j === jobs - 1 && pad > 0) spans.push({ kind: 'zeros', length: pad });
        const jobPieces = Array.from({ length: count }, (_, k) => ({
          dataLength: Math.min(pieceLength, f.length - (first + k) * pieceLength),
          fileLength: f.length,
        }));
        const result = pool.hashSpansV2(spans, pieceLength, jobPieces, opts.v1);
        // Handled now: it may fail while an older job is awaited; it is rethrown in its turn.
        result.catch(() => undefined);
        inFlight.push({ file: i, bytes: length, result });
      }
    }
    while (inFlight.length > 0) await settleOldest();
  } finally {
    // Reads still in flight use the descriptors: let them end before closing.
    await Promise.allSettled(inFlight.map((j) => j.result));
    await Promise.all([...handles.values()].map((h) => h.handle.close().catch(() => undefined)));
    await pool.close();
  }
  return { pieces: opts.v1 ? Buffer.concat(sha1s) : null, trees };
}

/**
 * v2 and hybrid hashing on this thread: each file read once (two buffers, the next read in
 * flight), its bytes fed to its FileMerkleHasher and, for a hybrid, to the SHA-1 of the padded
 * stream; memory is the two buffers plus the piece layers.
 */
async function hashV2Here(files: readonly HashSource[], pieceLength: number, opts: V2HashOptions): Promise<V2Hashes> {
  const trees: (FileTree | null)[] = [];
  const v1 = opts.v1 ? new PieceSha1(pieceLength) : null;
  const sha1s: Buffer[] = [];
  const buffers = readBuffers(opts.chunkBytes);
  let hashed = 0;
  for (let i = 0; i < files.length; i++) {
    const tree = new FileMerkleHasher(pieceLength);
    for await (const chunk of readAhead([files[i]!], buffers)) {
      tree.update(chunk);
      v1?.update(chunk, sha1s);
      hashed += chunk.length;
      opts.onProgress?.(hashed);
    }
    trees.push(tree.digest());
    if (opts.padLast || i < files.length - 1) v1?.padToPiece(sha1s);
  }
  v1?.end(sha1s);
  return { pieces: v1 ? Buffer.concat(sha1s) : null, trees };
}

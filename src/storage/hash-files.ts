/**
 * v1 piece hashing of files on disk, for `torrent create`: the files are read in order as one
 * byte stream (BEP 3: pieces run across file boundaries) and each piece's SHA-1 is yielded as
 * soon as its last byte is hashed.
 *
 * Memory is two read buffers (READ_CHUNK_BYTES each) whatever the file or piece sizes: the next
 * chunk is read (libuv thread pool) while the current one is hashed (node:crypto, main thread),
 * so disk and SHA-1 overlap and the slower of the two sets the speed. A chunk may span several
 * small files, so many tiny files still make large reads. hash.update() does not keep the
 * buffer it is given, which is what makes reusing the two buffers safe.
 *
 * Each file is read for exactly the length the caller lists (from the scan); a file that turns
 * out shorter was changed while we hashed, and that is an error rather than a torrent of data
 * that never existed. Zero-length files are not opened.
 */
import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { InputError, RuntimeError } from '../errors.js';

/**
 * Bytes per read. 4 MiB is large enough that per-read overhead (thread-pool hop, syscall) is
 * lost in the copy, and small enough that two buffers cost nothing; larger reads measured no
 * faster from page cache.
 */
export const READ_CHUNK_BYTES = 4 * 1024 * 1024;

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
}

/** Yields the 20-byte SHA-1 of each piece, in order. */
export async function* hashFiles(
  files: readonly HashSource[],
  pieceLength: number,
  opts: HashOptions = {},
): AsyncGenerator<Buffer, void, undefined> {
  if (!Number.isSafeInteger(pieceLength) || pieceLength <= 0) throw new RangeError(`piece length ${pieceLength}`);
  const chunkBytes = opts.chunkBytes ?? READ_CHUNK_BYTES;
  const reader = new ConcatReader(files);
  const buffers = [Buffer.allocUnsafe(chunkBytes), Buffer.allocUnsafe(chunkBytes)];
  let which = 0;
  let hash: Hash = createHash('sha1');
  let inPiece = 0;
  let hashed = 0;
  let pending: Promise<Buffer> | null = null;
  try {
    pending = reader.fill(buffers[which]!);
    for (;;) {
      const chunk = await pending;
      if (chunk.length === 0) break;
      which ^= 1;
      // Start the next read before hashing this chunk: that is the overlap.
      pending = reader.fill(buffers[which]!);
      // Mark it handled now: while we are suspended at a yield it may fail with nobody awaiting
      // it yet, which Node would report as an unhandled rejection. The await above still throws.
      pending.catch(() => undefined);
      const done: Buffer[] = [];
      let at = 0;
      while (at < chunk.length) {
        const take = Math.min(pieceLength - inPiece, chunk.length - at);
        hash.update(chunk.subarray(at, at + take));
        at += take;
        inPiece += take;
        if (inPiece === pieceLength) {
          done.push(hash.digest());
          hash = createHash('sha1');
          inPiece = 0;
        }
      }
      hashed += chunk.length;
      opts.onProgress?.(hashed);
      for (const d of done) yield d;
    }
    if (inPiece > 0) yield hash.digest();
  } finally {
    // The caller may stop early (or hashing failed) with a read in flight: let it finish before
    // closing the file under it; its result, or error, no longer matters.
    await pending?.catch(() => undefined);
    await reader.close();
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
        throw new RuntimeError('ERR_DISK', `${file.path} is ${this.offset} bytes, not ${file.length}: it changed while being hashed`);
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
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new InputError('ERR_READ', `${path}: no such file (was it removed while being hashed?)`);
    if (err.code === 'EACCES') throw new InputError('ERR_READ', `${path}: permission denied`);
    throw new RuntimeError('ERR_DISK', `cannot open ${path}: ${err.message}`, { cause: e });
  }
}

/**
 * A bounded read cache for uploads. A request for one 16 KiB block loads its whole piece with one
 * read (peers ask for every block of a piece in a row) and the piece's blocks are then views of
 * it, handed out synchronously (`get`): an uploader sends from it without a promise per block.
 * Concurrent loads of the same piece share one read.
 *
 * Bounds: loaded pieces are dropped least recently used first once they pass `maxBytes`, so a
 * peer flooding requests cannot grow memory beyond it. Loads in flight are counted apart: a load
 * someone waits for (`load`) always starts (the uploader asks for at most one per peer), and a
 * read-ahead (`prefetch`) starts only while the bytes being loaded stay within `maxAheadBytes`,
 * so read-ahead for many peers at once cannot grow memory past the cache's size plus that
 * (a read in flight counts as the largest piece seen so far).
 *
 * Only what storage returns is cached: the uploader asks only for pieces we hold (verified and
 * written), and a piece that cannot be read is not cached (each load retries the disk).
 *
 * Buffers are reused: a block handed out by `get` is lent until `release(block)` (the uploader
 * releases it once its stream is done with the bytes), and a dropped piece whose blocks are all
 * back becomes the buffer the next load reads into. Reading 1 GiB into fresh buffers cost our
 * seeder a page fault per 4 KiB and a major garbage collection every few dozen MiB (V8 counts
 * the external memory); reused ones cost neither. A piece dropped while lent waits for its last
 * block (it is never read into while a stream may still send from it); one never released is
 * left to the garbage collector. At most `maxBytes / largest piece` free buffers are kept.
 */
import { RuntimeError } from '../errors.js';
import type { Storage } from './storage.js';

export class ReadCache {
  /** Loaded pieces, least recently used first. */
  private readonly loaded = new Map<number, Buffer>();
  /**
   * Blocks lent out per buffer (by its memory), and dropped buffers waiting for theirs. Weak: a
   * buffer whose blocks a stream never gives back (a bug elsewhere) is still collected.
   */
  private readonly lent = new WeakMap<ArrayBufferLike, number>();
  private readonly dropped = new WeakMap<ArrayBufferLike, Buffer>();
  /** Buffers ready to be read into, each of `freeSize` bytes. */
  private free: Buffer[] = [];
  private freeSize = 0;
  /** Reads in flight, with the bytes each will take. */
  private readonly loading = new Map<number, { promise: Promise<Buffer>; bytes: number }>();
  private loadedBytes = 0;
  private loadingBytes = 0;

  constructor(
    private readonly storage: Storage,
    private readonly maxBytes: number,
    /** Bytes of reads in flight at once that read-ahead may start; half the cache by default. */
    private readonly maxAheadBytes = Math.floor(maxBytes / 2),
  ) {}

  /**
   * What a read in flight is counted as before its size is known: the largest piece loaded so
   * far (pieces of a torrent are one size but the last), or the whole read-ahead bound before
   * the first, so that only one read-ahead runs until a piece tells us their size.
   */
  private largestPiece = 0;

  /** Bytes held by loaded pieces, and by reads in flight. */
  get bytes(): { loaded: number; loading: number } {
    return { loaded: this.loadedBytes, loading: this.loadingBytes };
  }

  /**
   * A view of `length` bytes at `begin` of a loaded piece (now the most recently used), or null
   * when the piece is not loaded. Throws when the range lies outside the piece.
   */
  get(piece: number, begin: number, length: number): Buffer | null {
    const data = this.loaded.get(piece);
    if (!data) return null;
    if (begin + length > data.length) throw new RuntimeError('ERR_DISK', `block ${begin}+${length} outside piece ${piece}`);
    this.loaded.delete(piece); // most recently used goes last
    this.loaded.set(piece, data);
    this.lent.set(data.buffer, (this.lent.get(data.buffer) ?? 0) + 1);
    return data.subarray(begin, begin + length);
  }

  /** A block from `get` is no longer used by anyone: its buffer may be read into again once dropped. */
  release(block: Buffer): void {
    const left = (this.lent.get(block.buffer) ?? 0) - 1;
    if (left > 0) {
      this.lent.set(block.buffer, left);
      return;
    }
    this.lent.delete(block.buffer);
    const data = this.dropped.get(block.buffer);
    if (data) {
      this.dropped.delete(block.buffer);
      this.recycle(data);
    }
  }

  has(piece: number): boolean {
    return this.loaded.has(piece);
  }

  isLoading(piece: number): boolean {
    return this.loading.has(piece);
  }

  /** Loads `piece` (or joins its read in flight); resolves once `get` can return its blocks. */
  load(piece: number): Promise<void> {
    if (this.loaded.has(piece)) return Promise.resolve();
    return this.start(piece).then(() => undefined);
  }

  /**
   * Starts reading `piece` ahead of its requests when the read-ahead bound allows. Returns true
   * when the piece is loaded or being read, false when the bound kept it from starting. A failed
   * read-ahead is forgotten: the `load` that needs the piece meets the error itself.
   */
  prefetch(piece: number): boolean {
    if (this.loaded.has(piece) || this.loading.has(piece)) return true;
    if (this.loadingBytes + this.estimate() > this.maxAheadBytes) return false;
    this.start(piece).catch(() => undefined);
    return true;
  }

  private start(piece: number): Promise<Buffer> {
    const current = this.loading.get(piece);
    if (current) return current.promise;
    const bytes = this.estimate();
    const promise = this.storage.readPiece(piece, this.free.pop()).then(
      (data) => {
        this.settle(piece, bytes);
        if (!data) throw new RuntimeError('ERR_DISK', `piece ${piece} is no longer on disk`);
        this.largestPiece = Math.max(this.largestPiece, data.length);
        if (!this.loaded.has(piece)) {
          this.loaded.set(piece, data);
          this.loadedBytes += data.length;
          this.evict(piece);
        }
        return data;
      },
      (e: unknown) => {
        this.settle(piece, bytes);
        throw e;
      },
    );
    this.loading.set(piece, { promise, bytes });
    this.loadingBytes += bytes;
    return promise;
  }

  private estimate(): number {
    return this.largestPiece > 0 ? this.largestPiece : this.maxAheadBytes;
  }

  private settle(piece: number, bytes: number): void {
    this.loading.delete(piece);
    this.loadingBytes -= bytes;
  }

  /** Drops least recently used pieces past maxBytes, never `keep` (the piece just loaded). */
  private evict(keep: number): void {
    for (const [piece, data] of this.loaded) {
      if (this.loadedBytes <= this.maxBytes) return;
      if (piece === keep) continue;
      this.loaded.delete(piece);
      this.loadedBytes -= data.length;
      if (this.lent.has(data.buffer)) this.dropped.set(data.buffer, data);
      else this.recycle(data);
    }
  }

  /**
   * Keeps the memory of a piece nobody uses for the next load, when it is the largest size seen
   * and there is room. Only a buffer that is its whole memory: a view is left to the garbage
   * collector (a short last piece read into a kept buffer, or a small Buffer cut from Node's
   * shared pool, whose other bytes belong to others and must never be read into).
   */
  private recycle(data: Buffer): void {
    if (data.byteOffset !== 0 || data.length !== data.buffer.byteLength || !(data.buffer instanceof ArrayBuffer)) return;
    const size = data.length;
    if (size !== this.freeSize) {
      if (size < this.freeSize) return;
      this.freeSize = size;
      this.free = [];
    }
    if ((this.free.length + 1) * size <= this.maxBytes) this.free.push(data);
  }
}

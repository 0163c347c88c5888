/**
 * Reusable read buffers for the start-up check and verify when they hash on their own thread
 * (check.ts): a batch of pieces is read into one, hashed, and the buffer is given back to be
 * filled again.
 *
 * Why: a fresh Buffer per piece is a fresh allocation (of up to a piece length, which may be many
 * MiB) whose pages fault in on the first write and are returned to the kernel (and on this
 * machine to the host) when collected; a reused buffer faults in once.
 *
 * Owns: at most `count` buffers of `bufferBytes` bytes each, made lazily (a check of a few pieces
 * allocates one, not `count`), and which of them are free.
 *
 * Invariants: memory is bounded by count * bufferBytes, whatever the torrent size. take() never
 * waits: the caller keeps at most `count` buffers out (it holds one per piece batch in flight,
 * and its in-flight bound is `count`); taking one more, or giving back more than were taken, is a
 * bug (InternalError), never a silent extra buffer.
 */
import { InternalError } from '../errors.js';

export class BufferPool {
  private readonly free: Buffer[] = [];
  private out = 0;

  constructor(
    private readonly bufferBytes: number,
    private readonly count: number,
  ) {}

  /** A free buffer of `bufferBytes`; InternalError when all `count` are out. */
  take(): Buffer {
    if (this.out >= this.count) throw new InternalError(`buffer pool: all ${this.count} buffers are in use`);
    this.out++;
    // Not zeroed: every byte is read into before it is used.
    return this.free.pop() ?? Buffer.allocUnsafe(this.bufferBytes);
  }

  /** Takes back a buffer take() gave. */
  give(buf: Buffer): void {
    if (this.out === 0) throw new InternalError('buffer pool: given back more buffers than were taken');
    this.out--;
    this.free.push(buf);
  }
}

/**
 * A fixed set of reusable read buffers for hashing data on disk (the start-up check and verify,
 * when they hash on their own thread: check.ts): a batch of pieces is read into one, hashed, and
 * the buffer is given back to be filled again. Each buffer owns its ArrayBuffer, so a caller may
 * also transfer one to a worker thread and give back what comes back.
 *
 * Why: a fresh Buffer per piece is a fresh allocation (of up to a piece length, which may be many
 * MiB) whose pages fault in on the first write and are returned to the kernel (and on this
 * machine to the host) when collected; a reused buffer faults in once.
 *
 * Owns: at most `count` ArrayBuffers of exactly `bufferBytes` bytes each, made lazily (a check of
 * a few pieces allocates one, not `count`), and which of them are free.
 *
 * Invariants:
 * - Memory is bounded by count * bufferBytes, whatever the torrent size.
 * - Every buffer handed out owns its whole ArrayBuffer (byteOffset 0, nothing else shares it), so
 *   it can be transferred to a worker thread without detaching anyone else's bytes.
 * - take() never waits: the caller keeps at most `count` buffers out (it holds one per piece batch
 *   in flight, and its in-flight bound is `count`); taking one more is a bug (InternalError).
 * - give() takes back a buffer of this pool's size, even as a different ArrayBuffer object (a
 *   transfer round trip gives a new wrapper around the same memory); a wrong size, a detached
 *   buffer, or more gives than takes are bugs (InternalError), never silently pooled.
 */
import { InternalError } from '../errors.js';

export class BufferPool {
  private readonly free: ArrayBuffer[] = [];
  private made = 0;
  private out = 0;

  /** @param bufferBytes size of every buffer (> 0); @param count most buffers that exist (>= 1) */
  constructor(
    readonly bufferBytes: number,
    readonly count: number,
  ) {
    if (!Number.isSafeInteger(bufferBytes) || bufferBytes <= 0) throw new RangeError(`buffer size ${bufferBytes}`);
    if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`buffer count ${count}`);
  }

  /** Buffers not handed out now (made or still to be made). */
  get available(): number {
    return this.count - this.out;
  }

  /** Buffers allocated so far: at most `count`. */
  get allocated(): number {
    return this.made;
  }

  /** A free buffer, the whole of its ArrayBuffer; InternalError when all `count` are out. */
  take(): Buffer {
    if (this.out >= this.count) throw new InternalError(`buffer pool: all ${this.count} buffers are in use`);
    let ab = this.free.pop();
    if (ab === undefined) {
      // allocUnsafeSlow: its own ArrayBuffer (never a slice of Node's shared slab), not zeroed
      // (every byte is read into before it is used).
      ab = Buffer.allocUnsafeSlow(this.bufferBytes).buffer as ArrayBuffer;
      this.made++;
    }
    this.out++;
    return Buffer.from(ab, 0, this.bufferBytes);
  }

  /** Takes a buffer back (the Buffer or view that take() gave, or its ArrayBuffer after a round trip). */
  give(buf: ArrayBuffer | Uint8Array): void {
    const ab = buf instanceof ArrayBuffer ? buf : buf.buffer;
    if (!(ab instanceof ArrayBuffer) || ab.byteLength !== this.bufferBytes) {
      throw new InternalError(`buffer pool: given ${ab.byteLength} bytes, its buffers are ${this.bufferBytes}`);
    }
    if (this.out === 0) throw new InternalError('buffer pool: given back more buffers than were taken');
    this.out--;
    this.free.push(ab);
  }
}

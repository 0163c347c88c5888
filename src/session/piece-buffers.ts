/**
 * Buffers that pieces are assembled in: each block is copied once, from the socket's read buffer
 * into its piece's buffer, and the buffer goes back to the pool once the piece is written. In a
 * steady download nothing is allocated per block or per piece, so memory neither churns nor
 * grows with the torrent (fresh pages cost a page fault each; on this kind of machine also the
 * host's time).
 */
export class PieceBufferPool {
  private readonly free: Buffer[] = [];

  constructor(
    private readonly pieceLength: number,
    /** Free buffers kept for reuse; more are left to the garbage collector. */
    private readonly maxFree: number,
  ) {}

  /** A buffer of `size` bytes (<= pieceLength), contents undefined. */
  take(size: number): Buffer {
    // Shared memory, so the disk writer's thread writes the piece without a copy (storage/disk-writer.ts).
    const b = this.free.pop() ?? Buffer.from(new SharedArrayBuffer(this.pieceLength));
    return size === this.pieceLength ? b : b.subarray(0, size);
  }

  /** Returns a buffer from take() once nothing refers to it any more. */
  give(b: Buffer): void {
    if (this.free.length >= this.maxFree) return;
    // A shortened last piece is a view: return its full-size backing buffer.
    const full = b.length === this.pieceLength ? b : Buffer.from(b.buffer, b.byteOffset, this.pieceLength);
    if (full.byteLength === this.pieceLength && b.byteOffset === 0) this.free.push(full);
  }
}

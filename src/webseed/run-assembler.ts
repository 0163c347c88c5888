/**
 * Run assembler: turns the byte streams of a run's HTTP responses into whole pieces. Pure (no
 * I/O): `write(runOffset, bytes)` copies bytes once, from the response chunk into the piece
 * buffer they belong to; a piece is handed to `onPiece` the moment its last byte lands, so a
 * long run streams out piece by piece instead of waiting for its slowest request.
 *
 * Invariants: a piece never takes more bytes than its size (more is a bug in the caller and
 * throws), nor bytes past the run's end; a piece buffer is allocated on its first byte and released to the
 * callback when full, so memory holds only pieces in progress; pad spans are zero-filled, never
 * fetched; pieces are emitted exactly once each, in completion order, not index order. It does
 * not check hashes: the session's assembler does (BEP 19: a web seed is verified like a peer).
 */

export type PieceSink = (piece: number, data: Buffer) => void;

export class RunAssembler {
  private readonly buffers: (Buffer | null)[];
  private readonly filled: number[];
  private emitted = 0;

  constructor(
    readonly first: number,
    readonly last: number,
    private readonly pieceLength: number,
    private readonly pieceSize: (piece: number) => number,
    private readonly onPiece: PieceSink,
    /** Where piece buffers come from: the session's pool, so pieces reuse warm memory (default: a fresh buffer). */
    private readonly allocate: (size: number) => Buffer = (size) => Buffer.allocUnsafe(size),
  ) {
    const n = last - first + 1;
    this.buffers = new Array<Buffer | null>(n).fill(null);
    this.filled = new Array<number>(n).fill(0);
  }

  get done(): boolean {
    return this.emitted === this.buffers.length;
  }

  /** Pieces of the run not yet complete. */
  missing(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.buffers.length; i++) if (this.filled[i]! < this.pieceSize(this.first + i)) out.push(this.first + i);
    return out;
  }

  /** Copies `bytes` to run offset `runOffset` (0 = first byte of piece `first`). */
  write(runOffset: number, bytes: Buffer): void {
    this.put(runOffset, bytes.length, (buf, at, from, n) => bytes.copy(buf, at, from, from + n));
  }

  /** Zeros for `length` bytes at `runOffset` (a BEP 47 pad file). */
  zero(runOffset: number, length: number): void {
    this.put(runOffset, length, (buf, at, _from, n) => buf.fill(0, at, at + n));
  }

  private put(runOffset: number, length: number, copy: (buf: Buffer, at: number, from: number, n: number) => void): void {
    let done = 0;
    while (done < length) {
      const pos = runOffset + done;
      const i = Math.floor(pos / this.pieceLength);
      const size = i < this.buffers.length ? this.pieceSize(this.first + i) : 0;
      const at = pos - i * this.pieceLength;
      if (i >= this.buffers.length || at >= size) throw new RangeError(`run offset ${pos} is past the run's last piece ${this.last}`);
      const n = Math.min(length - done, size - at);
      let buf = this.buffers[i];
      if (buf === null || buf === undefined) {
        buf = this.allocate(size);
        if (buf.length < size) throw new RangeError(`piece allocator gave ${buf.length} bytes for a ${size}-byte piece`);
        if (buf.length > size) buf = buf.subarray(0, size);
        this.buffers[i] = buf;
      }
      if (this.filled[i]! + n > size) throw new RangeError(`piece ${this.first + i} written twice`);
      copy(buf, at, done, n);
      this.filled[i] = this.filled[i]! + n;
      done += n;
      if (this.filled[i] === size) {
        this.buffers[i] = null;
        this.emitted++;
        this.onPiece(this.first + i, buf);
      }
    }
  }
}

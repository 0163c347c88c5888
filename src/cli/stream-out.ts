/**
 * `--stdout`: one file's bytes to stdout, in order, each piece as soon as it and every piece
 * before it are verified. Writes wait for stdout to drain (backpressure); a reader that goes away
 * (EPIPE: `| head -c 1000`) ends the stream quietly and asks the caller to stop the download.
 */

/** What the stream reads from: the session's view for --stdout. */
export interface StreamSource {
  acquireStorageLease(): () => void;
  hasWritten(piece: number): boolean;
  readPiece(piece: number): Promise<Buffer | null>;
  releasePiece(piece: number): void;
  setStreamCursor(cursor: number): void;
}

export interface StreamRange {
  /** Byte range of the file in the torrent's data. */
  offset: number;
  length: number;
  firstPiece: number;
  lastPiece: number;
  pieceLength: number;
}

export class StreamOut {
  private cursor: number;
  private pumping: Promise<void> = Promise.resolve();
  private releaseLease: (() => void) | null;
  /** Set when the reader closed the pipe. */
  closed = false;
  private failure: unknown = null;
  /** A write handed to stdout and not yet flushed (a reader that does not read holds it). */
  private writing = false;

  constructor(
    private readonly session: StreamSource,
    private readonly range: StreamRange,
    private readonly out: NodeJS.WriteStream,
    private readonly onReaderGone: () => void,
  ) {
    this.cursor = range.firstPiece;
    this.releaseLease = session.acquireStorageLease();
    out.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') this.readerGone();
      else this.failure = e;
    });
    if (range.length === 0) this.release();
  }

  get done(): boolean {
    return this.cursor > this.range.lastPiece || this.range.length === 0;
  }

  /** Call after a piece is written (and once at the start, for pieces already on disk). */
  kick(): void {
    this.pumping = this.pumping.then(() => this.pump());
  }

  /** Resolves when everything available has been written (or the stream ended). */
  async finish(): Promise<void> {
    this.kick();
    await this.pumping;
    this.release();
    if (this.failure) throw this.failure;
  }

  /**
   * The download stopped: give storage back without waiting for more pieces. A write still
   * waiting for a reader that does not read is abandoned (stdout is destroyed), so an
   * interrupted run ends even when nobody reads the pipe.
   */
  abort(): void {
    this.closed = true;
    this.release();
    if (this.writing) this.out.destroy();
  }

  private async pump(): Promise<void> {
    while (!this.closed && !this.done && this.session.hasWritten(this.cursor)) {
      const piece = this.cursor;
      const data = await this.session.readPiece(piece);
      if (!data) throw new Error(`piece ${piece} vanished before it was streamed`);
      const start = piece * this.range.pieceLength;
      const from = Math.max(this.range.offset, start) - start;
      const to = Math.min(this.range.offset + this.range.length, start + data.length) - start;
      await this.write(data.subarray(from, to));
      this.session.releasePiece(piece);
      this.cursor++;
      this.session.setStreamCursor(this.cursor);
    }
    if (this.done) this.release();
  }

  /** Resolves once the chunk is handed to the OS, or failed (the reader is gone): backpressure. */
  private write(chunk: Buffer): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.writing = true;
    return new Promise((resolve) => {
      this.out.write(chunk, () => {
        this.writing = false;
        resolve();
      });
    });
  }

  private readerGone(): void {
    if (this.closed) return;
    this.closed = true;
    this.release();
    this.onReaderGone();
  }

  private release(): void {
    this.releaseLease?.();
    this.releaseLease = null;
  }
}

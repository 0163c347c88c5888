/**
 * Storage in memory, for `--stdout --no-save` (and tests): verified pieces are kept until the
 * consumer has read them and calls release(), so memory is bounded by how far the download may
 * run ahead of the reader (the session's stream window), never by the torrent's size.
 */
import { RuntimeError } from '../errors.js';
import type { Storage } from './storage.js';

export class MemoryStorage implements Storage {
  private readonly pieces = new Map<number, readonly Buffer[]>();
  private heldBytes = 0;

  constructor(private readonly pieceSize: (piece: number) => number) {}

  /** Bytes held right now. */
  get bytes(): number {
    return this.heldBytes;
  }

  async writePiece(piece: number, blocks: readonly Buffer[]): Promise<void> {
    if (this.pieces.has(piece)) return;
    this.pieces.set(piece, blocks);
    this.heldBytes += this.pieceSize(piece);
  }

  async readBlock(piece: number, begin: number, length: number): Promise<Buffer> {
    const data = await this.readPiece(piece);
    if (!data || begin + length > data.length) throw new RuntimeError('ERR_DISK', `piece ${piece} is not held`);
    return data.subarray(begin, begin + length);
  }

  async readPiece(piece: number): Promise<Buffer | null> {
    const blocks = this.pieces.get(piece);
    return blocks ? Buffer.concat(blocks) : null;
  }

  /** The consumer is done with this piece: forget it. */
  release(piece: number): void {
    if (this.pieces.delete(piece)) this.heldBytes -= this.pieceSize(piece);
  }

  async close(): Promise<void> {
    this.pieces.clear();
    this.heldBytes = 0;
  }
}

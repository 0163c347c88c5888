/**
 * A bounded read cache for uploads: a request for one 16 KiB block loads its whole piece once
 * (peers usually ask for every block of a piece in a row) and later blocks are views of it.
 * Concurrent requests for the same piece share one read. Least recently used pieces are dropped
 * past `maxBytes`, so a peer flooding requests cannot grow memory beyond it.
 */
import { RuntimeError } from '../errors.js';
import type { Storage } from './storage.js';

export class ReadCache {
  private readonly pieces = new Map<number, Promise<Buffer>>();
  private readonly sizes = new Map<number, number>();
  private bytes = 0;

  constructor(
    private readonly storage: Storage,
    private readonly maxBytes: number,
  ) {}

  async block(piece: number, begin: number, length: number): Promise<Buffer> {
    let entry = this.pieces.get(piece);
    if (entry) {
      this.pieces.delete(piece); // most recently used goes last
      this.pieces.set(piece, entry);
    } else {
      entry = this.storage.readPiece(piece).then((data) => {
        if (!data) throw new RuntimeError('ERR_DISK', `piece ${piece} is no longer on disk`);
        return data;
      });
      this.pieces.set(piece, entry);
      entry.then(
        (data) => {
          if (this.pieces.get(piece) !== entry) return;
          this.sizes.set(piece, data.length);
          this.bytes += data.length;
          this.evict();
        },
        () => this.pieces.delete(piece),
      );
    }
    const data = await entry;
    if (begin + length > data.length) throw new RuntimeError('ERR_DISK', `block ${begin}+${length} outside piece ${piece}`);
    return data.subarray(begin, begin + length);
  }

  private evict(): void {
    for (const piece of this.pieces.keys()) {
      if (this.bytes <= this.maxBytes) return;
      const size = this.sizes.get(piece);
      if (size === undefined) continue; // still loading
      this.pieces.delete(piece);
      this.sizes.delete(piece);
      this.bytes -= size;
    }
  }
}

/**
 * Piece <-> file span map: which byte ranges of which files a piece (or a block) covers.
 *
 * Pure. Built from the torrent's file list (pad files included, so offsets line up with the piece
 * hashes); pad-file spans are reported with `pad: true` so storage can skip writing them and
 * produce zeros when reading. Lookup is a binary search over the offsets of the non-empty files
 * only: O(log files + spans) per call however many empty files share an offset (a torrent of
 * 100,000 empty files and one byte maps that byte without walking the empty ones).
 */
import type { TorrentFile } from '../metainfo/index.js';

export interface FileSpan {
  /** Index into the torrent's file list (pad files included). */
  fileIndex: number;
  /** Offset inside the file. */
  fileOffset: number;
  /** Offset inside the requested range (piece or block). */
  rangeOffset: number;
  length: number;
  pad: boolean;
}

export class PieceMap {
  /** Indexes (into files) of the files with at least one byte, in offset order. */
  private readonly nonEmpty: Uint32Array;
  /** Their offsets: starts[k] = files[nonEmpty[k]].offset (ascending, distinct). */
  private readonly starts: Float64Array;

  constructor(
    readonly files: readonly TorrentFile[],
    readonly pieceLength: number,
    readonly totalLength: number,
  ) {
    let n = 0;
    for (const f of files) if (f.length > 0) n++;
    this.nonEmpty = new Uint32Array(n);
    this.starts = new Float64Array(n);
    let k = 0;
    files.forEach((f, i) => {
      if (f.length === 0) return;
      this.nonEmpty[k] = i;
      this.starts[k] = f.offset;
      k++;
    });
  }

  get pieceCount(): number {
    return Math.ceil(this.totalLength / this.pieceLength);
  }

  pieceSize(piece: number): number {
    const start = piece * this.pieceLength;
    return Math.min(this.pieceLength, this.totalLength - start);
  }

  /** Spans covering `length` bytes at torrent offset `offset`, in order. Zero-length files are skipped. */
  spans(offset: number, length: number): FileSpan[] {
    if (offset < 0 || length < 0 || offset + length > this.totalLength) {
      throw new RangeError(`range ${offset}+${length} outside the torrent's ${this.totalLength} bytes`);
    }
    const out: FileSpan[] = [];
    let k = this.fileAt(offset);
    let pos = offset;
    const end = offset + length;
    while (pos < end && k < this.nonEmpty.length) {
      const i = this.nonEmpty[k]!;
      const f = this.files[i]!;
      const fileEnd = f.offset + f.length;
      if (pos < fileEnd) {
        const n = Math.min(end, fileEnd) - pos;
        out.push({ fileIndex: i, fileOffset: pos - f.offset, rangeOffset: pos - offset, length: n, pad: f.pad });
        pos += n;
      }
      k++;
    }
    return out;
  }

  pieceSpans(piece: number): FileSpan[] {
    return this.spans(piece * this.pieceLength, this.pieceSize(piece));
  }

  /** Pieces that hold any byte of file `fileIndex`: [first, last], or null for an empty file. */
  filePieces(fileIndex: number): [number, number] | null {
    const f = this.files[fileIndex]!;
    if (f.length === 0) return null;
    return [Math.floor(f.offset / this.pieceLength), Math.floor((f.offset + f.length - 1) / this.pieceLength)];
  }

  /** Position in nonEmpty of the last non-empty file starting at or before `offset` (0 if none). */
  private fileAt(offset: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

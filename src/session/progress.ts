/**
 * Progress accounting for one torrent once its metadata is known: which pieces are wanted (the
 * selection, fixed for the session), which are written (on disk, or in the memory store), and
 * how many bytes of each file are there. A piece counts as written only after storage accepted
 * it: `verified` in stats and events means on disk. `forget` takes a piece back (its file was
 * changed from outside, or it can no longer be read).
 */
import type { Metainfo } from '../metainfo/index.js';
import type { PieceMap } from '../storage/piece-map.js';
import { Bitfield } from '../util/bitfield.js';

export class Progress {
  readonly wanted: Bitfield;
  readonly written: Bitfield;
  wantedPieces = 0;
  wantedBytes = 0;
  writtenWanted = 0;
  writtenWantedBytes = 0;
  private readonly fileRemaining: number[];

  constructor(
    private readonly meta: Metainfo,
    private readonly map: PieceMap,
    private readonly selected: ReadonlySet<number> | null,
  ) {
    this.wanted = new Bitfield(meta.pieceCount);
    this.written = new Bitfield(meta.pieceCount);
    this.fileRemaining = meta.files.map((f) => (f.pad ? 0 : f.length));
    for (let p = 0; p < meta.pieceCount; p++) {
      if (!this.touchesSelection(p)) continue;
      this.wanted.set(p);
      this.wantedPieces++;
      this.wantedBytes += map.pieceSize(p);
    }
  }

  isFileSelected(i: number): boolean {
    const f = this.meta.files[i]!;
    return !f.pad && (this.selected === null || this.selected.has(i));
  }

  /** Marks a piece written; returns the selected files it completed. */
  markWritten(piece: number): number[] {
    if (this.written.has(piece)) return [];
    this.written.set(piece);
    if (this.wanted.has(piece)) {
      this.writtenWanted++;
      this.writtenWantedBytes += this.map.pieceSize(piece);
    }
    const done: number[] = [];
    for (const s of this.map.pieceSpans(piece)) {
      if (s.pad) continue;
      const left = (this.fileRemaining[s.fileIndex]! -= s.length);
      if (left === 0 && this.isFileSelected(s.fileIndex)) done.push(s.fileIndex);
    }
    return done;
  }

  /** The piece is no longer on disk. */
  forget(piece: number): void {
    if (!this.written.has(piece)) return;
    this.written.clear(piece);
    if (this.wanted.has(piece)) {
      this.writtenWanted--;
      this.writtenWantedBytes -= this.map.pieceSize(piece);
    }
    for (const s of this.map.pieceSpans(piece)) if (!s.pad) this.fileRemaining[s.fileIndex]! += s.length;
  }

  get complete(): boolean {
    return this.writtenWanted === this.wantedPieces;
  }

  /** Bytes on disk per file of meta.files, pad files 0. */
  fileProgress(): { fileIndex: number; length: number; done: number }[] {
    return this.meta.files.map((f, i) => ({ fileIndex: i, length: f.pad ? 0 : f.length, done: f.pad ? 0 : f.length - this.fileRemaining[i]! }));
  }

  private touchesSelection(piece: number): boolean {
    if (!this.selected) return true;
    for (const s of this.map.pieceSpans(piece)) if (!s.pad && this.selected.has(s.fileIndex)) return true;
    return false;
  }
}

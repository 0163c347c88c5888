/**
 * The --stdout read-ahead window: pieces [firstPiece, lastPiece] are fetched in order,
 * `windowPieces` ahead of the reader first. With `hard`, nothing beyond the window is wanted at
 * all (memory stays bounded when nothing is saved); otherwise the rest follows at lower priority.
 * Pure bookkeeping over the picker; the session tells peers about newly wanted pieces.
 */
import type { PiecePicker } from '../picker/index.js';

export interface StreamPlan {
  firstPiece: number;
  lastPiece: number;
  windowPieces: number;
  hard: boolean;
}

/** Inside the read-ahead window first, then the rest (soft window). */
const WINDOW_PRIORITY = 2;
const BEHIND_PRIORITY = 1;

export class StreamWindow {
  /** Pieces below this have been raised into the window. */
  private end: number;

  constructor(
    private readonly plan: StreamPlan,
    private readonly picker: PiecePicker,
  ) {
    picker.setSequential(true);
    this.end = plan.firstPiece;
    for (let p = plan.firstPiece; p <= plan.lastPiece; p++) picker.setPriority(p, plan.hard ? 0 : BEHIND_PRIORITY);
  }

  /**
   * The reader has everything before `cursor`: raises the next window to the top priority.
   * Returns the pieces that became wanted at all (hard window), whose holders become interesting.
   */
  advance(cursor: number): number[] {
    const last = Math.min(this.plan.lastPiece + 1, cursor + this.plan.windowPieces);
    const newlyWanted: number[] = [];
    for (let p = this.end; p < last; p++) {
      if (this.picker.has(p)) continue;
      this.picker.setPriority(p, WINDOW_PRIORITY);
      if (this.plan.hard) newlyWanted.push(p);
    }
    this.end = Math.max(this.end, last);
    return newlyWanted;
  }
}

/**
 * The --stdout read-ahead window: pieces [firstPiece, lastPiece] are fetched in order,
 * `windowPieces` ahead of the reader first. With `hard`, nothing beyond the window is wanted at
 * all (memory stays bounded when nothing is saved); otherwise the rest follows at lower priority.
 * Pure bookkeeping over the picker; the session tells peers about newly wanted pieces.
 */
import type { PiecePicker } from '../picker/index.js';
import type { LivePeer } from './live-peer.js';
import type { Torrent } from './types.js';

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

/**
 * The --stdout reader's view of a session (the CLI is handed this, not the session): which
 * pieces are on disk or in the memory store, reading them, releasing them (--no-save), moving the
 * read-ahead window, and leases that keep storage open until the reader is done.
 */
export class StreamReader {
  readonly leases = new Set<Promise<void>>();

  constructor(
    private readonly torrent: () => Torrent | null,
    private readonly livePeers: () => LivePeer[],
  ) {}

  hasWritten(piece: number): boolean {
    return this.torrent()?.progress.written.has(piece) ?? false;
  }

  readPiece(piece: number): Promise<Buffer | null> {
    const t = this.torrent();
    return t ? t.storage.store.readPiece(piece) : Promise.resolve(null);
  }

  /** With --no-save: the reader is done with this piece; its memory is released. */
  releasePiece(piece: number): void {
    (this.torrent()?.storage.store as { release?: (p: number) => void } | undefined)?.release?.(piece);
  }

  /** The reader has everything before `cursor`: move the read-ahead window. */
  setStreamCursor(cursor: number): void {
    const t = this.torrent();
    if (!t?.stream) return;
    const live = this.livePeers();
    for (const p of t.stream.advance(cursor)) t.scheduler.onWanted(live, p);
    t.scheduler.updateAll(live);
  }

  /** Keeps storage open past the end of the session until the returned function is called. */
  acquireStorageLease(): () => void {
    let release!: () => void;
    const lease = new Promise<void>((resolve) => (release = resolve));
    this.leases.add(lease);
    return () => {
      this.leases.delete(lease);
      release();
    };
  }
}

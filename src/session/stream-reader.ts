/**
 * The --stdout reader's view of a session (cli/stream-out.ts is handed this, not the session):
 * which pieces are on disk or in the memory store, reading them, releasing them (--no-save),
 * moving the read-ahead window (stream-window.ts), and leases that keep storage open until the
 * reader is done. Apart from the window because it reads the session's Torrent, which holds the
 * window: together they imported each other.
 */
import type { LivePeer } from './live-peer.js';
import type { Torrent } from './types.js';

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

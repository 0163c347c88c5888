/**
 * The session's side of one live connection: what the peer told us about the torrent (its
 * pieces, its BEP 10 handshake), how we judge it (snubbed, how many of its pieces we want) and
 * what it asked of us (the upload queue). The PeerConnection below keeps only wire state.
 *
 * Before the metadata is known (magnet phase) the piece count is unknown: the peer's bitfield
 * and haves are held raw (bounded by the framer's message limit and MAX_PENDING_HAVES) and
 * applied by `learnPieceCount`, so the connection survives into the download.
 */
import type { PeerConnection } from '../peer/index.js';
import { Bitfield } from '../util/bitfield.js';
import { PerSecond } from '../util/rate.js';
import type { PeerEntry } from './peer-set.js';

/** Haves remembered before the piece count is known; past it they are dropped (the bitfield
 * and later haves still count). */
export const MAX_PENDING_HAVES = 4096;

export interface UploadRequest {
  index: number;
  begin: number;
  length: number;
}

export interface PeerExtensions {
  /** The peer's ids for our extensions (BEP 10 `m`). */
  metadata?: number;
  pex?: number;
  /** Where it accepts connections (BEP 10 `p`). */
  listenPort?: number;
  /** BEP 9 metadata_size it announced. */
  metadataSize?: number;
}

export class LivePeer {
  /** Pieces it has; null until the piece count is known. */
  bitfield: Bitfield | null = null;
  private pendingBitfield: Buffer | null = null;
  private pendingHaves = new Set<number>();
  ext: PeerExtensions = {};
  /** Requests it will queue for us (BEP 10 `reqq`); 0 = not said. */
  reqq = 0;
  snubbed = false;
  /**
   * Shortest time from a request to its block seen on this connection (ms): the round trip plus
   * one block's transfer, an upper bound of the round trip that deeper queues never lower.
   */
  minLatencyMs = Infinity;
  /** Its download rate when its last block came (a stall does not bring it down; 0 = none yet). */
  deliveryRate = 0;
  /**
   * Slow start (as TCP's, and libtorrent's): the queue grows by one request per block received,
   * doubling each round trip, until a second's rate no longer grows by SLOW_START_GROWTH; then
   * the rate alone sizes it. A rate average lags a link that is still filling.
   */
  slowStart = true;
  slowStartQueue = 0;
  slowStartRate = 0;
  slowStartCheckedAt = -Infinity;
  /** Pieces it has that we want and lack: interested exactly while > 0. */
  interesting = 0;
  /** Blocks it asked for that we have not sent yet, oldest first (bounded by MAX_UPLOAD_QUEUE). */
  uploadQueue: UploadRequest[] = [];
  /** Disk reads in flight for its requests. */
  reading = 0;
  /** Set while its uploads wait for the upload limit. */
  serveTimer: { cancel(): void } | null = null;
  invalidRequests = 0;
  /** Addresses our PEX messages told it about, and when we last sent one. */
  pexSent = new Set<string>();
  lastPexAt = -Infinity;
  /** When it became live (eviction prefers long-idle peers). */
  readonly since: number;
  /** Metadata requests answered this second (BEP 9 answers are rate-limited). */
  readonly answers = new PerSecond();
  /** Control messages (choke, unchoke, interested, not-interested, metadata requests) this second. */
  readonly control = new PerSecond();
  /** Both sides set the BEP 6 bit: have-all/none, reject, allowed-fast, suggest are spoken. */
  fast = false;
  /** It said have-all (BEP 6): no later summary may take pieces back. */
  saidHaveAll = false;
  /** BEP 6: the peer has everything, said before the piece count was known. */
  private pendingHaveAll = false;
  /** BEP 6: pieces it lets us request while it chokes us (at most MAX_ALLOWED_FAST). */
  readonly allowedFastIn = new Set<number>();
  /** BEP 6: pieces we let it request while we choke it. */
  allowedFastOut = new Set<number>();
  /** We sent our piece summary (a bitfield, have-all or have-none); later news goes as haves. */
  greeted = false;

  constructor(
    readonly conn: PeerConnection,
    readonly entry: PeerEntry,
    now: number,
  ) {
    this.since = now;
  }

  get id(): number {
    return this.conn.id;
  }

  get isSeed(): boolean {
    return this.bitfield !== null && this.bitfield.complete;
  }

  /** BEP 6 have-all before the piece count is known. */
  holdHaveAll(): void {
    this.pendingHaveAll = true;
  }

  /** A bitfield message; raw until the piece count is known. Returns whether it was applied. */
  setBitfield(bits: Buffer, pieceCount: number | null): boolean {
    if (pieceCount === null) {
      this.pendingBitfield = Buffer.from(bits);
      return false;
    }
    this.bitfield = new Bitfield(pieceCount, bits);
    return true;
  }

  /** A have before the piece count is known. */
  holdHave(index: number): void {
    if (this.pendingHaves.size < MAX_PENDING_HAVES) this.pendingHaves.add(index);
  }

  /**
   * The metadata arrived: builds the bitfield from what was held. Returns the raw bitfield to
   * validate (null if none came) and the haves to apply after it.
   */
  takePending(): { bitfield: Buffer | null; haveAll: boolean; haves: number[] } {
    const out = { bitfield: this.pendingBitfield, haveAll: this.pendingHaveAll, haves: [...this.pendingHaves] };
    this.pendingHaveAll = false;
    this.pendingBitfield = null;
    this.pendingHaves = new Set();
    return out;
  }

}

/**
 * The torrent's web seeds (BEP 19 `url-list`, BEP 17 `httpseeds`) as sources of whole pieces,
 * beside the peers. Each seed has every piece; it takes runs of consecutive untouched wanted
 * pieces (no block of them asked of a peer yet), from a cursor, so that one HTTP Range request
 * covers many pieces of one file (never one request per 16 KiB block). Pieces it delivers go
 * through the same verify-then-write path as a peer's; a piece that fails its hash proves the
 * server wrong (it was the only sender): that seed is dropped, no peer is blamed.
 *
 * Owns: the WebSeed objects, which pieces each is fetching (marked requested in the picker
 * under the seed's own picker id, so peers do not ask for them), the runs in flight.
 * Bounds: RUNS_PER_SEED runs in flight per seed, RUN_BYTES per run; nothing starts while the
 * disk is behind or the assembler has no room; --download-limit is spent before a run starts.
 * Seeds stop (close) when the download completes or the session ends.
 */
import type { Metainfo } from '../metainfo/index.js';
import type { PiecePicker } from '../picker/index.js';
import type { Clock } from '../util/clock.js';
import { createWebSeeds, type WebSeed } from '../webseed/index.js';
import { BLOCK_SIZE } from '../wire/index.js';
import type { PieceAssembler } from './piece-assembler.js';

/** Runs in flight per seed: a few connections per server, as libtorrent keeps. */
export const RUNS_PER_SEED = 2;
/** Bytes per run: whole pieces, at least one. */
export const RUN_BYTES = 4 * 1024 * 1024;
/**
 * Pieces looked at per search for a run. fill() runs after every written piece: a whole scan of a
 * million-piece torrent each time (as in the endgame, when nothing is left untouched) would cost
 * more than the download; a search that finds nothing moves the cursor on by this much instead.
 */
export const MAX_SCAN_PIECES = 4096;
/** Picker ids of web seeds start here (peer connection ids are small counters). */
export const WEB_SEED_ID_BASE = 1_000_000_000;

interface Seed {
  id: number;
  seed: WebSeed;
  runs: number;
}

export interface WebSeedsContext {
  picker: PiecePicker;
  assembler: PieceAssembler;
  clock: Clock;
  /** Downloading now, the disk keeping up. */
  canFetch(): boolean;
  /** The assembler may take another whole piece (its unverified-bytes cap). */
  roomForNewPiece(): boolean;
  /** --download-limit: 0 = go (spent), else ms to wait. */
  budget(bytes: number): number;
  onProgress(bytes: number): void;
  /** Endgame: peers also asked for this block; they are told to drop it. */
  cancelOthers(peerIds: readonly number[], piece: number, block: number): void;
  onWarning(message: string): void;
  /** A run ended (delivered or failed): more may start. */
  wake(): void;
}

export class WebSeeds {
  private readonly seeds: Seed[];
  private readonly aborts = new AbortController();
  private cursor = 0;
  private closed = false;

  constructor(
    meta: Metainfo,
    private readonly ctx: WebSeedsContext,
  ) {
    const seeds = createWebSeeds(meta, { clock: ctx.clock, allocatePiece: (size) => ctx.assembler.takeBuffer(size) });
    this.seeds = seeds.map((seed, i) => ({ id: WEB_SEED_ID_BASE + i, seed, runs: 0 }));
  }

  get count(): number {
    return this.seeds.length;
  }

  /** Seeds that are not dead (for the display, and the sources the unverified-bytes cap counts). */
  get usable(): number {
    let n = 0;
    for (const s of this.seeds) if (s.seed.state !== 'dead') n++;
    return n;
  }

  /** Whether `id` is a web seed's picker id. */
  owns(id: number): boolean {
    return id >= WEB_SEED_ID_BASE && id < WEB_SEED_ID_BASE + this.seeds.length;
  }

  /** A piece from seed `id` failed its hash: the server is wrong; it is dropped. */
  badPiece(id: number, piece: number): void {
    const s = this.seeds[id - WEB_SEED_ID_BASE];
    if (!s) return;
    this.ctx.onWarning(`web seed ${s.seed.url} sent bad data for piece ${piece}; no longer used`);
    s.seed.markBadPiece(piece);
  }

  /** Starts runs on every seed with room. */
  fill(): void {
    if (this.closed) return;
    for (const s of this.seeds) {
      while (s.runs < RUNS_PER_SEED && this.ctx.canFetch() && this.ctx.roomForNewPiece()) {
        const state = s.seed.state;
        if (state === 'dead' || state === 'backoff') break;
        const run = this.nextRun(s);
        if (!run) return;
        const bytes = this.runBytes(run.first, run.last);
        const wait = this.ctx.budget(bytes);
        if (wait > 0) {
          this.release(s.id, run.first, run.last);
          return;
        }
        this.start(s, run.first, run.last);
      }
    }
  }

  /** Stops every request and socket. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.aborts.abort();
    for (const s of this.seeds) s.seed.close();
  }

  /** The next run of consecutive untouched wanted pieces this seed covers, marked requested. */
  private nextRun(s: Seed): { first: number; last: number } | null {
    const { picker } = this.ctx;
    const n = picker.pieceCount;
    const limit = Math.min(n, MAX_SCAN_PIECES);
    for (let scanned = 0; scanned < limit; scanned++) {
      const p = (this.cursor + scanned) % n;
      if (!picker.isUntouched(p) || !s.seed.covers(p, p)) continue;
      let last = p;
      while (last + 1 < n && picker.isUntouched(last + 1) && (last + 2 - p) * picker.pieceLength <= RUN_BYTES && s.seed.covers(p, last + 1)) last++;
      this.cursor = (last + 1) % n;
      for (let q = p; q <= last; q++) for (let b = 0; b < picker.blocksInPiece(q); b++) picker.markRequested(s.id, { piece: q, block: b });
      return { first: p, last };
    }
    this.cursor = (this.cursor + limit) % n;
    return null;
  }

  private runBytes(first: number, last: number): number {
    let n = 0;
    for (let p = first; p <= last; p++) n += this.ctx.picker.pieceSize(p);
    return n;
  }

  private start(s: Seed, first: number, last: number): void {
    s.runs++;
    const delivered = new Set<number>();
    const { picker, assembler } = this.ctx;
    s.seed
      .fetchPieces(
        first,
        last,
        (piece, data) => {
          if (this.closed) return;
          delivered.add(piece);
          this.ctx.onProgress(data.length);
          if (!assembler.hasPartial(piece)) {
            // The usual case: nobody else sent a block of it; verified as it is, no copy.
            let complete = false;
            for (let b = 0; b < picker.blocksInPiece(piece); b++) {
              const r = picker.markReceived(s.id, { piece, block: b });
              this.ctx.cancelOthers(r.otherPeers, piece, b);
              complete ||= r.pieceComplete;
            }
            if (complete) assembler.addWholePiece(s.id, piece, data);
            return;
          }
          // Endgame: a peer sent some blocks already; the rest is copied in as a peer's would be.
          for (let b = 0; b < picker.blocksInPiece(piece); b++) {
            const r = picker.markReceived(s.id, { piece, block: b });
            this.ctx.cancelOthers(r.otherPeers, piece, b);
            if (!r.duplicate) assembler.addBlock(s.id, piece, b * BLOCK_SIZE, data.subarray(b * BLOCK_SIZE, (b + 1) * BLOCK_SIZE), r.pieceComplete);
          }
        },
        this.aborts.signal,
      )
      .catch((e: unknown) => {
        if (!this.closed && s.seed.state === 'dead') this.ctx.onWarning(`web seed ${s.seed.url}: ${(e as Error).message}; no longer used`);
      })
      .finally(() => {
        s.runs--;
        if (this.closed) return;
        // Pieces of the run that never came go back to the picker for anyone.
        for (let p = first; p <= last; p++) if (!delivered.has(p)) this.release(s.id, p, p);
        this.ctx.wake();
      });
  }

  private release(id: number, first: number, last: number): void {
    const { picker } = this.ctx;
    for (let p = first; p <= last; p++) for (let b = 0; b < picker.blocksInPiece(p); b++) picker.abortRequest(id, { piece: p, block: b });
  }
}

/**
 * The piece-layer phase of a v2 or hybrid torrent (BEP 52): between the info dictionary and the
 * torrent's owners, the layers it lacks are fetched from v2 peers (hash-exchange.ts sends what
 * the `PieceLayerFetcher` decides). It owns when the phase ends:
 * - every layer verified: `onDone` with them;
 * - a hybrid, with no v2 connection open or after HYBRID_LAYER_WAIT_MS: `onDone` with those it
 *   has (the rest of its files are checked by SHA-1 alone), and a warning says so;
 * - a v2-only torrent waits; --timeout without a verified run ends the session (`tick` returns
 *   the error).
 * Layers verified so far go to `saveLayers` (a magnet's cache) at most every LAYER_CACHE_SAVE_MS
 * and when the phase is stopped, so an interrupted fetch resumes where it stopped.
 */
import { RuntimeError } from '../errors.js';
import type { Metainfo } from '../metainfo/index.js';
import { speaksV2, type HashExchange } from './hash-exchange.js';
import { PieceLayerFetcher } from './piece-layers.js';
import type { Core } from './types.js';

/**
 * A hybrid's pieces can be checked by SHA-1 alone: its piece layers are fetched (to check both
 * hash sets and to serve them) while a v2 connection is open, for at most this long; then the
 * download goes on without the missing ones. A v2-only torrent has no such choice: it waits for
 * its layers (bounded by --timeout).
 */
export const HYBRID_LAYER_WAIT_MS = 15_000;
/** Verified piece layers are written to the cache at most this often while more are fetched. */
export const LAYER_CACHE_SAVE_MS = 5_000;

export class LayerPhase {
  private readonly since: number;
  private readonly v2Hash20: Buffer;
  private lastSaveAt = -Infinity;
  private dirty = false;
  private ended = false;

  constructor(
    private readonly core: Core,
    private readonly hashes: HashExchange,
    readonly meta: Metainfo,
    readonly fetcher: PieceLayerFetcher,
    private readonly o: {
      /** Keeps the layers verified so far (null: nowhere to keep them). */
      saveLayers: ((layers: ReadonlyMap<string, Buffer>) => void) | null;
      /** The phase is over: build the torrent with these layers. */
      onDone: (layers: ReadonlyMap<string, Buffer>) => void;
    },
  ) {
    this.since = core.clock.now();
    this.v2Hash20 = meta.infoHashV2!.subarray(0, 20);
    core.counters.lastProgressAt = this.since;
    hashes.serve(meta, () => fetcher.layers);
    hashes.startFetching({
      fetcher,
      onLayer: () => {
        this.dirty = true;
        if (core.clock.now() - this.lastSaveAt >= LAYER_CACHE_SAVE_MS) this.save();
      },
      onComplete: () => this.finish(),
    });
  }

  /** Once a tick: runs that timed out go elsewhere; a hybrid may go on; --timeout. Returns the error to fail with, if any. */
  tick(now: number): RuntimeError | null {
    if (this.ended) return null;
    this.hashes.tick();
    if (this.dirty && now - this.lastSaveAt >= LAYER_CACHE_SAVE_MS) this.save();
    const v2Peers = this.core.livePeers().filter((p) => speaksV2(p, this.v2Hash20)).length;
    if (this.meta.pieces !== null && (v2Peers === 0 || now - this.since >= HYBRID_LAYER_WAIT_MS)) {
      this.core.warn(`no piece layers for ${this.fetcher.missingLayers} file(s) from peers: their pieces are checked by SHA-1 only`);
      this.finish();
      return null;
    }
    const ms = this.core.o.timeoutMs;
    if (ms === null || now - this.core.counters.lastProgressAt <= ms) return null;
    return new RuntimeError(
      'ERR_NO_PEERS',
      `no piece layers (BEP 52 hash requests) for ${this.fetcher.missingLayers} file(s) from ${v2Peers} connected v2 peer(s) in ${Math.round(ms / 1000)} s`,
      { hint: 'a v2 torrent needs peers that speak v2 and have it; add --peer, trackers, or give the .torrent with its piece layers' },
    );
  }

  /** The session ends during the phase: what was verified is kept. */
  stop(): void {
    if (this.ended) return;
    this.ended = true;
    this.hashes.stopFetching();
    if (this.dirty) this.save();
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.hashes.stopFetching();
    this.o.onDone(this.fetcher.layers);
  }

  private save(): void {
    this.lastSaveAt = this.core.clock.now();
    this.dirty = false;
    this.o.saveLayers?.(this.fetcher.layers);
  }
}

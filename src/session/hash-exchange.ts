/**
 * BEP 52 hash messages on live connections: the session's side of `hash request` (21),
 * `hashes` (22) and `hash reject` (23). It sends what the pure policies in piece-layers.ts decide
 * and closes whom they blame:
 * - fetching (a v2 magnet, or a v2 .torrent without some piece layer): the `PieceLayerFetcher`
 *   says which runs to ask which v2 peer (reserved bit 0x10 of byte 7, BEP 52); a reply that does
 *   not hash up to its file's pieces root proves its sender a liar: warned, closed as bad data
 *   (banned), its runs asked of others; a reject or a timeout only moves the run to another peer;
 * - serving (always, once the metadata is known): every request is answered from the piece
 *   layers we hold (`HashServer`): the hashes with their uncles, or a reject.
 *
 * Bounds: MAX_HASH_REQUESTS_PER_SECOND requests from one peer in a second; one more is a flood
 * and that peer's protocol error (as messages.ts treats state-change floods). Per-peer counters
 * are dropped when the peer goes.
 */
import { ProtocolError } from '../errors.js';
import type { Metainfo } from '../metainfo/index.js';
import { addrKey } from '../util/address.js';
import { decodeHashMessage, encodeHashMessage, type HashMessage, type HashRequestFields } from '../wire/index.js';
import { PerSecond } from '../util/rate.js';
import type { LivePeer } from './live-peer.js';
import { HashServer, PieceLayerFetcher } from './piece-layers.js';
import type { Core } from './types.js';

/**
 * Hash requests one peer may send per second. libtorrent asks a piece layer 512 hashes at a
 * time, a handful of requests per file; 64 a second fetches a layer of 32,768 pieces each
 * second. More is a flood: each answer is up to 263 KiB we would have to build and queue.
 */
export const MAX_HASH_REQUESTS_PER_SECOND = 64;

/**
 * Whether a connection speaks v2 (BEP 52): its handshake named the truncated SHA-256 info hash
 * (a v2-only torrent, or a hybrid's connection a v2 peer upgraded). The reserved bit 0x10 of
 * byte 7 alone is not enough: libtorrent 2.0 sets it on a hybrid's v1 connections, serves no
 * hashes there and drops a peer that asks (measured against 2.0.8); on its v2 connections it sets
 * no bit at all.
 */
export function speaksV2(p: LivePeer, v2Hash20: Buffer | null): boolean {
  return v2Hash20 !== null && p.conn.remote !== null && p.conn.remote.infoHash.equals(v2Hash20);
}

export interface LayerFetch {
  fetcher: PieceLayerFetcher;
  /** A file's layer verified (the fetcher's `layers` has it). */
  onLayer(): void;
  /** Every layer is verified. */
  onComplete(): void;
}

export class HashExchange {
  private server: HashServer | null = null;
  private fetch: LayerFetch | null = null;
  private readonly requestRates = new Map<number, PerSecond>();

  /** `v2Hash20`: the truncated v2 info hash (null while only a v1 one is known). */
  constructor(
    private readonly core: Core,
    private readonly v2Hash20: Buffer | null,
  ) {}

  /** The torrent (and so its pieces roots) is known: serve from `layers()`. */
  serve(meta: Metainfo, layers: () => ReadonlyMap<string, Buffer>): void {
    this.server = new HashServer(meta, layers);
  }

  /** Starts fetching the layers `f.fetcher` misses from v2 peers. */
  startFetching(f: LayerFetch): void {
    this.fetch = f;
    this.fill();
  }

  /** No more fetching (complete, or the session goes on without the missing layers). */
  stopFetching(): void {
    this.fetch = null;
  }

  get fetching(): boolean {
    return this.fetch !== null;
  }

  /** Asks every v2 peer for runs it can take now. */
  fill(): void {
    const f = this.fetch;
    if (!f || f.fetcher.complete) return;
    const now = this.core.clock.now();
    for (const p of this.core.livePeers()) {
      if (!speaksV2(p, this.v2Hash20)) continue;
      for (const req of f.fetcher.requestsFor(p.id, now)) this.send(p, { type: 'hash-request', ...req });
    }
  }

  /** Once a tick: runs unanswered for too long go to other peers. */
  tick(): void {
    const f = this.fetch;
    if (!f) return;
    // Still fetching means layers are missing: the expired runs and any idle peer are matched again.
    f.fetcher.expire(this.core.clock.now());
    this.fill();
  }

  /** A hash message (id 21, 22 or 23) from a live peer. Throws ProtocolError for a malformed or flooding one. */
  onMessage(p: LivePeer, id: number, payload: Buffer): void {
    const m = decodeHashMessage(Buffer.concat([Buffer.from([id]), payload]));
    const now = this.core.clock.now();
    switch (m.type) {
      case 'hash-request': {
        let rate = this.requestRates.get(p.id);
        if (!rate) this.requestRates.set(p.id, (rate = new PerSecond()));
        if (!rate.allow(now, MAX_HASH_REQUESTS_PER_SECOND)) {
          throw new ProtocolError(`flooding: more than ${MAX_HASH_REQUESTS_PER_SECOND} hash requests in a second`);
        }
        const answer = this.server?.answer(m) ?? { kind: 'reject' as const, why: 'no metadata yet' };
        this.send(p, answer.kind === 'hashes' ? { ...fieldsOf(m), type: 'hashes', hashes: answer.hashes } : { ...fieldsOf(m), type: 'hash-reject' });
        break;
      }
      case 'hashes': {
        const f = this.fetch;
        if (!f) break; // late: every layer is known, or we went on without them
        let out;
        try {
          out = f.fetcher.onHashes(p.id, m);
        } catch (e) {
          if (!(e instanceof ProtocolError)) throw e;
          this.core.warn(`peer ${addrKey(p.conn.address)} ${e.message}; banned`);
          p.conn.close('bad-data', e.message);
          this.fill();
          return;
        }
        if (out.kind === 'ignored') break;
        this.core.counters.lastProgressAt = now;
        if (out.layerDone) f.onLayer();
        if (f.fetcher.complete) {
          this.fetch = null;
          f.onComplete();
        } else this.fill();
        break;
      }
      case 'hash-reject':
        if (this.fetch?.fetcher.onReject(p.id, m, now)) this.fill();
        break;
    }
  }

  /** The connection ended: its runs go to others, its counters are forgotten. */
  onGone(id: number): void {
    this.requestRates.delete(id);
    if (!this.fetch) return;
    this.fetch.fetcher.peerGone(id);
    this.fill();
  }

  private send(p: LivePeer, m: HashMessage): void {
    const frame = encodeHashMessage(m);
    // The wire codec carries ids it does not know as they are: the body after the 4-byte length and the id.
    p.conn.send({ type: 'unknown', id: frame[4]!, payload: frame.subarray(5) });
  }
}

function fieldsOf(m: HashRequestFields): HashRequestFields {
  return { piecesRoot: m.piecesRoot, baseLayer: m.baseLayer, index: m.index, length: m.length, proofLayers: m.proofLayers };
}

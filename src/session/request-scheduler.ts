/**
 * The request scheduler: for each live peer, what we should be asking of it, and the difference
 * applied (as anacrolix's getDesiredRequestState / applyRequestState). Desired state, per peer:
 * - interested  <=> we are downloading and the peer has a piece we want and lack
 *   (`LivePeer.interesting`, kept as a count by the verbs below, O(1) per have);
 * - requests    = desiredQueue(peer) blocks outstanding while it unchokes us and the disk keeps
 *   up, chosen by the picker; new pieces are started only while the assembler has room.
 * `update(peer)` applies the difference; every event that can change the desired state calls it
 * (for that peer or, when blocks were freed, for all). Requests unanswered for longer than the
 * peer's queue and round trip explain (`requestTimeout`) go back to the picker and the peer is
 * snubbed (one request at a time until it delivers).
 *
 * Owns nothing but the policy: the picker owns block states, the connection its outstanding list.
 */
import type { PiecePicker } from '../picker/index.js';
import { Bitfield } from '../util/bitfield.js';
import { BLOCK_SIZE } from '../wire/index.js';
import type { LivePeer } from './live-peer.js';

/**
 * Queue depth: rate x this long, in blocks (libtorrent's request_queue_time), until the
 * peer's round trip is known; then QUEUE_RTTS round trips, within [MIN_QUEUE_SECONDS,
 * REQUEST_QUEUE_SECONDS]. A queue much deeper than the round trip needs only moves work from
 * fast peers to slow ones and leaves a long tail at the end.
 */
export const REQUEST_QUEUE_SECONDS = 2;
export const QUEUE_RTTS = 2;
export const MIN_QUEUE_SECONDS = 0.5;
/** Slow start ends when a second's rate is less than this times the previous second's. */
export const SLOW_START_GROWTH = 1.1;
/**
 * In slow start a block grows the queue only if it waited at most this many times the peer's
 * shortest round trip (plus SLOW_START_DELAY_SLACK_MS of jitter). One that waited longer sat in
 * the peer's queue behind more than the link carries in a round trip: the queue is already past
 * the bandwidth-delay product, and growing it only moves blocks to this peer (TCP's HyStart reads
 * delay the same way). With 200 slow peers the rate test alone let queues grow for 3 s to four
 * times what their links needed (7,700 blocks in flight): every started piece was fully requested,
 * the unverified cap allowed no new one, and a tenth of the peers sat idle for 2 s. Ending slow
 * start on delay instead cost the 16-peer swarm its distant fast links, whose queues then grew
 * only as fast as their measured rate.
 */
export const SLOW_START_DELAY_FACTOR = 2;
export const SLOW_START_DELAY_SLACK_MS = 20;
/** The rate that sizes a queue: over the last RATE_SECONDS buckets, so it follows a link filling up. */
export const RATE_SECONDS = 2;
/**
 * Depth before a rate is measured (slow start's first window): enough to fill a fast link's first
 * round trip (1 MiB: 8 MB/s at 130 ms), but no more than the peer's share of the unverified bytes
 * (`unverifiedShare`), and at least MIN_QUEUE. In the swarm bench 16 blocks took a 6 MB/s link at
 * 225 ms six round trips to reach its rate (24 MB of the links' capacity lost in the first
 * seconds, 12 with 64; 128 gained nothing more). With 200 slow peers (one 256 KiB piece each of
 * the cap) 64 apiece spread every piece over several peers: efficiency 0.85 -> 0.66, 7% of the
 * bytes endgame duplicates; their share keeps them at 16.
 */
export const MAX_FRESH_QUEUE = 64;
export const MIN_QUEUE = 16;
/**
 * Least depth once slow start is over and the rate sizes the queue: a slow peer keeps no more
 * than a few round trips' worth, so with a hundred slow peers the blocks in flight (what the
 * endgame must duplicate or wait for) stay a small part of the torrent.
 */
export const MIN_STEADY_QUEUE = 4;
export const MAX_QUEUE = 1000;
/** Without a BEP 10 `reqq` we assume what libtorrent and most clients accept. */
export const DEFAULT_REQQ = 250;
/**
 * Requests are topped up when at least this many (or half of the queue) are missing: on a slow
 * peer with a queue of a few blocks, a top-up per arriving block was a pick and a socket write per
 * block (with 200 peers, 12x the picks per byte of 16 peers).
 */
export const REQUEST_BATCH = 32;
/** In the endgame a peer holds what it delivers in this long (duplicates of others' requests). */
export const ENDGAME_QUEUE_SECONDS = 0.5;
export const MIN_ENDGAME_QUEUE = 4;
/**
 * An endgame duplicate goes only to a peer that would bring the block in this many times sooner
 * than its holder: the holder's whole queue ahead of the block against our round trip and queue
 * (or, before our round trip is measured, a peer this many times faster).
 */
export const ENDGAME_SPEEDUP = 2;
/** Shortest request timeout, however short the round trip (a seeder's disk may take a while). */
export const MIN_REQUEST_TIMEOUT_MS = 4_000;
/** Longest request timeout: a request unanswered this long goes to other peers and its peer is snubbed. */
export const REQUEST_TIMEOUT_MS = 15_000;

export interface SchedulerContext {
  picker: PiecePicker;
  /** Downloading now (not fetching metadata, checking or seeding). */
  downloading(): boolean;
  /** The disk is behind: no new requests. */
  diskBusy(): boolean;
  /** New pieces may be started (the assembler's unverified-bytes cap). */
  roomForNewPiece(): boolean;
  now(): number;
  /**
   * --download-limit: spends `bytes` of the shared budget and returns 0, or returns the ms until
   * it is there (nothing spent). Absent = unlimited.
   */
  budget?(bytes: number): number;
  /** Called when requests were held back by the budget: update again after `ms`. */
  retryIn?(ms: number): void;
  /** Bytes of the unverified-bytes cap per connected source (sizes a fresh peer's queue). Absent = no bound. */
  unverifiedShare?(): number;
  /** The live peer with this connection id, if any (whose requests an endgame may duplicate). */
  peer?(id: number): LivePeer | undefined;
}

export class RequestScheduler {
  /**
   * One options object for every pick, and the peer it is for: a pick (one per few blocks
   * received) allocates no closure, and `outruns` computes the picking peer's rate once.
   */
  private picking: LivePeer | null = null;
  private pickNow = 0;
  private pickRate = -1;
  private readonly pickOpts = {
    newPieces: true,
    endgameMax: 0,
    outruns: (holderId: number): boolean => this.outruns(holderId),
  };

  constructor(private readonly ctx: SchedulerContext) {}

  /** Counts the wanted pieces a peer has that we lack (after its bitfield), once per bitfield. */
  countInteresting(peer: LivePeer): void {
    peer.interesting = peer.bitfield ? this.ctx.picker.neededIn(peer.bitfield) : 0;
  }

  /** The peer announced piece `p` (already added to its bitfield). */
  onHave(peer: LivePeer, p: number): void {
    const { picker } = this.ctx;
    if (picker.isWanted(p) && !picker.has(p)) peer.interesting++;
  }

  /** Piece `p` became wanted (a stream window moved over it): its holders become interesting. */
  onWanted(peers: Iterable<LivePeer>, p: number): void {
    for (const peer of peers) if (peer.bitfield?.has(p)) peer.interesting++;
  }

  /**
   * We now have piece `p`: it no longer makes its holders interesting, and a peer left with
   * nothing we want is told so. One pass: with 200 peers this runs for every piece.
   */
  onVerified(peers: Iterable<LivePeer>, p: number): void {
    for (const peer of peers) {
      if (peer.interesting > 0 && peer.bitfield?.has(p)) peer.interesting--;
      if (peer.interesting === 0) this.update(peer);
    }
  }

  /**
   * Queue depth from the peer's measured rate (libtorrent's update_desired_queue_size). The rate
   * is over the time the peer has been live, not the whole meter window: a link with a long round
   * trip must get a deep queue within its first second, not after five.
   */
  desiredQueue(peer: LivePeer): number {
    if (peer.snubbed) return 1;
    const fromRate = Math.ceil((this.rate(peer) * this.queueSeconds(peer)) / BLOCK_SIZE);
    const cap = peer.reqq > 0 ? peer.reqq : DEFAULT_REQQ;
    const floor = peer.slowStart ? Math.max(this.freshQueue(), peer.slowStartQueue) : MIN_STEADY_QUEUE;
    return Math.min(Math.max(fromRate, floor), MAX_QUEUE, cap);
  }

  /** A fresh peer's queue: MAX_FRESH_QUEUE within its share of the unverified bytes, at least MIN_QUEUE. */
  freshQueue(): number {
    const share = this.ctx.unverifiedShare?.() ?? Infinity;
    return Math.max(MIN_QUEUE, Math.min(MAX_FRESH_QUEUE, Math.floor(share / BLOCK_SIZE)));
  }

  /**
   * Requests a peer may have outstanding once the endgame has begun (every block requested):
   * what it delivers in ENDGAME_QUEUE_SECONDS, at least MIN_ENDGAME_QUEUE. Each duplicate costs
   * one wasted copy, so only the blocks it can bring in soon are worth asking it for twice.
   */
  endgameQueue(peer: LivePeer): number {
    if (peer.snubbed) return 1;
    return Math.min(this.desiredQueue(peer), Math.max(MIN_ENDGAME_QUEUE, Math.ceil((this.rate(peer) * ENDGAME_QUEUE_SECONDS) / BLOCK_SIZE)));
  }

  /** How long a peer's queue lasts at its rate: a few of its round trips once one is measured. */
  queueSeconds(peer: LivePeer): number {
    if (peer.minLatencyMs === Infinity) return REQUEST_QUEUE_SECONDS;
    return Math.min(REQUEST_QUEUE_SECONDS, Math.max(MIN_QUEUE_SECONDS, (QUEUE_RTTS * peer.minLatencyMs) / 1000));
  }

  /** A requested block arrived `latencyMs` after its request was sent: round trip and slow start. */
  onBlock(peer: LivePeer, latencyMs: number): void {
    if (latencyMs >= 0 && latencyMs < peer.minLatencyMs) peer.minLatencyMs = latencyMs;
    peer.deliveryRate = this.rate(peer);
    if (!peer.slowStart) return;
    // A block that waited more than SLOW_START_DELAY_FACTOR round trips sat behind more than the
    // link carries in one: the queue is past what the link needs, and does not grow on it.
    if (latencyMs <= SLOW_START_DELAY_FACTOR * peer.minLatencyMs + SLOW_START_DELAY_SLACK_MS) {
      peer.slowStartQueue = Math.max(peer.slowStartQueue, peer.conn.outstanding.size) + 1;
    }
    const now = this.ctx.now();
    if (now - peer.slowStartCheckedAt < 1000) return;
    const rate = this.rate(peer);
    if (peer.slowStartCheckedAt !== -Infinity && rate < peer.slowStartRate * SLOW_START_GROWTH) peer.slowStart = false;
    peer.slowStartRate = rate;
    peer.slowStartCheckedAt = now;
  }

  /**
   * Whether the peer being filled (`picking`) would bring in a block well before the peer
   * `holderId` that has it outstanding: the holder is gone, snubbed or silent, or ours would have
   * it ENDGAME_SPEEDUP times sooner.
   * The endgame duplicates the blocks requested last first, which wait behind the holder's whole
   * queue: on a fast, distant peer that is a few hundred ms of blocks, which any peer with a
   * shorter round trip beats (a rate rule left them to a 6 MB/s holder alone, a 0.5 to 1 s tail
   * in the swarm bench). Our rate is what we delivered at when we last had work: a peer idle for
   * lack of blocks has no current rate, and the endgame is exactly when fast peers run out of work.
   */
  private outruns(holderId: number): boolean {
    const peer = this.picking!;
    const holder = this.ctx.peer?.(holderId);
    if (!holder || holder.snubbed) return true;
    const now = this.pickNow;
    const theirs = this.rate(holder, now);
    if (theirs === 0) return true;
    // Ours is the same for every holder of one pick (an endgame pick may weigh hundreds).
    if (this.pickRate < 0) this.pickRate = Math.max(this.rate(peer, now), peer.deliveryRate);
    const ours = this.pickRate;
    if (ours === 0) return false;
    if (peer.minLatencyMs === Infinity) return ours >= ENDGAME_SPEEDUP * theirs;
    const theirsDone = (holder.conn.outstanding.size * BLOCK_SIZE) / theirs;
    const oursDone = peer.minLatencyMs / 1000 + ((peer.conn.outstanding.size + 1) * BLOCK_SIZE) / ours;
    return ENDGAME_SPEEDUP * oursDone <= theirsDone;
  }

  /** Bytes per second over the last one to two seconds the peer has been live. */
  private rate(peer: LivePeer, now = this.ctx.now()): number {
    return peer.conn.download.rateSince(now, peer.since, RATE_SECONDS);
  }

  /** Applies the desired interest and requests to one peer. */
  update(peer: LivePeer): void {
    const c = peer.conn;
    if (!c.isOpen) return;
    const wants = this.ctx.downloading() && peer.interesting > 0;
    if (wants && !c.amInterested) c.send({ type: 'interested' });
    else if (!wants && c.amInterested) c.send({ type: 'not-interested' });
    if (wants) this.fill(peer);
  }

  updateAll(peers: Iterable<LivePeer>, except?: LivePeer): void {
    for (const p of peers) if (p !== except) this.update(p);
  }

  /** Its allowed-fast pieces that it has, as a bitfield; null when there are none. */
  private allowedFast(peer: LivePeer): Bitfield | null {
    if (!peer.fast || peer.allowedFastIn.size === 0 || !peer.bitfield) return null;
    const bits = new Bitfield(peer.bitfield.length);
    let any = false;
    for (const p of peer.allowedFastIn) {
      if (p < bits.length && peer.bitfield.has(p)) {
        bits.set(p);
        any = true;
      }
    }
    return any ? bits : null;
  }

  /** The peer choked us or is gone: its outstanding requests go back to the picker. */
  abortAll(peer: LivePeer): void {
    for (const o of peer.conn.clearOutstanding()) this.ctx.picker.abortRequest(peer.id, { piece: o.piece, block: o.block });
  }

  /**
   * How long this peer's oldest request may wait: three times what its queue and round trip
   * predict (outstanding blocks at the rate it had when its last block came, plus its round trip), within
   * [MIN_REQUEST_TIMEOUT_MS, REQUEST_TIMEOUT_MS]; REQUEST_TIMEOUT_MS while it has delivered
   * nothing to measure. A distant peer that stalls is noticed in seconds, a deep queue on a slow
   * link is not mistaken for a stall.
   */
  requestTimeout(peer: LivePeer): number {
    const rate = peer.deliveryRate;
    if (peer.minLatencyMs === Infinity || rate === 0) return REQUEST_TIMEOUT_MS;
    const expected = (peer.conn.outstanding.size * BLOCK_SIZE * 1000) / rate + peer.minLatencyMs;
    return Math.min(REQUEST_TIMEOUT_MS, Math.max(MIN_REQUEST_TIMEOUT_MS, 3 * expected));
  }

  /**
   * When the oldest request is older than `requestTimeout`, the peer has stalled: every request
   * waiting that long is cancelled and freed, and the peer is snubbed (one request at a time
   * until it delivers). Returns whether any were (the caller then updates the other peers).
   */
  expire(peer: LivePeer, now: number): boolean {
    const limit = this.requestTimeout(peer);
    let timedOut = false;
    for (const o of [...peer.conn.outstanding.values()]) {
      if (now - o.sentAt > limit) {
        peer.conn.cancel(o.piece, o.block);
        this.ctx.picker.abortRequest(peer.id, { piece: o.piece, block: o.block });
        timedOut = true;
      }
    }
    peer.conn.expireCancelled(now, REQUEST_TIMEOUT_MS);
    if (timedOut) {
      peer.snubbed = true;
      peer.slowStart = false;
    }
    return timedOut;
  }

  private fill(peer: LivePeer): void {
    const c = peer.conn;
    if (!c.amInterested || this.ctx.diskBusy() || !peer.bitfield) return;
    // Choked: only the pieces it allowed us fast (BEP 6), if any.
    const from = c.peerChoking ? this.allowedFast(peer) : peer.bitfield;
    if (from === null) return;
    const desired = this.desiredQueue(peer);
    const want = desired - c.outstanding.size;
    // Top the queue up in batches, not one block per arriving block: fewer picks, fewer writes.
    if (want <= 0 || (c.outstanding.size > 0 && want < Math.min(REQUEST_BATCH, Math.ceil(desired / 2)))) return;
    const { picker } = this.ctx;
    const opts = this.pickOpts;
    opts.newPieces = this.ctx.roomForNewPiece();
    opts.endgameMax = Math.max(0, this.endgameQueue(peer) - c.outstanding.size);
    this.picking = peer;
    this.pickNow = this.ctx.now();
    this.pickRate = -1;
    const { blocks } = picker.pick(peer.id, from, want, opts);
    this.picking = null;
    for (const b of blocks) {
      const length = picker.blockLength(b.piece, b.block);
      const wait = this.ctx.budget?.(length) ?? 0;
      if (wait > 0) {
        // Over --download-limit: the rest waits; the picker never saw these blocks as requested.
        this.ctx.retryIn?.(wait);
        break;
      }
      picker.markRequested(peer.id, b);
      c.request(b.piece, b.block, length);
    }
  }
}

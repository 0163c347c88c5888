/**
 * The uploader: who may download from us (the choker's decision applied), and serving their
 * requests through the read cache within --upload-limit. Never advertises or serves what it
 * cannot: a request is served only for a piece on disk (`canServe`), and a piece that cannot be
 * read is reported so the session stops counting it as ours.
 *
 * Serving is synchronous while the blocks are in memory: each `serve` sends the peer's queued
 * blocks from the read cache, in request order, in writes of UPLOAD_BATCH_BYTES (the
 * connection's `batch`: one writev of many blocks, not one socket write per block), until its
 * stream holds UPLOAD_HIGH_WATER_BYTES; the stream's 'drain' calls `serve` again. The pieces of the next
 * READ_AHEAD_PIECES requested pieces are read ahead, so the queue rarely waits for the disk; when
 * its first block's piece is not in memory, the peer waits for that one read (the only read it
 * waits for) and is served when it lands.
 *
 * Bounds: at most MAX_UPLOAD_QUEUE requests queued per peer (what we advertise as `reqq`; more
 * are rejected, never buffered); one awaited read per peer, and read-ahead within the read
 * cache's own bound; blocks are sent only while the peer's stream holds less than
 * UPLOAD_HIGH_WATER_BYTES; a peer sending MAX_INVALID_REQUESTS invalid requests is dropped.
 * BEP 3: requests while choked are dropped and choking a peer discards its queue.
 */
import type { ReadCache } from '../storage/read-cache.js';
import type { Clock } from '../util/clock.js';
import type { TokenBucket } from '../util/token-bucket.js';
import { BLOCK_SIZE } from '../wire/index.js';
import { chooseUnchoked, OPTIMISTIC_INTERVAL_MS, pickOptimistic, RECHOKE_INTERVAL_MS, REGULAR_UNCHOKE_SLOTS } from './choker.js';
import type { LivePeer } from './live-peer.js';

/**
 * Requests we queue per peer: what we advertise as `reqq`. A fast leecher keeps as many
 * outstanding as we allow (libtorrent asks for rate x 3 s); 2000 blocks (32 MiB, libtorrent's
 * high_performance_seed figure) keep a loopback leecher's pipe full where 500 (8 MiB, 23 ms at
 * 350 MB/s) left it waiting on its own round trips. An entry is three numbers: the bound is on
 * work, not memory (blocks are read through the shared read cache, never buffered per request).
 */
export const MAX_UPLOAD_QUEUE = 2000;
/**
 * Bytes queued in one peer's stream before we stop sending it blocks: below the connection's
 * WRITE_PAUSE_BYTES (2 MiB, where it stops reading the peer), and enough that the socket never
 * runs dry between one 'drain' and the next batch.
 */
export const UPLOAD_HIGH_WATER_BYTES = 1024 * 1024;
/**
 * Bytes of blocks per write. Up to the high-water mark a peer's blocks go out in writes of this
 * size rather than one: an encrypted stream encrypts each write as it is made, so the socket gets
 * its first bytes after one batch's RC4, not after a whole megabyte's (the kernel's buffer runs
 * dry meanwhile); 16 blocks a writev keeps the syscalls few.
 */
export const UPLOAD_BATCH_BYTES = 256 * 1024;
/**
 * Distinct pieces, in queue order, read ahead of a peer's requests: a leecher keeps hundreds of
 * requests queued (a few pieces), so their reads overlap the sending of the pieces before them.
 */
export const READ_AHEAD_PIECES = 4;
export const MAX_INVALID_REQUESTS = 20;

export interface UploaderOptions {
  cache: ReadCache | null;
  bucket: TokenBucket | null;
  clock: Clock;
  random: () => number;
  /** We hold this piece on disk and may serve it. */
  canServe: (piece: number) => boolean;
  pieceSize: (piece: number) => number;
  onUploaded: (bytes: number) => void;
  /** A piece could not be read: the session stops claiming it. */
  onReadError: (piece: number, error: Error) => void;
}

export class Uploader {
  private lastRechokeAt = -Infinity;
  private lastOptimisticAt = -Infinity;
  private optimistic: number | null = null;

  constructor(private readonly o: UploaderOptions) {}

  /** Nothing to serve from (--no-save): never unchoke. */
  get enabled(): boolean {
    return this.o.cache !== null;
  }

  /**
   * A request from the peer. Served if we unchoke it (or it is in its BEP 6 allowed-fast set)
   * and the block is ours; otherwise dropped (BEP 3) or, with the fast extension, rejected.
   */
  onRequest(peer: LivePeer, index: number, begin: number, length: number): void {
    const reject = (): void => {
      if (peer.fast) peer.conn.send({ type: 'reject-request', index, begin, length });
    };
    if (!this.o.cache || (peer.conn.amChoking && !peer.allowedFastOut.has(index))) return reject();
    const valid = this.o.canServe(index) && length > 0 && length <= BLOCK_SIZE && begin + length <= this.o.pieceSize(index);
    if (!valid) {
      if (++peer.invalidRequests > MAX_INVALID_REQUESTS) peer.conn.close('protocol-error', 'too many invalid requests');
      else reject();
      return;
    }
    if (peer.uploadQueue.length >= MAX_UPLOAD_QUEUE) return reject(); // more than our reqq
    peer.uploadQueue.push({ index, begin, length });
    this.serve(peer);
  }

  onCancel(peer: LivePeer, index: number, begin: number, length: number): void {
    const i = peer.uploadQueue.findIndex((r) => r.index === index && r.begin === begin && r.length === length);
    if (i >= 0) peer.uploadQueue.splice(i, 1);
  }

  /** A free slot is given at once rather than at the next rechoke. */
  onInterested(peer: LivePeer, peers: Iterable<LivePeer>): void {
    if (!this.enabled || !peer.conn.amChoking) return;
    let unchoked = 0;
    for (const p of peers) if (p.conn.isOpen && !p.conn.amChoking) unchoked++;
    if (unchoked < REGULAR_UNCHOKE_SLOTS + 1) this.unchoke(peer);
  }

  onNotInterested(peer: LivePeer): void {
    if (!peer.conn.amChoking) this.choke(peer);
  }

  /**
   * Sends the peer's queued blocks that are in memory, in order, in writes of UPLOAD_BATCH_BYTES,
   * while its stream has room and --upload-limit allows; then reads ahead. A block whose piece is not in memory
   * stops the batch: that piece is read and the peer served again when it lands.
   */
  serve(peer: LivePeer): void {
    const c = peer.conn;
    const cache = this.o.cache;
    if (!cache || !c.isOpen) return;
    if (peer.uploadQueue.length === 0 || c.writeQueueBytes >= UPLOAD_HIGH_WATER_BYTES) {
      this.readAhead(peer); // no room now: the next 'drain' serves it
      return;
    }
    let sent = 0;
    let blocked = false; // the next block waits for a read or for --upload-limit
    while (!blocked && peer.uploadQueue.length > 0 && c.isOpen && c.writeQueueBytes < UPLOAD_HIGH_WATER_BYTES) {
      let batched = 0;
      c.batch(() => {
        const queue = peer.uploadQueue;
        while (batched < UPLOAD_BATCH_BYTES && queue.length > 0 && c.isOpen && c.writeQueueBytes < UPLOAD_HIGH_WATER_BYTES) {
          const r = queue[0]!;
          const block = cache.get(r.index, r.begin, r.length);
          if (!block) {
            blocked = true;
            this.awaitRead(peer, r.index);
            return;
          }
          if (this.o.bucket) {
            const wait = this.o.bucket.take(r.length, this.o.clock.now());
            if (wait > 0) {
              // Over --upload-limit: this peer's queue waits, then carries on where it stopped.
              cache.release(block);
              blocked = true;
              peer.serveTimer ??= this.o.clock.setTimeout(() => {
                peer.serveTimer = null;
                this.serve(peer);
              }, wait);
              return;
            }
          }
          queue.shift();
          // The block's memory goes back to the cache once the stream is done with it.
          c.sendPiece(r.index, r.begin, block, () => cache.release(block));
          batched += r.length;
        }
      });
      sent += batched;
    }
    if (sent > 0) this.o.onUploaded(sent);
    this.readAhead(peer);
  }

  /** The first queued block's piece is not in memory: read it, then serve the peer again. */
  private awaitRead(peer: LivePeer, piece: number): void {
    if (peer.reading > 0) return; // the read it waits for calls serve when it lands
    peer.reading++;
    this.o.cache!.load(piece).then(
      () => {
        peer.reading--;
        this.serve(peer);
      },
      (e: unknown) => {
        peer.reading--;
        this.readFailed(peer, piece, e as Error);
      },
    );
  }

  /** Starts reading the next few distinct pieces of the peer's queue (within the cache's bound). */
  private readAhead(peer: LivePeer): void {
    const cache = this.o.cache!;
    const queue = peer.uploadQueue;
    let last = -1;
    let pieces = 0;
    for (let i = 0; i < queue.length && pieces < READ_AHEAD_PIECES; i++) {
      const piece = queue[i]!.index;
      if (piece === last) continue;
      last = piece;
      pieces++;
      if (!cache.prefetch(piece)) return;
    }
  }

  /**
   * A piece could not be read: the session stops claiming it, and the peer's requests for it are
   * dropped (rejected, with BEP 6) so the rest of its queue goes on.
   */
  private readFailed(peer: LivePeer, piece: number, error: Error): void {
    this.o.onReadError(piece, error);
    const kept = [];
    for (const r of peer.uploadQueue) {
      if (r.index !== piece) kept.push(r);
      else if (peer.fast && peer.conn.isOpen) peer.conn.send({ type: 'reject-request', index: r.index, begin: r.begin, length: r.length });
    }
    peer.uploadQueue = kept;
    this.serve(peer);
  }

  /** Every RECHOKE_INTERVAL_MS: regular slots by rate; every OPTIMISTIC_INTERVAL_MS a new optimistic one. */
  maybeRechoke(peers: readonly LivePeer[], seeding: boolean, now: number): void {
    if (!this.enabled || now - this.lastRechokeAt < RECHOKE_INTERVAL_MS) return;
    this.lastRechokeAt = now;
    const open = peers.filter((p) => p.conn.isOpen);
    const candidates = open.map((p) => ({
      id: p.id,
      interested: p.conn.peerInterested,
      downloadRate: p.conn.download.rate(now),
      uploadRate: p.conn.upload.rate(now),
    }));
    if (now - this.lastOptimisticAt >= OPTIMISTIC_INTERVAL_MS || (this.optimistic !== null && !open.some((p) => p.id === this.optimistic))) {
      this.lastOptimisticAt = now;
      this.optimistic = pickOptimistic(candidates, chooseUnchoked(candidates, { seeding, optimistic: null }), this.o.random);
    }
    const unchoke = chooseUnchoked(candidates, { seeding, optimistic: this.optimistic });
    for (const p of open) {
      if (unchoke.has(p.id) && p.conn.amChoking) this.unchoke(p);
      else if (!unchoke.has(p.id) && !p.conn.amChoking) this.choke(p);
    }
  }

  /** The peer is gone: its timer goes with it. */
  drop(peer: LivePeer): void {
    peer.serveTimer?.cancel();
    peer.serveTimer = null;
    peer.uploadQueue = [];
  }

  private unchoke(peer: LivePeer): void {
    peer.conn.send({ type: 'unchoke' });
  }

  /**
   * BEP 3: choking discards the peer's pending requests. BEP 6: a fast peer hears a reject for
   * each, and keeps those in its allowed-fast set.
   */
  private choke(peer: LivePeer): void {
    peer.conn.send({ type: 'choke' });
    if (!peer.fast) {
      peer.uploadQueue = [];
      return;
    }
    const kept = [];
    for (const r of peer.uploadQueue) {
      if (peer.allowedFastOut.has(r.index)) kept.push(r);
      else peer.conn.send({ type: 'reject-request', index: r.index, begin: r.begin, length: r.length });
    }
    peer.uploadQueue = kept;
  }
}

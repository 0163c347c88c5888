/**
 * The piece assembler: blocks in, verified pieces out to storage. Verify, then write: a piece's
 * bytes reach storage only after its hash matched (SHA-1, BEP 52 merkle, or both for a hybrid); on a mismatch the picker gets the piece back
 * and smart ban learns who sent which block (a sole sender is proven bad at once).
 *
 * Owns: the buffers of pieces being assembled (each block copied once, from the socket's read
 * buffer into its piece's pooled buffer), who sent each block, and the writes in flight.
 * Invariants:
 * - `unverifiedBytes` = the size of every piece being assembled; `diskQueueBytes` = the size of
 *   every verified piece handed to storage and not yet written;
 * - a piece is reported `written` only after storage resolved its write; a write that fails is
 *   reported at once (the session fails with it), never retried silently: as ERR_DISK when the
 *   disk refused it, as the InternalError it is when the write path has a bug (see writeFailure);
 * - `drain()` resolves when every write in flight has settled (it awaits them, it does not poll).
 */
import { createHash, type Hash } from 'node:crypto';
import { InternalError, isSystemError, RuntimeError, TorrentError } from '../errors.js';
import type { PiecePicker } from '../picker/index.js';
import type { Storage } from '../storage/storage.js';
import { BLOCK_SIZE } from '../wire/index.js';
import { PieceBufferPool } from './piece-buffers.js';
import { SmartBan } from './smart-ban.js';
import type { PieceCheck } from './verify.js';

/**
 * Bytes of pieces being assembled (received but unverified) held in memory: one piece per
 * connected peer, at least MIN_UNVERIFIED_BYTES and at most MAX_UNVERIFIED_BYTES. Past it,
 * requests go only to pieces already started (anacrolix's MaxUnverifiedBytes): memory does not
 * grow with the torrent's size, only with the peers, and within the maximum. A fixed 32 MiB held
 * 200 slow peers (256 KiB pieces, about a second each from one of them) to 0.59 of their links'
 * capacity, idling those that found no block left in the pieces started; one piece a peer, 0.82.
 */
export const MIN_UNVERIFIED_BYTES = 32 * 1024 * 1024;
export const MAX_UNVERIFIED_BYTES = 256 * 1024 * 1024;
/**
 * Bytes handed to storage but not yet written; past it (or two pieces, if more), reads pause
 * until half of it is left (libtorrent's disk queue, 1 MiB by default). Each MiB more is a MiB
 * more of peak memory; less starves the writer: on the loopback bench 16 MiB peaked 112 MiB RSS,
 * 8 MiB 105-107 at the same speed, 4 MiB 101-107 but 3% slower on 20 files (1.84 s against 1.78,
 * 7 interleaved runs), 2 MiB 4% slower on one file.
 */
export const DISK_HIGH_WATER_BYTES = 8 * 1024 * 1024;

interface InProgress {
  data: Buffer;
  /** Who sent each block (for smart ban). */
  senders: number[];
  /** The piece's running SHA-1 (streamSha1), fed its blocks in order, and the bytes fed so far. */
  sha1: Hash | null;
  hashed: number;
  /** 1 for each block received (for feeding the running hash in order). */
  got: Uint8Array | null;
}

export interface AssemblerEvents {
  /** A piece passed its check (the picker has it now); its write follows. */
  verified(piece: number): void;
  /** A verified piece is on disk (or in the memory store). */
  written(piece: number): void;
  /** The piece failed its hash check; `liars` are proven to have sent bad blocks. */
  failed(piece: number, liars: number[]): void;
  /** A verified piece proved earlier senders of a bad copy wrong. */
  liars(piece: number, liars: number[]): void;
  /** A write failed: ERR_DISK (the disk refused it) or an InternalError (a bug on the write path). */
  diskError(error: TorrentError): void;
  /** The disk queue crossed its high-water mark (true) or went back under half of it (false). */
  diskBusy(busy: boolean): void;
}

export class PieceAssembler {
  private readonly inProgress = new Map<number, InProgress>();
  private readonly writes = new Set<Promise<void>>();
  private readonly smartBan = new SmartBan();
  private readonly buffers: PieceBufferPool;
  unverifiedBytes = 0;
  diskQueueBytes = 0;
  private busy = false;
  private readonly diskHighWater: number;
  private stopped = false;

  constructor(
    private readonly o: {
      picker: PiecePicker;
      storage: Storage;
      /** Whether a complete piece's bytes are right (v1 SHA-1, v2 merkle, or both for a hybrid). */
      verify: PieceCheck;
      /**
       * Hash each piece's blocks into its SHA-1 as they arrive, in order (a block that comes early
       * waits for the ones before it), and hand `verify` the digest: a block is hashed while it is
       * still in the CPU's cache from its copy (libtorrent's hasher cursor).
       */
      streamSha1: boolean;
      pieceLength: number;
      /** The store keeps the buffer (memory storage): do not recycle it. */
      storeKeepsBuffers: boolean;
      events: AssemblerEvents;
    },
  ) {
    this.diskHighWater = Math.max(DISK_HIGH_WATER_BYTES, 2 * o.pieceLength);
    this.buffers = new PieceBufferPool(o.pieceLength, Math.ceil((MAX_UNVERIFIED_BYTES + this.diskHighWater) / o.pieceLength) + 2);
  }

  /** The unverified-bytes cap for `peers` connected peers (and web seeds). */
  unverifiedCap(peers: number): number {
    return Math.min(MAX_UNVERIFIED_BYTES, Math.max(MIN_UNVERIFIED_BYTES, peers * this.o.pieceLength));
  }

  /** Whether a new piece may be started without passing the unverified-bytes cap for `peers` connected peers. */
  roomForNewPiece(peers: number): boolean {
    return this.unverifiedBytes + this.o.pieceLength <= this.unverifiedCap(peers);
  }

  get diskBusy(): boolean {
    return this.busy;
  }

  /** A block the picker accepted (not a duplicate). Verifies the piece when it is complete. */
  addBlock(peerId: number, piece: number, begin: number, block: Buffer, pieceComplete: boolean): void {
    let ip = this.inProgress.get(piece);
    if (!ip) {
      const size = this.o.picker.pieceSize(piece);
      const blocks = this.o.picker.blocksInPiece(piece);
      const stream = this.o.streamSha1;
      ip = {
        data: this.buffers.take(size),
        senders: new Array<number>(blocks).fill(0),
        sha1: stream ? createHash('sha1') : null,
        hashed: 0,
        got: stream ? new Uint8Array(blocks) : null,
      };
      this.inProgress.set(piece, ip);
      this.unverifiedBytes += size;
    }
    // The one copy of the block: out of the socket's read buffer into its piece. fill() of a
    // buffer exactly the range's size is a single memcpy in C++; copy() into shared memory (the
    // piece buffers are: see piece-buffers.ts) goes through V8's word-at-a-time relaxed-atomic
    // move, which perf showed at 8% of a download's CPU against memcpy's 4%.
    ip.data.fill(block, begin, begin + block.length);
    const index = begin / BLOCK_SIZE;
    ip.senders[index] = peerId;
    if (ip.got !== null) {
      ip.got[index] = 1;
      if (begin === ip.hashed) feedInOrder(ip);
    }
    if (pieceComplete) this.verify(piece, ip);
  }

  /**
   * A whole piece from one sender (a web seed), its blocks already marked received in the
   * picker: verified and written without another copy. `data` should come from `takeBuffer`.
   */
  addWholePiece(senderId: number, piece: number, data: Buffer): void {
    if (this.stopped) return;
    const size = this.o.picker.pieceSize(piece);
    if (data.length !== size) throw new RangeError(`piece ${piece}: ${data.length} bytes, expected ${size}`);
    this.unverifiedBytes += size;
    this.verify(piece, { data, senders: new Array<number>(this.o.picker.blocksInPiece(piece)).fill(senderId), sha1: null, hashed: 0, got: null });
  }

  /** Some blocks of this piece are being assembled here. */
  hasPartial(piece: number): boolean {
    return this.inProgress.has(piece);
  }

  /** A buffer from the pool for a whole piece (given back once the piece is written or fails). */
  takeBuffer(size: number): Buffer {
    return this.buffers.take(size);
  }

  /** Resolves when every write in flight has settled. */
  async drain(): Promise<void> {
    while (this.writes.size > 0) await Promise.allSettled([...this.writes]);
  }

  /** Drops pieces being assembled (shutdown: only verified pieces were ever written). */
  stop(): void {
    this.stopped = true;
    for (const ip of this.inProgress.values()) this.buffers.give(ip.data);
    this.inProgress.clear();
    this.unverifiedBytes = 0;
  }

  private verify(piece: number, ip: InProgress): void {
    this.inProgress.delete(piece);
    const size = ip.data.length;
    this.unverifiedBytes -= size;
    const { picker, events } = this.o;
    const sha1 = ip.sha1 !== null && ip.hashed === size ? ip.sha1.digest() : undefined;
    if (!this.o.verify(piece, ip.data, sha1)) {
      picker.pieceFailed(piece);
      const proven = this.smartBan.pieceFailed(piece, blocksOf(ip.data), ip.senders);
      this.buffers.give(ip.data);
      events.failed(piece, proven);
      return;
    }
    picker.pieceVerified(piece);
    events.verified(piece);
    const liars = this.smartBan.tracks(piece) ? this.smartBan.pieceVerified(piece, blocksOf(ip.data)) : [];
    if (liars.length > 0) events.liars(piece, liars);
    this.write(piece, ip.data);
  }

  private write(piece: number, data: Buffer): void {
    this.diskQueueBytes += data.length;
    this.updateBusy();
    const w = this.o.storage.writePiece(piece, [data]).then(
      () => {
        this.diskQueueBytes -= data.length;
        if (!this.o.storeKeepsBuffers) this.buffers.give(data);
        this.updateBusy();
        if (!this.stopped) this.o.events.written(piece);
      },
      (e: unknown) => {
        this.diskQueueBytes -= data.length;
        this.updateBusy();
        this.o.events.diskError(writeFailure(piece, e));
      },
    );
    this.writes.add(w);
    void w.finally(() => this.writes.delete(w));
  }

  private updateBusy(): void {
    const over = this.diskQueueBytes > this.diskHighWater;
    const under = this.diskQueueBytes < this.diskHighWater / 2;
    if (over && !this.busy) {
      this.busy = true;
      this.o.events.diskBusy(true);
    } else if (under && this.busy) {
      this.busy = false;
      this.o.events.diskBusy(false);
    }
  }
}

/**
 * What a rejected write means. A TorrentError is classified already and passes as it is: the file
 * backend's ERR_DISK names the file, and an InternalError (the disk-writer thread died, or
 * answered a write it was not given) is a bug, which the CLI reports with its stack; dressed as
 * "cannot write piece N" it would send the user to check a disk that is fine. An error carrying
 * the system's `code` (ENOSPC, EIO...) is the disk's. Anything else thrown by storage is a bug.
 */
function writeFailure(piece: number, e: unknown): TorrentError {
  if (e instanceof TorrentError) return e;
  if (isSystemError(e)) {
    return new RuntimeError('ERR_DISK', `cannot write piece ${piece}: ${e.message}`, { cause: e });
  }
  return new InternalError(`writing piece ${piece}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
}

/** Feeds the running hash every received block from where it stopped, up to the first one missing. */
function feedInOrder(ip: InProgress): void {
  const { data, got, sha1 } = ip;
  while (ip.hashed < data.length && got![ip.hashed / BLOCK_SIZE] === 1) {
    const end = Math.min(ip.hashed + BLOCK_SIZE, data.length);
    sha1!.update(data.subarray(ip.hashed, end));
    ip.hashed = end;
  }
}

/** A piece's blocks as views (for smart ban's per-block comparison). */
function blocksOf(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let o = 0; o < data.length; o += BLOCK_SIZE) out.push(data.subarray(o, o + BLOCK_SIZE));
  return out;
}

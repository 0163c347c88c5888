/**
 * One peer connection over any byte stream (a TCP socket, an encrypted stream, a uTP socket, an
 * in-memory pair in tests): stream <-> framer, the handshake, the four choke/interest flags, the
 * outstanding request list, rates and idle times. That is all it owns: what to request, whom to
 * unchoke and what a message means for the torrent are the session's.
 *
 * It reports to its handler in arrival order: onOpen once (after the handshake), onMessage for
 * each message, onClose exactly once with a CloseReason. It never throws into the session; an
 * exception thrown BY the handler is not the peer's fault: it is passed to `onBug` and the
 * connection closes as 'shutdown', never as the peer's protocol error.
 *
 * Bounds: the handshake must complete within handshakeTimeoutMs of creation (a trickle cannot
 * extend it); bytes queued for the peer are bounded: above WRITE_PAUSE_BYTES we stop reading from
 * it (a peer that does not read cannot make us produce more), and past WRITE_LIMIT_BYTES, or
 * after WRITE_STALL_MS without the queue draining, the connection is closed.
 *
 * BEP 3 (handshake and messages), BEP 10 (reserved bit 0x10 in byte 5).
 */
import { ProtocolError } from '../errors.js';
import type { PeerAddr } from '../util/address.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { RateMeter } from '../util/rate.js';
import {
  BLOCK_SIZE,
  decodeHandshake,
  encodeHandshake,
  encodeHaves,
  encodeMessage,
  encodePieceHeader,
  Framer,
  HANDSHAKE_BYTES,
  type Handshake,
  type Message,
} from '../wire/index.js';

export type CloseReason =
  | 'connect-failed'
  | 'connect-timeout'
  | 'handshake-timeout'
  | 'wrong-info-hash'
  | 'self-connection'
  | 'protocol-error'
  | 'bad-data'
  | 'remote-closed'
  | 'socket-error'
  | 'idle'
  | 'slow-reader'
  | 'not-useful'
  | 'duplicate'
  | 'banned'
  | 'evicted'
  | 'shutdown';

export interface PeerHandler {
  onOpen(peer: PeerConnection): void;
  onMessage(peer: PeerConnection, msg: Message): void;
  onClose(peer: PeerConnection, reason: CloseReason, detail: string): void;
  /** The stream's write queue emptied: more blocks may be sent. */
  onDrain(peer: PeerConnection): void;
  /** The handler itself threw: a bug of ours, not the peer's doing. */
  onBug(peer: PeerConnection, error: unknown): void;
}

export interface PeerOptions {
  infoHash: Buffer;
  /**
   * BEP 52 upgrade of a hybrid torrent: our handshake names the v1 info hash with the v2 bit set,
   * and a v2 peer (libtorrent) answers with the truncated v2 info hash; that answer is accepted
   * on outgoing connections (`remote.infoHash` then says the connection speaks v2).
   */
  upgradeInfoHash?: Buffer | null;
  /**
   * A hybrid's second swarm (BEP 52): an incoming peer may name the torrent by its truncated v2
   * info hash instead, and is answered with the hash it used.
   */
  alsoInfoHash?: Buffer | null;
  peerId: Buffer;
  reserved: Buffer;
  maxMessageBytes: number;
  handshakeTimeoutMs: number;
  clock: Clock;
}

/** Above this many queued bytes we stop reading from the peer until it drains. */
export const WRITE_PAUSE_BYTES = 2 * 1024 * 1024;
/** A peer that lets this much pile up is not reading at all: closed. */
export const WRITE_LIMIT_BYTES = 8 * 1024 * 1024;
/** A write queue that has not drained for this long belongs to a peer that stopped reading. */
export const WRITE_STALL_MS = 60_000;

export interface Outstanding {
  piece: number;
  block: number;
  begin: number;
  length: number;
  sentAt: number;
}

/**
 * What a peer connection uses of its byte stream. A Duplex has all of it (a TCP socket, a uTP
 * connection, an in-memory pair); a transport may hand over something lighter with the same
 * behaviour (MSE's Rc4Socket): writes in order, `writableLength` counting every byte not yet
 * handed to the kernel (corked ones too), `pause()` stopping reads until `resume()`, 'drain'
 * when the write queue empties, 'end'/'close'/'error' when the connection goes. A write's
 * callback comes once the stream no longer needs the chunk's bytes (handed to the kernel, copied,
 * or dropped with the connection): the uploader then reuses the memory of the blocks it sent.
 */
export interface PeerStream {
  write(chunk: Buffer, done?: (err?: Error | null) => void): boolean;
  cork(): void;
  uncork(): void;
  readonly writableLength: number;
  pause(): unknown;
  resume(): unknown;
  destroy(): unknown;
  readonly destroyed: boolean;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'close' | 'end' | 'drain', listener: () => void): unknown;
}

export interface PeerStreamInit {
  /** Session-unique number (the picker's peer id), given by the session's peer set. */
  id: number;
  stream: PeerStream;
  address: PeerAddr;
  /** We dialled it (we send our handshake first). */
  outgoing: boolean;
  /**
   * The transport delivers bytes by calling `ingest` itself (a TCP socket reading into a shared
   * buffer through Node's `onread`); otherwise the connection listens to 'data'.
   */
  externalReads?: boolean;
  /** What carries it, for display: 'tcp', 'tcp+rc4', 'utp'... */
  transport?: string;
  /** Our handshake already went out on this stream (as MSE's initial payload). */
  handshakeSent?: boolean;
  /** The info hash this connection names the torrent by (a hybrid's v2 swarm); default opts.infoHash. */
  infoHash?: Buffer;
}

export class PeerConnection {
  readonly id: number;
  readonly stream: PeerStream;
  readonly address: PeerAddr;
  readonly outgoing: boolean;
  /** The info hash our handshake names (the one the peer used, on an incoming connection). */
  private infoHash: Buffer;
  readonly transport: string;
  readonly framer: Framer;
  remote: Handshake | null = null;

  amChoking = true;
  amInterested = false;
  peerChoking = true;
  peerInterested = false;

  readonly outstanding = new Map<number, Outstanding>();
  /** Requests cancelled recently: a block for them may still arrive (BEP 3 allows the race). */
  readonly cancelled = new Map<number, number>();
  readonly download = new RateMeter();
  readonly upload = new RateMeter();
  lastReceivedAt: number;
  lastSentAt: number;
  private closed = false;
  private handshakeTimer: TimerHandle | null;
  private stallTimer: TimerHandle | null = null;
  /** Why reads are paused: the session's disk back-pressure, our own write queue, or both. */
  private pausedBySession = false;
  private pausedByWrites = false;

  constructor(
    init: PeerStreamInit,
    private readonly opts: PeerOptions,
    private readonly handler: PeerHandler,
  ) {
    this.id = init.id;
    this.stream = init.stream;
    this.address = init.address;
    this.outgoing = init.outgoing;
    this.infoHash = init.infoHash ?? opts.infoHash;
    this.transport = init.transport ?? 'tcp';
    this.framer = new Framer({ maxMessageBytes: opts.maxMessageBytes });
    const now = opts.clock.now();
    this.lastReceivedAt = now;
    this.lastSentAt = now;
    const s = this.stream;
    if (!init.externalReads) s.on('data', (chunk: Buffer) => this.ingest(chunk, false));
    s.resume(); // a transport may hand over its stream paused (MSE after its handshake)
    s.on('error', (e: Error) => this.close('socket-error', e.message));
    s.on('close', () => this.close('remote-closed', 'connection closed by peer'));
    s.on('end', () => this.close('remote-closed', 'connection closed by peer'));
    s.on('drain', () => this.onStreamDrain());
    this.handshakeTimer = opts.clock.setTimeout(() => this.close('handshake-timeout', 'no handshake in time'), opts.handshakeTimeoutMs);
    if (this.outgoing && !init.handshakeSent) this.sendRaw(encodeHandshake({ reserved: opts.reserved, infoHash: this.infoHash, peerId: opts.peerId }));
  }

  get isOpen(): boolean {
    return this.remote !== null && !this.closed;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  send(msg: Message): void {
    if (this.closed) return;
    switch (msg.type) {
      case 'choke':
        this.amChoking = true;
        break;
      case 'unchoke':
        this.amChoking = false;
        break;
      case 'interested':
        this.amInterested = true;
        break;
      case 'not-interested':
        this.amInterested = false;
        break;
      default:
        break;
    }
    this.sendRaw(encodeMessage(msg));
  }

  /** Sends a `have` for each of `count` pieces as one write (see encodeHaves). */
  sendHaves(pieces: Iterable<number>, count: number): void {
    if (this.closed || count === 0) return;
    this.sendRaw(encodeHaves(pieces, count));
  }

  /**
   * Sends a block without copying it: header, then the block itself, in one write. `sent`, when
   * given, is called once the stream no longer needs its bytes.
   */
  sendPiece(index: number, begin: number, block: Buffer, sent?: () => void): void {
    if (this.closed) {
      sent?.();
      return;
    }
    this.stream.cork();
    this.sendRaw(encodePieceHeader(index, begin, block.length));
    this.sendRaw(block, sent);
    this.uncork();
    this.upload.add(block.length, this.opts.clock.now());
  }

  /**
   * Everything `fn` sends leaves in one write when it returns (the uploader's blocks: one writev
   * of many, not a syscall per block). The write-queue bounds still apply to each message.
   */
  batch(fn: () => void): void {
    if (this.closed) return;
    this.stream.cork();
    try {
      fn();
    } finally {
      this.uncork();
    }
  }

  /** Bytes queued in the stream but not yet handed to the kernel (upload back-pressure). */
  get writeQueueBytes(): number {
    return this.stream.writableLength;
  }

  request(piece: number, block: number, length: number): void {
    const begin = block * BLOCK_SIZE;
    this.outstanding.set(key(piece, block), { piece, block, begin, length, sentAt: this.opts.clock.now() });
    this.send({ type: 'request', index: piece, begin, length });
  }

  /** Drops an outstanding request and tells the peer (endgame duplicates, timeouts). */
  cancel(piece: number, block: number): void {
    const k = key(piece, block);
    const o = this.outstanding.get(k);
    if (!o) return;
    this.outstanding.delete(k);
    this.cancelled.set(k, this.opts.clock.now());
    this.send({ type: 'cancel', index: piece, begin: o.begin, length: o.length });
  }

  /** Forgets outstanding requests without telling the peer (it choked us: BEP 3 drops them). */
  clearOutstanding(): Outstanding[] {
    const all = [...this.outstanding.values()];
    this.outstanding.clear();
    return all;
  }

  /** Forgets cancelled requests older than `ms` (a late block for them is then unrequested). */
  expireCancelled(now: number, ms: number): void {
    for (const [k, at] of this.cancelled) if (now - at > ms) this.cancelled.delete(k);
  }

  /**
   * Matches an arriving block to its request. Returns the request, 'late' for a block we
   * cancelled (harmless), or null for a block never requested (a protocol violation).
   */
  takeRequest(index: number, begin: number, length: number): Outstanding | 'late' | null {
    if (begin % BLOCK_SIZE !== 0) return null;
    const k = key(index, begin / BLOCK_SIZE);
    const o = this.outstanding.get(k);
    if (o && o.length === length) {
      this.outstanding.delete(k);
      return o;
    }
    if (this.cancelled.has(k)) {
      this.cancelled.delete(k);
      return 'late';
    }
    return null;
  }

  /** The session's disk is behind: stop reading (resumeReads undoes it). */
  pauseReads(): void {
    this.pausedBySession = true;
    this.updatePause();
  }

  resumeReads(): void {
    this.pausedBySession = false;
    this.updatePause();
  }

  close(reason: CloseReason, detail = ''): void {
    if (this.closed) return;
    this.closed = true;
    this.handshakeTimer?.cancel();
    this.stallTimer?.cancel();
    this.stream.destroy();
    this.handler.onClose(this, reason, detail);
  }

  /**
   * Bytes from the peer, in order. `shared`: the chunk is a buffer the transport reuses after
   * this call returns (the framer then copies what it keeps).
   */
  ingest(chunk: Buffer, shared: boolean): void {
    if (this.closed) return;
    this.lastReceivedAt = this.opts.clock.now();
    // Everything sent in answer to this chunk (requests, haves, cancels) leaves in one write.
    this.stream.cork();
    try {
      this.framer.push(chunk);
      if (this.remote === null && !this.readHandshake()) return;
      for (let msg = this.framer.next(); msg !== null; msg = this.framer.next()) {
        if (msg.type === 'piece') this.download.add(msg.block.length, this.lastReceivedAt);
        if (!this.deliver(msg)) return;
      }
    } catch (e) {
      // Only the codecs run here outside deliver(): anything they throw is the peer's bytes.
      this.close('protocol-error', e instanceof ProtocolError ? e.message : `undecodable: ${(e as Error).message}`);
    } finally {
      if (shared && !this.closed) this.framer.detach();
      this.uncork();
    }
  }

  /** Hands one message to the handler; false when the connection is gone afterwards. */
  private deliver(msg: Message): boolean {
    try {
      this.handler.onMessage(this, msg);
    } catch (e) {
      if (e instanceof ProtocolError) {
        // The session found the message invalid for this torrent (a bitfield of the wrong size).
        this.close('protocol-error', e.message);
      } else {
        this.close('shutdown', 'internal error');
        this.handler.onBug(this, e);
      }
      return false;
    }
    return !this.closed;
  }

  private sendRaw(buf: Buffer, sent?: () => void): void {
    this.lastSentAt = this.opts.clock.now();
    this.stream.write(buf, sent);
    const queued = this.stream.writableLength;
    if (queued > WRITE_LIMIT_BYTES) {
      this.close('slow-reader', `${queued} bytes queued and not read`);
      return;
    }
    if (queued > WRITE_PAUSE_BYTES && !this.pausedByWrites) {
      this.pausedByWrites = true;
      this.updatePause();
      this.stallTimer = this.opts.clock.setTimeout(() => this.close('slow-reader', 'stopped reading what we send'), WRITE_STALL_MS);
    }
  }

  private uncork(): void {
    if (!this.stream.destroyed) this.stream.uncork();
  }

  private onStreamDrain(): void {
    if (this.closed) return;
    if (this.pausedByWrites) {
      this.pausedByWrites = false;
      this.stallTimer?.cancel();
      this.stallTimer = null;
      this.updatePause();
    }
    try {
      this.handler.onDrain(this);
    } catch (e) {
      this.close('shutdown', 'internal error');
      this.handler.onBug(this, e);
    }
  }

  private updatePause(): void {
    if (this.closed) return;
    if (this.pausedBySession || this.pausedByWrites) this.stream.pause();
    else this.stream.resume();
  }

  private readHandshake(): boolean {
    const raw = this.framer.takeRaw(HANDSHAKE_BYTES);
    if (!raw) return false;
    const hs = decodeHandshake(raw);
    if (!hs) return false;
    const upgraded = this.outgoing && this.opts.upgradeInfoHash != null && hs.infoHash.equals(this.opts.upgradeInfoHash);
    const otherSwarm = !this.outgoing && this.opts.alsoInfoHash != null && hs.infoHash.equals(this.opts.alsoInfoHash);
    if (otherSwarm) this.infoHash = this.opts.alsoInfoHash!;
    if (!hs.infoHash.equals(this.infoHash) && !upgraded) {
      this.close('wrong-info-hash', `peer wants ${hs.infoHash.toString('hex')}`);
      return false;
    }
    if (hs.peerId.equals(this.opts.peerId)) {
      this.close('self-connection', 'connected to ourselves');
      return false;
    }
    this.handshakeTimer?.cancel();
    this.handshakeTimer = null;
    if (!this.outgoing) this.sendRaw(encodeHandshake({ reserved: this.opts.reserved, infoHash: this.infoHash, peerId: this.opts.peerId }));
    this.remote = hs;
    try {
      this.handler.onOpen(this);
    } catch (e) {
      this.close('shutdown', 'internal error');
      this.handler.onBug(this, e);
    }
    return !this.closed;
  }
}

/** One number per (piece, block): pieces < 2^22, blocks per piece < 2^15 (512 MiB / 16 KiB). */
export function key(piece: number, block: number): number {
  return piece * 32768 + block;
}

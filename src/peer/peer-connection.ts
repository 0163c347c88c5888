/**
 * One peer connection: socket <-> framer, the handshake, choke/interest state, the outstanding
 * request list, rates and idle times. It reports to its handler in arrival order (onOpen once,
 * onMessage for each message, onClose exactly once with a CloseReason) and never throws into the
 * session. It makes no decisions about what to request or whom to unchoke: that is the session's.
 *
 * BEP 3 (handshake and messages), BEP 10 (reserved bit 0x10 in byte 5, extended handshake).
 */
import { Socket, connect as netConnect } from 'node:net';
import { ProtocolError } from '../errors.js';
import { Bitfield } from '../util/bitfield.js';
import { RateMeter } from '../util/rate.js';
import {
  BLOCK_SIZE,
  decodeHandshake,
  encodeHandshake,
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
  | 'not-useful'
  | 'duplicate'
  | 'banned'
  | 'shutdown';

export interface PeerHandler {
  onOpen(peer: PeerConnection): void;
  onMessage(peer: PeerConnection, msg: Message): void;
  onClose(peer: PeerConnection, reason: CloseReason, detail: string): void;
  /** The socket's write buffer emptied: more blocks may be sent. */
  onDrain(peer: PeerConnection): void;
}

export interface PeerOptions {
  infoHash: Buffer;
  peerId: Buffer;
  reserved: Buffer;
  pieceCount: number;
  maxMessageBytes: number;
  handshakeTimeoutMs: number;
  now: () => number;
  /**
   * One buffer that outgoing connections read into (Node's `onread`), shared by all of them:
   * messages handed to the handler are views of it, valid only during onMessage, so the
   * handler copies what it keeps. No per-read allocation: the hot path allocates nothing.
   */
  readBuffer?: Buffer;
}

/** A block the peer asked us for (upload side). */
export interface IncomingRequest {
  index: number;
  begin: number;
  length: number;
}

/** Requests we queue per peer: what we advertise as `reqq`; more are dropped, never buffered. */
export const MAX_INCOMING_REQUESTS = 500;

export interface Outstanding {
  piece: number;
  block: number;
  begin: number;
  length: number;
  sentAt: number;
}

let nextPeerId = 1;

export class PeerConnection {
  /** Session-unique number, used as the picker's peer id. */
  readonly id = nextPeerId++;
  readonly framer: Framer;
  remote: Handshake | null = null;
  bitfield: Bitfield;
  /** The peer has every piece (bitfield or haves say so). */
  get isSeed(): boolean {
    return this.bitfield.complete;
  }

  amChoking = true;
  amInterested = false;
  peerChoking = true;
  peerInterested = false;
  snubbed = false;
  /** From the BEP 10 handshake: how many requests the peer queues (0 = unknown). */
  reqq = 0;

  readonly outstanding = new Map<number, Outstanding>();
  /** Blocks the peer asked for that we have not sent yet, oldest first. */
  incoming: IncomingRequest[] = [];
  /** Disk reads in flight for this peer's requests. */
  reading = 0;
  /** Set while this peer's uploads wait for the rate limit. */
  serveTimer: NodeJS.Timeout | null = null;
  /** Requests that broke the rules (piece we lack, out of range, too long). */
  invalidRequests = 0;
  /** Requests cancelled recently: a block for them may still arrive (BEP 3 allows the race). */
  readonly cancelled = new Map<number, number>();
  readonly download = new RateMeter();
  readonly upload = new RateMeter();
  lastReceivedAt: number;
  lastSentAt: number;
  lastPieceAt: number;
  private closed = false;
  private handshakeTimer: NodeJS.Timeout | null = null;
  private readsPaused = false;

  private constructor(
    readonly socket: Socket,
    readonly address: { host: string; port: number },
    readonly outgoing: boolean,
    private readonly opts: PeerOptions,
    private readonly handler: PeerHandler,
  ) {
    this.framer = new Framer({ maxMessageBytes: opts.maxMessageBytes });
    this.bitfield = new Bitfield(opts.pieceCount);
    const now = opts.now();
    this.lastReceivedAt = now;
    this.lastSentAt = now;
    this.lastPieceAt = now;
    socket.setNoDelay(true);
    // Sockets created with a shared read buffer deliver through onread (see connect()).
    if (!opts.readBuffer || !outgoing) socket.on('data', (chunk: Buffer) => this.onData(chunk, false));
    socket.on('error', (e: Error) => this.close('socket-error', e.message));
    socket.on('close', () => this.close('remote-closed', 'connection closed by peer'));
    socket.on('drain', () => {
      if (!this.closed) this.handler.onDrain(this);
    });
    this.handshakeTimer = setTimeout(() => this.close('handshake-timeout', 'no handshake in time'), opts.handshakeTimeoutMs);
  }

  /** Dials a peer; the handshake is sent as soon as the TCP connection is up. */
  static connect(
    address: { host: string; port: number },
    opts: PeerOptions,
    handler: PeerHandler,
    connectTimeoutMs: number,
  ): PeerConnection {
    let peer: PeerConnection | null = null;
    const socket = opts.readBuffer
      ? netConnect({
          host: address.host,
          port: address.port,
          onread: {
            buffer: opts.readBuffer,
            callback: (n: number, buf: Uint8Array): boolean => {
              peer?.onData(buf.subarray(0, n) as Buffer, true);
              return true; // false would pause the socket; pausing is pauseReads()' job
            },
          },
        })
      : netConnect({ host: address.host, port: address.port });
    peer = new PeerConnection(socket, address, true, opts, handler);
    socket.setTimeout(connectTimeoutMs, () => peer.close('connect-timeout', 'no answer'));
    socket.once('connect', () => {
      socket.setTimeout(0);
      peer.sendRaw(encodeHandshake({ reserved: opts.reserved, infoHash: opts.infoHash, peerId: opts.peerId }));
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      if (!socket.remoteAddress) peer.close('connect-failed', e.code ?? e.message);
    });
    return peer;
  }

  /** Wraps an incoming connection; we answer the handshake once we have read theirs. */
  static accept(socket: Socket, opts: PeerOptions, handler: PeerHandler): PeerConnection {
    const host = (socket.remoteAddress ?? '?').replace(/^::ffff:/, '');
    return new PeerConnection(socket, { host, port: socket.remotePort ?? 0 }, false, opts, handler);
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
        this.incoming = []; // BEP 3: choking discards the peer's pending requests
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

  /** Sends a block without copying it: header, then the block itself. */
  sendPiece(index: number, begin: number, block: Buffer): void {
    if (this.closed) return;
    // Header and block leave in one write (one segment, one system call), not two.
    this.socket.cork();
    this.socket.write(encodePieceHeader(index, begin, block.length));
    this.sendRaw(block);
    this.socket.uncork();
    this.upload.add(block.length, this.opts.now());
  }

  /** Bytes queued in the socket but not yet handed to the kernel (upload backpressure). */
  get writeQueueBytes(): number {
    return this.socket.writableLength;
  }

  request(piece: number, block: number, length: number): void {
    const begin = block * BLOCK_SIZE;
    this.outstanding.set(key(piece, block), { piece, block, begin, length, sentAt: this.opts.now() });
    this.send({ type: 'request', index: piece, begin, length });
  }

  /** Drops an outstanding request and tells the peer (endgame duplicates, timeouts). */
  cancel(piece: number, block: number): void {
    const k = key(piece, block);
    const o = this.outstanding.get(k);
    if (!o) return;
    this.outstanding.delete(k);
    this.cancelled.set(k, this.opts.now());
    this.send({ type: 'cancel', index: piece, begin: o.begin, length: o.length });
  }

  /** Forgets outstanding requests without telling the peer (it choked us: BEP 3 drops them). */
  clearOutstanding(): Outstanding[] {
    const all = [...this.outstanding.values()];
    this.outstanding.clear();
    return all;
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

  pauseReads(): void {
    if (!this.readsPaused && !this.closed) {
      this.readsPaused = true;
      this.socket.pause();
    }
  }

  resumeReads(): void {
    if (this.readsPaused && !this.closed) {
      this.readsPaused = false;
      this.socket.resume();
    }
  }

  close(reason: CloseReason, detail = ''): void {
    if (this.closed) return;
    this.closed = true;
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    if (this.serveTimer) clearTimeout(this.serveTimer);
    this.socket.destroy();
    this.handler.onClose(this, reason, detail);
  }

  private sendRaw(buf: Buffer): void {
    this.lastSentAt = this.opts.now();
    this.socket.write(buf);
  }

  /** `shared`: the chunk is the shared read buffer, reused after this call returns. */
  private onData(chunk: Buffer, shared: boolean): void {
    if (this.closed) return;
    this.lastReceivedAt = this.opts.now();
    // Everything the handler sends in answer to this chunk (requests, haves, cancels) leaves in
    // one write instead of one per message: on loopback each small write costs a system call
    // and the receiver's processing too.
    this.socket.cork();
    try {
      this.framer.push(chunk);
      if (this.remote === null && !this.readHandshake()) return;
      for (let msg = this.framer.next(); msg !== null; msg = this.framer.next()) {
        if (msg.type === 'piece') {
          this.download.add(msg.block.length, this.lastReceivedAt);
          this.lastPieceAt = this.lastReceivedAt;
        }
        this.handler.onMessage(this, msg);
        if (this.closed) return;
      }
    } catch (e) {
      if (e instanceof ProtocolError) this.close('protocol-error', e.message);
      else this.close('protocol-error', `internal: ${(e as Error).message}`);
    } finally {
      if (shared && !this.closed) this.framer.detach();
      if (!this.socket.destroyed) this.socket.uncork();
    }
  }

  private readHandshake(): boolean {
    const raw = this.framer.takeRaw(HANDSHAKE_BYTES);
    if (!raw) return false;
    const hs = decodeHandshake(raw);
    if (!hs) return false;
    if (!hs.infoHash.equals(this.opts.infoHash)) {
      this.close('wrong-info-hash', `peer wants ${hs.infoHash.toString('hex')}`);
      return false;
    }
    if (hs.peerId.equals(this.opts.peerId)) {
      this.close('self-connection', 'connected to ourselves');
      return false;
    }
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    if (!this.outgoing) {
      this.sendRaw(encodeHandshake({ reserved: this.opts.reserved, infoHash: this.opts.infoHash, peerId: this.opts.peerId }));
    }
    this.remote = hs;
    this.handler.onOpen(this);
    return !this.closed;
  }
}

/** One number per (piece, block): pieces < 2^22, blocks per piece < 2^15 (512 MiB / 16 KiB). */
export function key(piece: number, block: number): number {
  return piece * 32768 + block;
}

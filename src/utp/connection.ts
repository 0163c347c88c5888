/**
 * One uTP connection (BEP 29) as a Node `Duplex` of bytes: the peer connection above reads and
 * writes it as it would a TCP socket. Owns the connection's state machine, its timers and the
 * stream; the send side (our sequence space, retransmissions, RTT, congestion window) is
 * send-window.ts and the receive side (reorder buffer, selective acks) receive-buffer.ts, both
 * pure. Knows no socket: packets leave through the injected `sendPacket` and arrive through
 * `handlePacket` (socket.ts demultiplexes them); every timer comes from the injected Clock and
 * every random number from the injected source, so a pair of connections runs over a simulated
 * link on a fake clock.
 *
 * States: syn-sent (we dialled; only the SYN is in flight) → connected when a STATE acks the SYN.
 * syn-recv (a SYN arrived; we answered with a STATE) → connected at the first packet from the
 * dialler, before which we send no data: a DATA of ours overtaking our STATE would be taken for
 * the connection's first packet with the wrong sequence number (a BitTorrent dialler always
 * speaks first, so this costs nothing). Any state → closed on destroy(), on RESET, on a timeout,
 * or when both FINs are through (the Duplex ends both sides and autoDestroy closes it: receiving
 * the peer's FIN ends our writable too, as `allowHalfOpen: false`, which sends ours).
 *
 * Acks are deferred with setImmediate to the end of the current batch of datagrams, so one ack
 * covers a burst (libutp's deferred ack), and writes made in one turn are coalesced into full
 * packets with queueMicrotask. Neither is a timer: no time passes, and a fake clock is not
 * bypassed.
 *
 * Invariants:
 * - The retransmission timer runs while packets are outstanding; it is re-armed lazily (an ack
 *   moves `rtoDeadline`, and a timer that fires early sets itself again for it).
 * - queuedBytes beyond SEND_BUFFER_BYTES holds back the write callback, so `write()` returns
 *   false and 'drain' follows once packets leave.
 * - A connection whose outstanding data gets no ack for MAX_CONSECUTIVE_TIMEOUTS retransmission
 *   timeouts (MAX_SYN_TIMEOUTS for the SYN) is destroyed with ETIMEDOUT; nothing else of ours
 *   waits on a peer.
 */
import { Duplex } from 'node:stream';
import type { Clock, TimerHandle } from '../util/clock.js';
import {
  DEFAULT_PACKET_BYTES,
  KEEPALIVE_MS,
  MAX_CONSECUTIVE_TIMEOUTS,
  MAX_PACKET_BYTES,
  MAX_SYN_TIMEOUTS,
  MIN_PACKET_BYTES,
  RECV_BUFFER_BYTES,
  SEND_BUFFER_BYTES,
  ZERO_WINDOW_PROBE_MS,
} from './constants.js';
import { encodePacket, HEADER_BYTES, PacketType, SEQ_MASK, type Packet } from './packet.js';
import { FIN_MARK, ReceiveBuffer, Received, type ReceiveStats } from './receive-buffer.js';
import { AckOutcome, SendWindow, type OutPacket, type SendStats } from './send-window.js';

export type UtpState = 'syn-sent' | 'syn-recv' | 'connected' | 'closed';

/** How a uTP connection failed, spelled as the TCP socket error a peer connection already handles. */
export type UtpErrno = 'ECONNREFUSED' | 'ECONNRESET' | 'ETIMEDOUT';

/**
 * A uTP connection's failure, shaped as Node's error for the same failure of a TCP socket: `code`
 * is the errno's name ('ECONNREFUSED' for a dial answered by a RESET), so whatever reads a TCP
 * socket's `e.code` (the Dialer, src/session/connector.ts) reads these alike. Not a TorrentError:
 * like a socket's errors it never reaches the CLI; the peer connection or the Dialer takes it.
 */
export class UtpError extends Error {
  readonly code: UtpErrno;
  /** The same name as `code` (kept for readers of `errno`; Node's own errno is a number). */
  readonly errno: UtpErrno;
  constructor(errno: UtpErrno, message: string) {
    super(message);
    this.name = 'UtpError';
    this.code = errno;
    this.errno = errno;
  }
}

export interface UtpConnectionOptions {
  clock: Clock;
  /** n random bytes. */
  random: (bytes: number) => Buffer;
  /** Hands one encoded packet to the network (socket.ts sends it to the remote address). */
  sendPacket: (packet: Buffer) => void;
  remoteAddress: string;
  remotePort: number;
  /** Whole packet size, header included (constants.ts DEFAULT_PACKET_BYTES says why 1400). */
  packetBytes?: number;
  /** Receive buffer; smaller values serve back-pressure tests. */
  recvBufferBytes?: number;
  /** Called once when the connection is closed, so the socket forgets it. */
  onClosed?: () => void;
}

export interface UtpStats extends SendStats, ReceiveStats {
  packetsSent: number;
  packetsReceived: number;
}

/** The payload of STATE, RESET and a closing FIN: encodePacket copies it, so one serves them all. */
const EMPTY = Buffer.alloc(0);

function random16(random: (n: number) => Buffer): number {
  return random(2).readUInt16BE(0);
}

export class UtpConnection extends Duplex {
  readonly recvId: number;
  readonly sendId: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Shared with the send window and the receive buffer, which count their own. */
  readonly stats: UtpStats = {
    packetsSent: 0,
    packetsReceived: 0,
    retransmits: 0,
    fastRetransmits: 0,
    timeouts: 0,
    duplicatePackets: 0,
    droppedPackets: 0,
  };

  private readonly clock: Clock;
  private readonly sendPacket: (packet: Buffer) => void;
  private readonly onClosed: (() => void) | undefined;
  private readonly packetBytes: number;
  private readonly synSeq: number;
  private readonly tx: SendWindow;
  private readonly rx: ReceiveBuffer;
  private connState: UtpState;

  // Stream glue.
  private heldWriteCb: ((err?: Error | null) => void) | null = null;
  private finalCb: ((err?: Error | null) => void) | null = null;
  private flushScheduled = false;

  // What our packets' headers say back.
  private replyMicro = 0;
  private ackPending = false;
  private ackScheduled = false;
  private lastAdvertisedWnd = 0;

  // Timers.
  private rtoTimer: TimerHandle | null = null;
  private rtoDeadline = 0;
  private probeTimer: TimerHandle | null = null;
  private keepaliveTimer: TimerHandle | null = null;
  private lastSendMs: number;

  private constructor(
    opts: UtpConnectionOptions,
    ids: { recvId: number; sendId: number },
    seq: { seqNr: number; ackNr: number; synSeq: number },
    state: UtpState,
  ) {
    const recvBufferBytes = opts.recvBufferBytes ?? RECV_BUFFER_BYTES;
    super({ allowHalfOpen: false, readableHighWaterMark: recvBufferBytes, writableHighWaterMark: 64 * 1024 });
    const packetBytes = opts.packetBytes ?? DEFAULT_PACKET_BYTES;
    if (!Number.isInteger(packetBytes) || packetBytes < MIN_PACKET_BYTES || packetBytes > MAX_PACKET_BYTES) {
      throw new RangeError(`utp: packetBytes ${packetBytes} outside ${MIN_PACKET_BYTES}..${MAX_PACKET_BYTES}`);
    }
    this.clock = opts.clock;
    this.sendPacket = opts.sendPacket;
    this.onClosed = opts.onClosed;
    this.remoteAddress = opts.remoteAddress;
    this.remotePort = opts.remotePort;
    this.packetBytes = packetBytes;
    this.tx = new SendWindow(packetBytes - HEADER_BYTES, seq.seqNr, this.stats);
    this.rx = new ReceiveBuffer(recvBufferBytes, seq.ackNr, this.stats);
    this.recvId = ids.recvId;
    this.sendId = ids.sendId;
    this.synSeq = seq.synSeq;
    this.connState = state;
    this.lastSendMs = this.clock.now();
    this.armKeepalive();
  }

  /** Dials: sends a SYN now; 'connect' follows when it is answered. `recvId` is chosen by the socket. */
  static initiate(opts: UtpConnectionOptions, recvId: number): UtpConnection {
    const seqNr = random16(opts.random);
    const c = new UtpConnection(opts, { recvId, sendId: (recvId + 1) & SEQ_MASK }, { seqNr, ackNr: 0, synSeq: seqNr }, 'syn-sent');
    c.transmit(c.tx.openSyn(c.clock.now()));
    return c;
  }

  /** Answers a SYN (already decoded and admitted by the socket) with a STATE. */
  static accept(opts: UtpConnectionOptions, syn: Packet): UtpConnection {
    const seqNr = random16(opts.random);
    const c = new UtpConnection(
      opts,
      { recvId: (syn.connectionId + 1) & SEQ_MASK, sendId: syn.connectionId },
      { seqNr, ackNr: syn.seqNr, synSeq: syn.seqNr },
      'syn-recv',
    );
    c.replyMicro = (c.nowUs() - syn.timestampUs) >>> 0;
    c.tx.setPeerWindow(syn.wndSize);
    c.stats.packetsReceived++;
    c.sendState();
    return c;
  }

  get state(): UtpState {
    return this.connState;
  }

  /** The congestion window in bytes (for tests and the bench). */
  get cwnd(): number {
    return this.tx.cwnd;
  }

  get rtoMs(): number {
    return this.tx.rtoMs;
  }

  get smoothedRttMs(): number {
    return this.tx.smoothedRttMs;
  }

  /** The window we would advertise now: what is left of the receive buffer. */
  get receiveWindow(): number {
    return this.rx.window(this.readableLength);
  }

  /** The peer's advertised window, clamped to MAX_PEER_WINDOW_BYTES. */
  get peerWindow(): number {
    return this.tx.peerWindow;
  }

  /** Sent and not yet acknowledged. */
  get outstandingPackets(): number {
    return this.tx.outstandingPackets;
  }

  /** TCP-socket compatibility: uTP has no Nagle to turn off here. */
  setNoDelay(): this {
    return this;
  }

  // ---------------------------------------------------------------- incoming

  /** One packet addressed to this connection (socket.ts matched address and connection id). */
  handlePacket(p: Packet): void {
    if (this.connState === 'closed') return;
    this.stats.packetsReceived++;
    if (p.type === PacketType.reset) {
      if (this.rx.ended && this.tx.onlyFinOutstanding) {
        // Both FINs were sent and theirs arrived: the peer closed after taking all our data and
        // lost only the ack of our FIN. Nothing was lost; close cleanly.
        this.tx.markFinAcked();
        this.destroy();
        return;
      }
      const errno: UtpErrno = this.connState === 'syn-sent' ? 'ECONNREFUSED' : 'ECONNRESET';
      this.destroy(new UtpError(errno, `utp: connection ${errno === 'ECONNREFUSED' ? 'refused' : 'reset'} by ${this.remoteAddress}:${this.remotePort}`));
      return;
    }
    if (p.type === PacketType.syn) {
      // The dialler did not get our STATE: answer again. Any other SYN here is noise.
      if (this.connState === 'syn-recv' && p.seqNr === this.synSeq) this.sendState();
      return;
    }
    this.replyMicro = (this.nowUs() - p.timestampUs) >>> 0;
    let justConnected = false;
    if (this.connState === 'syn-sent') {
      if (p.type !== PacketType.state || p.ackNr !== this.synSeq) {
        this.stats.droppedPackets++;
        return;
      }
      // The STATE carries the number the acceptor's first DATA will use.
      this.rx.expectFirst(p.seqNr);
      this.connState = 'connected';
      justConnected = true;
    }
    if (!this.processAck(p)) {
      this.stats.droppedPackets++;
      return;
    }
    if (this.connState === 'syn-recv') this.connState = 'connected';
    if (p.type === PacketType.data || p.type === PacketType.fin) this.processIncoming(p);
    if (justConnected) this.emit('connect');
    this.flush();
  }

  /** Returns false when the packet acknowledges data we never sent (it is then ignored whole). */
  private processAck(p: Packet): boolean {
    const now = this.clock.now();
    const finWasAcked = this.tx.finAcked;
    const outcome = this.tx.onAck(p, now);
    if (outcome === AckOutcome.invalid) return false;
    if (!finWasAcked && this.tx.finAcked) {
      const cb = this.finalCb;
      this.finalCb = null;
      cb?.();
    }
    if (outcome === AckOutcome.progress) {
      if (this.tx.outstandingPackets > 0) this.armRto(now + this.tx.rtoMs);
      else this.cancelRto();
    }
    return true;
  }

  private processIncoming(p: Packet): void {
    const r = this.rx.receive(p, this.readableLength);
    if (r === Received.deliver) {
      for (let b = this.rx.takeNext(); b !== null; b = this.rx.takeNext()) {
        if (b === FIN_MARK) this.push(null);
        else if (b.length > 0) this.push(b);
      }
    }
    if (r !== Received.drop) this.scheduleAck();
  }

  // ---------------------------------------------------------------- outgoing

  private nowUs(): number {
    return Math.floor(this.clock.now() * 1000) >>> 0;
  }

  /** Puts a packet the send window just marked sent on the wire, and starts the timer for it. */
  private transmit(o: OutPacket): void {
    this.send(o.type, o.seq, o.payload, null);
    if (this.rtoTimer === null) this.armRto(o.sentAtMs + this.tx.rtoMs);
  }

  private send(type: PacketType, seq: number, payload: Buffer, sack: Uint8Array | null): void {
    const wnd = this.receiveWindow;
    const packet = encodePacket({
      type,
      connectionId: type === PacketType.syn ? this.recvId : this.sendId,
      timestampUs: this.nowUs(),
      timestampDiffUs: this.replyMicro,
      wndSize: wnd,
      seqNr: seq,
      ackNr: this.rx.ackNr,
      sack,
      payload,
    });
    this.lastAdvertisedWnd = wnd;
    this.lastSendMs = this.clock.now();
    this.stats.packetsSent++;
    if (sack !== null || this.rx.heldPackets === 0) this.ackPending = false;
    this.sendPacket(packet);
  }

  private sendState(): void {
    this.send(PacketType.state, this.tx.nextSeq, EMPTY, this.rx.buildSack());
  }

  private scheduleAck(): void {
    this.ackPending = true;
    if (this.ackScheduled) return;
    this.ackScheduled = true;
    // After the rest of this batch of datagrams: one ack covers them all (libutp's deferred ack).
    setImmediate(() => {
      this.ackScheduled = false;
      if (this.ackPending && this.connState !== 'closed') this.sendState();
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Writes made in one turn share packets instead of each sending a small one.
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Sends what the windows allow (the send window picks: retransmissions, new data, the FIN). */
  private flush(): void {
    if (this.connState === 'closed') return;
    if (this.connState === 'syn-sent') {
      const syn = this.tx.resendSyn(this.synSeq, this.clock.now());
      if (syn !== null) this.transmit(syn);
      return;
    }
    if (this.connState === 'syn-recv') return;
    const finWanted = this.writableEnded && this.finalCb !== null;
    for (let o = this.tx.next(this.clock.now(), finWanted); o !== null; o = this.tx.next(this.clock.now(), finWanted)) this.transmit(o);
    if (this.tx.zeroWindow) this.armProbe();
    this.releaseWriter();
  }

  private releaseWriter(): void {
    if (this.heldWriteCb !== null && this.tx.queuedBytes < SEND_BUFFER_BYTES) {
      const cb = this.heldWriteCb;
      this.heldWriteCb = null;
      cb();
    }
  }

  // ---------------------------------------------------------------- timers

  private armRto(deadline: number): void {
    this.rtoDeadline = deadline;
    if (this.rtoTimer !== null) return;
    this.rtoTimer = this.clock.setTimeout(() => this.onRtoTimer(), Math.max(0, deadline - this.clock.now()));
  }

  private cancelRto(): void {
    this.rtoTimer?.cancel();
    this.rtoTimer = null;
  }

  private onRtoTimer(): void {
    this.rtoTimer = null;
    if (this.connState === 'closed' || this.tx.outstandingPackets === 0) return;
    const now = this.clock.now();
    if (now < this.rtoDeadline) {
      // Acks moved the deadline since this timer was set (timers are re-armed lazily).
      this.armRto(this.rtoDeadline);
      return;
    }
    const limit = this.connState === 'syn-sent' ? MAX_SYN_TIMEOUTS : MAX_CONSECUTIVE_TIMEOUTS;
    if (!this.tx.onTimeout(now, limit)) {
      this.destroy(new UtpError('ETIMEDOUT', `utp: ${this.remoteAddress}:${this.remotePort} did not answer ${this.tx.consecutiveTimeouts} retransmissions`));
      return;
    }
    this.armRto(now + this.tx.rtoMs);
    this.flush();
  }

  private armProbe(): void {
    if (this.probeTimer !== null) return;
    this.probeTimer = this.clock.setTimeout(() => {
      this.probeTimer = null;
      if (this.connState === 'closed') return;
      this.tx.allowProbe();
      this.flush();
    }, ZERO_WINDOW_PROBE_MS);
  }

  private armKeepalive(): void {
    this.keepaliveTimer = this.clock.setTimeout(() => {
      this.keepaliveTimer = null;
      if (this.connState === 'closed') return;
      if (this.connState === 'connected' && this.clock.now() - this.lastSendMs >= KEEPALIVE_MS) this.sendState();
      this.armKeepalive();
    }, KEEPALIVE_MS);
  }

  // ---------------------------------------------------------------- stream

  override _read(): void {
    // The reader took bytes: if the window we last advertised could stall the sender, reopen it.
    if (this.connState === 'connected' && this.lastAdvertisedWnd < 2 * this.packetBytes && this.receiveWindow > this.lastAdvertisedWnd) {
      this.scheduleAck();
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.connState === 'closed') {
      cb(new UtpError('ECONNRESET', 'utp: write after the connection closed'));
      return;
    }
    // Copied: packets are views of the queue, kept until acknowledged, while a writer may reuse
    // a chunk's memory once its callback is called (the uploader's read cache does).
    if (chunk.length > 0) this.tx.enqueue(Buffer.from(chunk));
    if (this.tx.queuedBytes < SEND_BUFFER_BYTES) cb();
    else this.heldWriteCb = cb;
    this.scheduleFlush();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.finalCb = cb;
    this.scheduleFlush();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.connState !== 'closed') {
      const clean = this.tx.finAcked && this.rx.ended;
      if (!clean && (this.connState === 'connected' || this.connState === 'syn-recv')) {
        if (err === null && this.tx.finSeq === null && this.tx.queuedBytes === 0 && this.tx.outstandingPackets === 0) {
          this.send(PacketType.fin, this.tx.takeFinalFinSeq(), EMPTY, null);
        } else {
          this.send(PacketType.reset, this.tx.nextSeq, EMPTY, null);
        }
      }
      // The ack of the peer's last packets (its FIN, often) must not die with us.
      if (this.ackPending && this.connState === 'connected') this.sendState();
      this.connState = 'closed';
      this.cancelRto();
      this.probeTimer?.cancel();
      this.probeTimer = null;
      this.keepaliveTimer?.cancel();
      this.keepaliveTimer = null;
      this.tx.clear();
      this.rx.clear();
      this.finalCb = null;
      this.onClosed?.();
    }
    const held = this.heldWriteCb;
    this.heldWriteCb = null;
    cb(err);
    // A write held for room is failed, not forgotten: Node then fails the writes queued behind it,
    // and every writer hears its callback (the uploader's read cache gets its lent blocks back).
    held?.(err ?? new UtpError('ECONNRESET', 'utp: connection destroyed with a write pending'));
  }
}

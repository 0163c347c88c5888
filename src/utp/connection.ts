/**
 * One uTP connection (BEP 29) as a Node `Duplex` of bytes: the peer connection above reads and
 * writes it as it would a TCP socket. Owns the connection's state machine, both sequence spaces,
 * the retransmission queue, the reorder buffer, the RTT estimate and (through ledbat.ts) the
 * congestion window. Knows no socket: packets leave through the injected `sendPacket` and arrive
 * through `handlePacket` (socket.ts demultiplexes them); every timer comes from the injected
 * Clock and every random number from the injected source, so a pair of connections runs over a
 * simulated link on a fake clock.
 *
 * States: syn-sent (we dialled; only the SYN is in flight) → connected when a STATE acks the SYN.
 * syn-recv (a SYN arrived; we answered with a STATE) → connected at the first packet from the
 * dialler, before which we send no data: a DATA of ours overtaking our STATE would be taken for
 * the connection's first packet with the wrong sequence number (a BitTorrent dialler always
 * speaks first, so this costs nothing). Any state → closed on destroy(), on RESET, on a timeout,
 * or when both FINs are through (the Duplex ends both sides and autoDestroy closes it: receiving
 * the peer's FIN ends our writable too, as `allowHalfOpen: false`, which sends ours).
 *
 * Sequence numbers are 16-bit and wrap (BEP 29): every comparison goes through seqDiff/seqLess.
 * - seqNr: the next number we send with; a STATE carries it without consuming it.
 * - ackedSeq: the peer has everything up to it; packets ackedSeq+1 … seqNr-1 are `outstanding`.
 * - ackNr: we have everything up to it; `reorder` holds packets ackNr+2 … ackNr+MAX_REORDER_PACKETS.
 * An ack_nr past seqNr-1 acknowledges data we never sent: the packet is dropped.
 *
 * Acks are deferred with setImmediate to the end of the current batch of datagrams, so one ack
 * covers a burst (libutp's deferred ack), and writes made in one turn are coalesced into full
 * packets with queueMicrotask. Neither is a timer: no time passes, and a fake clock is not
 * bypassed.
 *
 * Invariants:
 * - bytesInFlight = payload bytes of outstanding packets not marked for resending.
 * - outstanding.size <= MAX_OUTSTANDING_PACKETS; reorder.size <= MAX_REORDER_PACKETS.
 * - readableLength + reorderBytes <= recvBufferBytes (packets that would break it are dropped),
 *   and the window we advertise is what is left, so a reader that stops reading stops the sender.
 * - sendQueueBytes beyond SEND_BUFFER_BYTES holds back the write callback, so `write()` returns
 *   false and 'drain' follows once packets leave.
 * - A connection whose outstanding data gets no ack for MAX_CONSECUTIVE_TIMEOUTS retransmission
 *   timeouts (MAX_SYN_TIMEOUTS for the SYN) is destroyed with ETIMEDOUT; nothing else of ours
 *   waits on a peer.
 */
import { Duplex } from 'node:stream';
import { RuntimeError } from '../errors.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import {
  DEFAULT_PACKET_BYTES,
  DUPLICATE_ACK_THRESHOLD,
  INITIAL_RTO_MS,
  KEEPALIVE_MS,
  MAX_CONSECUTIVE_TIMEOUTS,
  MAX_OUTSTANDING_PACKETS,
  MAX_PACKET_BYTES,
  MAX_PEER_WINDOW_BYTES,
  MAX_REORDER_PACKETS,
  MAX_RTO_MS,
  MAX_SYN_TIMEOUTS,
  MIN_PACKET_BYTES,
  MIN_RTO_MS,
  RECV_BUFFER_BYTES,
  SACK_LOSS_THRESHOLD,
  SEND_BUFFER_BYTES,
  ZERO_WINDOW_PROBE_MS,
} from './constants.js';
import { Ledbat } from './ledbat.js';
import { encodePacket, HEADER_BYTES, MAX_SACK_BYTES, PacketType, SEQ_MASK, seqDiff, seqLess, type Packet } from './packet.js';

export type UtpState = 'syn-sent' | 'syn-recv' | 'connected' | 'closed';

/** How a uTP connection failed, spelled as the TCP socket error a peer connection already handles. */
export type UtpErrno = 'ECONNREFUSED' | 'ECONNRESET' | 'ETIMEDOUT';

export class UtpError extends RuntimeError {
  readonly errno: UtpErrno;
  constructor(errno: UtpErrno, message: string) {
    super(errno === 'ETIMEDOUT' ? 'ERR_TIMEOUT' : 'ERR_PROTOCOL', message);
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

export interface UtpStats {
  packetsSent: number;
  packetsReceived: number;
  retransmits: number;
  fastRetransmits: number;
  timeouts: number;
  duplicatePackets: number;
  droppedPackets: number;
}

interface OutPacket {
  seq: number;
  type: PacketType;
  payload: Buffer;
  sentAtMs: number;
  transmissions: number;
  needResend: boolean;
  /** Already resent once on a duplicate ack or selective ack: only the timer may resend it again. */
  fastResent: boolean;
}

/** Marks the FIN's place in the reorder buffer. */
const FIN_MARK = Buffer.alloc(0);

function random16(random: (n: number) => Buffer): number {
  return random(2).readUInt16BE(0);
}

export class UtpConnection extends Duplex {
  readonly recvId: number;
  readonly sendId: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
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
  private readonly maxPayload: number;
  private readonly recvBufferBytes: number;
  private readonly ledbat: Ledbat;
  private readonly synSeq: number;
  private connState: UtpState;

  // Send side.
  private seqNr: number;
  private ackedSeq: number;
  private readonly outstanding = new Map<number, OutPacket>();
  private bytesInFlight = 0;
  private resendCount = 0;
  private sendQueue: Buffer[] = [];
  private sendQueueHead = 0;
  private sendQueueOffset = 0;
  private sendQueueBytes = 0;
  private heldWriteCb: ((err?: Error | null) => void) | null = null;
  private finalCb: ((err?: Error | null) => void) | null = null;
  private finSeq: number | null = null;
  private finAcked = false;
  private peerWnd: number;
  private cwndFull = false;
  private dupAcks = 0;
  private lossSeq: number;
  private flushScheduled = false;

  // Receive side.
  private ackNr: number;
  private readonly reorder = new Map<number, Buffer>();
  private reorderBytes = 0;
  private peerFinSeq: number | null = null;
  private readEnded = false;
  private replyMicro = 0;
  private ackPending = false;
  private ackScheduled = false;
  private lastAdvertisedWnd = 0;

  // Timing.
  private rttMs = 0;
  private rttVarMs = 0;
  private hasRtt = false;
  private rto = INITIAL_RTO_MS;
  private consecutiveTimeouts = 0;
  private rtoTimer: TimerHandle | null = null;
  private rtoDeadline = 0;
  private probeTimer: TimerHandle | null = null;
  private probeAllowed = false;
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
    this.maxPayload = packetBytes - HEADER_BYTES;
    this.recvBufferBytes = recvBufferBytes;
    this.ledbat = new Ledbat(this.maxPayload);
    this.recvId = ids.recvId;
    this.sendId = ids.sendId;
    this.seqNr = seq.seqNr;
    this.ackedSeq = (seq.seqNr - 1) & SEQ_MASK;
    this.lossSeq = this.ackedSeq;
    this.ackNr = seq.ackNr;
    this.synSeq = seq.synSeq;
    this.connState = state;
    this.peerWnd = this.maxPayload;
    this.lastSendMs = this.clock.now();
    this.armKeepalive();
  }

  /** Dials: sends a SYN now; 'connect' follows when it is answered. `recvId` is chosen by the socket. */
  static initiate(opts: UtpConnectionOptions, recvId: number): UtpConnection {
    const seqNr = random16(opts.random);
    const c = new UtpConnection(opts, { recvId, sendId: (recvId + 1) & SEQ_MASK }, { seqNr, ackNr: 0, synSeq: seqNr }, 'syn-sent');
    c.sendSyn();
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
    c.peerWnd = Math.min(syn.wndSize, MAX_PEER_WINDOW_BYTES);
    c.stats.packetsReceived++;
    c.sendState();
    return c;
  }

  get state(): UtpState {
    return this.connState;
  }

  /** The congestion window in bytes (for tests and the bench). */
  get cwnd(): number {
    return this.ledbat.cwnd;
  }

  get rtoMs(): number {
    return this.rto;
  }

  get smoothedRttMs(): number {
    return this.rttMs;
  }

  /** The window we would advertise now: what is left of the receive buffer. */
  get receiveWindow(): number {
    return Math.max(0, this.recvBufferBytes - this.readableLength - this.reorderBytes);
  }

  /** The peer's advertised window, clamped to MAX_PEER_WINDOW_BYTES. */
  get peerWindow(): number {
    return this.peerWnd;
  }

  /** Sent and not yet acknowledged. */
  get outstandingPackets(): number {
    return this.outstanding.size;
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
      if (this.readEnded && this.finSeq !== null && this.outstanding.size === 1 && this.outstanding.has(this.finSeq)) {
        // Both FINs were sent and theirs arrived: the peer closed after taking all our data and
        // lost only the ack of our FIN. Nothing was lost; close cleanly.
        this.finAcked = true;
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
      this.ackNr = (p.seqNr - 1) & SEQ_MASK;
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
    const ahead = seqDiff(p.ackNr, this.ackedSeq);
    const span = seqDiff(this.seqNr, this.ackedSeq) - 1;
    let stale = false;
    if (ahead > span) {
      // Behind ackedSeq: a reordered old packet whose acks we have already taken.
      if (ahead >= 0x10000 - MAX_OUTSTANDING_PACKETS - MAX_REORDER_PACKETS) stale = true;
      else return false;
    }
    this.peerWnd = Math.min(p.wndSize >>> 0, MAX_PEER_WINDOW_BYTES);
    let ackedBytes = 0;
    let progressed = false;
    if (!stale && ahead > 0) {
      for (let i = 1; i <= ahead; i++) {
        const o = this.outstanding.get((this.ackedSeq + i) & SEQ_MASK);
        if (o) ackedBytes += this.ackOne(o, now);
      }
      this.ackedSeq = p.ackNr;
      if (seqLess(this.lossSeq, this.ackedSeq)) this.lossSeq = this.ackedSeq;
      progressed = true;
      this.dupAcks = 0;
    }
    if (!stale && p.sack) ackedBytes += this.processSack(p.ackNr, p.sack, now);
    if (
      !stale &&
      !progressed &&
      p.type === PacketType.state &&
      this.outstanding.size > 0 &&
      p.ackNr === this.ackedSeq &&
      ++this.dupAcks === DUPLICATE_ACK_THRESHOLD
    ) {
      const first = this.outstanding.get((this.ackedSeq + 1) & SEQ_MASK);
      if (first) this.markLost(first, now);
    }
    if (p.timestampDiffUs !== 0) this.ledbat.addDelaySample(p.timestampDiffUs, now);
    if (ackedBytes > 0) this.ledbat.onAck(ackedBytes, this.cwndFull);
    if (progressed || ackedBytes > 0) {
      this.consecutiveTimeouts = 0;
      if (this.outstanding.size > 0) this.armRto(now + this.rto);
      else this.cancelRto();
    }
    return true;
  }

  private processSack(ackNr: number, sack: Uint8Array, now: number): number {
    let ackedBytes = 0;
    const bits = sack.length * 8;
    const inFlight = seqDiff(this.seqNr, ackNr) - 1;
    // Walk from the highest bit down, counting packets known to have arrived above each hole.
    let above = 0;
    for (let i = bits - 1; i >= -1; i--) {
      const seq = (ackNr + 2 + i) & SEQ_MASK;
      const got = i >= 0 && (sack[i >> 3]! & (1 << (i & 7))) !== 0;
      if (i + 2 > inFlight) continue; // beyond what we sent: ignore the bit
      const o = this.outstanding.get(seq);
      if (got) {
        above++;
        if (o) ackedBytes += this.ackOne(o, now);
      } else if (o && above >= SACK_LOSS_THRESHOLD) {
        this.markLost(o, now);
      }
    }
    return ackedBytes;
  }

  private ackOne(o: OutPacket, now: number): number {
    this.outstanding.delete(o.seq);
    if (o.needResend) this.resendCount--;
    else this.bytesInFlight -= o.payload.length;
    if (o.transmissions === 1) this.addRttSample(now - o.sentAtMs);
    if (o.type === PacketType.fin) {
      this.finAcked = true;
      const cb = this.finalCb;
      this.finalCb = null;
      cb?.();
    }
    return o.payload.length;
  }

  private markLost(o: OutPacket, now: number): void {
    // Acks sent before the resent copy arrives still show the hole; one resend per packet.
    if (o.needResend || o.fastResent) return;
    o.fastResent = true;
    o.needResend = true;
    this.resendCount++;
    this.bytesInFlight -= o.payload.length;
    this.stats.fastRetransmits++;
    // One cut per window of loss: only packets sent after the last cut can cut again.
    if (seqLess(this.lossSeq, o.seq)) {
      if (this.ledbat.onLoss(now)) this.lossSeq = (this.seqNr - 1) & SEQ_MASK;
    }
  }

  private addRttSample(ms: number): void {
    const sample = Math.max(0, ms);
    if (!this.hasRtt) {
      this.rttMs = sample;
      this.rttVarMs = sample / 2;
      this.hasRtt = true;
    } else {
      const delta = this.rttMs - sample;
      this.rttVarMs += (Math.abs(delta) - this.rttVarMs) / 4;
      this.rttMs += (sample - this.rttMs) / 8;
    }
    this.rto = Math.min(MAX_RTO_MS, Math.max(this.rttMs + this.rttVarMs * 4, MIN_RTO_MS));
  }

  private processIncoming(p: Packet): void {
    const seq = p.seqNr;
    const d = seqDiff(seq, this.ackNr);
    if (this.readEnded || d === 0 || d >= 0x8000) {
      // Already delivered: the sender missed our ack.
      this.stats.duplicatePackets++;
      this.scheduleAck();
      return;
    }
    if (d > MAX_REORDER_PACKETS) {
      this.stats.droppedPackets++;
      return;
    }
    if (this.peerFinSeq !== null && seqLess(this.peerFinSeq, seq)) {
      this.stats.droppedPackets++;
      return;
    }
    const isFin = p.type === PacketType.fin;
    if (isFin) {
      if (this.peerFinSeq !== null && this.peerFinSeq !== seq) return;
      this.peerFinSeq = seq;
    }
    const payload = isFin ? FIN_MARK : Buffer.from(p.payload.buffer, p.payload.byteOffset, p.payload.byteLength);
    if (this.readableLength + this.reorderBytes + payload.length > this.recvBufferBytes) {
      // The sender ignored our window (or is probing it): drop, it comes again.
      this.stats.droppedPackets++;
      this.scheduleAck();
      return;
    }
    if (d === 1) {
      this.ackNr = seq;
      this.deliver(payload, isFin);
      for (;;) {
        const next = (this.ackNr + 1) & SEQ_MASK;
        const held = this.reorder.get(next);
        if (held === undefined) break;
        this.reorder.delete(next);
        this.reorderBytes -= held.length;
        this.ackNr = next;
        this.deliver(held, held === FIN_MARK);
      }
    } else if (this.reorder.has(seq)) {
      this.stats.duplicatePackets++;
    } else {
      this.reorder.set(seq, payload);
      this.reorderBytes += payload.length;
    }
    this.scheduleAck();
  }

  private deliver(payload: Buffer, isFin: boolean): void {
    if (isFin) {
      this.readEnded = true;
      this.reorder.clear();
      this.reorderBytes = 0;
      this.push(null);
    } else if (payload.length > 0) {
      this.push(payload);
    }
  }

  // ---------------------------------------------------------------- outgoing

  private nowUs(): number {
    return Math.floor(this.clock.now() * 1000) >>> 0;
  }

  private transmit(o: OutPacket): void {
    const now = this.clock.now();
    if (o.transmissions > 0) this.stats.retransmits++;
    if (o.needResend) {
      o.needResend = false;
      this.resendCount--;
    }
    o.transmissions++;
    o.sentAtMs = now;
    this.bytesInFlight += o.payload.length;
    this.send(o.type, o.seq, o.payload, null);
    if (this.rtoTimer === null) this.armRto(now + this.rto);
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
      ackNr: this.ackNr,
      sack,
      payload,
    });
    this.lastAdvertisedWnd = wnd;
    this.lastSendMs = this.clock.now();
    this.stats.packetsSent++;
    if (sack !== null || this.reorder.size === 0) this.ackPending = false;
    this.sendPacket(packet);
  }

  private sendSyn(): void {
    const o: OutPacket = { seq: this.seqNr, type: PacketType.syn, payload: Buffer.alloc(0), sentAtMs: 0, transmissions: 0, needResend: false, fastResent: false };
    this.seqNr = (this.seqNr + 1) & SEQ_MASK;
    this.outstanding.set(o.seq, o);
    this.transmit(o);
  }

  private sendState(): void {
    this.send(PacketType.state, this.seqNr, Buffer.alloc(0), this.buildSack());
  }

  private buildSack(): Uint8Array | null {
    if (this.reorder.size === 0) return null;
    let maxBit = -1;
    for (const seq of this.reorder.keys()) maxBit = Math.max(maxBit, seqDiff(seq, this.ackNr) - 2);
    if (maxBit < 0) return null;
    const bytes = Math.min(MAX_SACK_BYTES, Math.ceil((maxBit + 1) / 32) * 4);
    const mask = new Uint8Array(bytes);
    for (const seq of this.reorder.keys()) {
      const bit = seqDiff(seq, this.ackNr) - 2;
      if (bit >= 0 && bit < bytes * 8) mask[bit >> 3]! |= 1 << (bit & 7);
    }
    return mask;
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

  /** Sends what the windows allow: retransmissions first, then new data, then the FIN. */
  private flush(): void {
    if (this.connState === 'closed') return;
    if (this.connState === 'syn-sent') {
      const syn = this.outstanding.get(this.synSeq);
      if (syn?.needResend) this.transmit(syn);
      return;
    }
    if (this.connState === 'syn-recv') return;
    const window = Math.min(this.ledbat.cwnd, this.peerWnd);
    if (this.resendCount > 0) {
      for (const o of this.outstanding.values()) {
        if (!o.needResend) continue;
        // A fast retransmit goes out whatever the window (as libtorrent does): the window was
        // just cut for this very loss, and waiting for it to reopen would wait for the timer.
        const fast = o.fastResent && o.transmissions === 1;
        if (!fast && this.bytesInFlight > 0 && this.bytesInFlight + o.payload.length > window) {
          this.cwndFull = true;
          break;
        }
        this.transmit(o);
      }
    }
    while (this.resendCount === 0) {
      if (this.outstanding.size >= MAX_OUTSTANDING_PACKETS) break;
      if (this.sendQueueBytes === 0) {
        this.cwndFull = false;
        if (this.writableEnded && this.finSeq === null && this.finalCb !== null) this.queueFin();
        break;
      }
      const size = Math.min(this.maxPayload, this.sendQueueBytes);
      if (this.bytesInFlight > 0 && this.bytesInFlight + size > window) {
        this.cwndFull = this.ledbat.cwnd <= this.peerWnd;
        break;
      }
      if (this.bytesInFlight === 0 && this.peerWnd < size) {
        // Zero window: wait for its update, probing with one packet now and then.
        if (!this.probeAllowed) {
          this.armProbe();
          break;
        }
        this.probeAllowed = false;
      }
      const o: OutPacket = { seq: this.seqNr, type: PacketType.data, payload: this.takeSendBytes(size), sentAtMs: 0, transmissions: 0, needResend: false, fastResent: false };
      this.seqNr = (this.seqNr + 1) & SEQ_MASK;
      this.outstanding.set(o.seq, o);
      this.transmit(o);
    }
    this.releaseWriter();
  }

  private queueFin(): void {
    const o: OutPacket = { seq: this.seqNr, type: PacketType.fin, payload: Buffer.alloc(0), sentAtMs: 0, transmissions: 0, needResend: false, fastResent: false };
    this.finSeq = o.seq;
    this.seqNr = (this.seqNr + 1) & SEQ_MASK;
    this.outstanding.set(o.seq, o);
    this.transmit(o);
  }

  /** Takes `n` bytes from the head of the send queue; copies only when they span writes. */
  private takeSendBytes(n: number): Buffer {
    this.sendQueueBytes -= n;
    const head = this.sendQueue[this.sendQueueHead]!;
    if (head.length - this.sendQueueOffset >= n) {
      const out = head.subarray(this.sendQueueOffset, this.sendQueueOffset + n);
      this.sendQueueOffset += n;
      if (this.sendQueueOffset === head.length) this.advanceSendQueue();
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.sendQueue[this.sendQueueHead]!;
      const take = Math.min(n - filled, chunk.length - this.sendQueueOffset);
      chunk.copy(out, filled, this.sendQueueOffset, this.sendQueueOffset + take);
      filled += take;
      this.sendQueueOffset += take;
      if (this.sendQueueOffset === chunk.length) this.advanceSendQueue();
    }
    return out;
  }

  private advanceSendQueue(): void {
    this.sendQueueHead++;
    this.sendQueueOffset = 0;
    if (this.sendQueueHead === this.sendQueue.length) {
      this.sendQueue = [];
      this.sendQueueHead = 0;
    } else if (this.sendQueueHead >= 64) {
      this.sendQueue = this.sendQueue.slice(this.sendQueueHead);
      this.sendQueueHead = 0;
    }
  }

  private releaseWriter(): void {
    if (this.heldWriteCb !== null && this.sendQueueBytes < SEND_BUFFER_BYTES) {
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
    if (this.connState === 'closed' || this.outstanding.size === 0) return;
    const now = this.clock.now();
    if (now < this.rtoDeadline) {
      // Acks moved the deadline since this timer was set (timers are re-armed lazily).
      this.armRto(this.rtoDeadline);
      return;
    }
    this.stats.timeouts++;
    this.consecutiveTimeouts++;
    const limit = this.connState === 'syn-sent' ? MAX_SYN_TIMEOUTS : MAX_CONSECUTIVE_TIMEOUTS;
    if (this.consecutiveTimeouts >= limit) {
      this.destroy(new UtpError('ETIMEDOUT', `utp: ${this.remoteAddress}:${this.remotePort} did not answer ${this.consecutiveTimeouts} retransmissions`));
      return;
    }
    this.rto = Math.min(this.rto * 2, MAX_RTO_MS);
    this.ledbat.onTimeout(now);
    for (const o of this.outstanding.values()) {
      if (o.needResend) continue;
      o.needResend = true;
      this.resendCount++;
      this.bytesInFlight -= o.payload.length;
    }
    this.lossSeq = (this.seqNr - 1) & SEQ_MASK;
    this.dupAcks = 0;
    this.armRto(now + this.rto);
    this.flush();
  }

  private armProbe(): void {
    if (this.probeTimer !== null) return;
    this.probeTimer = this.clock.setTimeout(() => {
      this.probeTimer = null;
      if (this.connState === 'closed') return;
      this.probeAllowed = true;
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
    if (chunk.length > 0) {
      // Copied: packets are views of the queue, kept until acknowledged, while a writer may reuse
      // a chunk's memory once its callback is called (the uploader's read cache does).
      this.sendQueue.push(Buffer.from(chunk));
      this.sendQueueBytes += chunk.length;
    }
    if (this.sendQueueBytes < SEND_BUFFER_BYTES) cb();
    else this.heldWriteCb = cb;
    this.scheduleFlush();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.finalCb = cb;
    this.scheduleFlush();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.connState !== 'closed') {
      const clean = this.finAcked && this.readEnded;
      if (!clean && (this.connState === 'connected' || this.connState === 'syn-recv')) {
        if (err === null && this.finSeq === null && this.sendQueueBytes === 0 && this.outstanding.size === 0) {
          this.finSeq = this.seqNr;
          this.send(PacketType.fin, this.seqNr, Buffer.alloc(0), null);
          this.seqNr = (this.seqNr + 1) & SEQ_MASK;
        } else {
          this.send(PacketType.reset, this.seqNr, Buffer.alloc(0), null);
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
      this.outstanding.clear();
      this.reorder.clear();
      this.reorderBytes = 0;
      this.sendQueue = [];
      this.sendQueueBytes = 0;
      this.heldWriteCb = null;
      this.finalCb = null;
      this.onClosed?.();
    }
    cb(err);
  }
}

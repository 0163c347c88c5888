/**
 * The send side of one uTP connection (BEP 29) as a pure data structure: our sequence space, the
 * bytes written and not yet packetised, the packets sent and not yet acknowledged, the RTT
 * estimate and retransmission timeout, and (through ledbat.ts) the congestion window. It decides
 * which packet goes next and what an ack or a timeout changes; connection.ts encodes the packets,
 * owns the timers and the stream. No socket, no clock: every call that needs the time is given
 * `nowMs`.
 *
 * Sequence numbers are 16-bit and wrap: every comparison goes through seqDiff/seqLess.
 * - seqNr: the next number we send with; a STATE carries it without consuming it.
 * - ackedSeq: the peer has everything up to it; packets ackedSeq+1 … seqNr-1 are `outstanding`,
 *   which holds them in that order (a Map iterates in insertion order, and numbers are handed out
 *   in increasing order).
 *
 * Invariants:
 * - bytesInFlight = payload bytes of outstanding packets not marked for resending;
 *   resendCount = outstanding packets marked for resending.
 * - outstanding.size <= MAX_OUTSTANDING_PACKETS.
 * - An ack_nr past seqNr-1 acknowledges data we never sent: `onAck` says so and changes nothing.
 * - A sending round is a run of `next` calls until it returns null; between rounds no resend scan
 *   is in progress (`resendScan` is null).
 */
import {
  DUPLICATE_ACK_THRESHOLD,
  INITIAL_RTO_MS,
  MAX_OUTSTANDING_PACKETS,
  MAX_PEER_WINDOW_BYTES,
  MAX_REORDER_PACKETS,
  MAX_RTO_MS,
  MIN_RTO_MS,
  SACK_LOSS_THRESHOLD,
} from './constants.js';
import { Ledbat } from './ledbat.js';
import { PacketType, SEQ_MASK, seqDiff, seqLess, type Packet } from './packet.js';

/** One packet of ours that takes a sequence number: SYN, DATA or FIN. */
export interface OutPacket {
  seq: number;
  type: PacketType;
  payload: Buffer;
  sentAtMs: number;
  transmissions: number;
  needResend: boolean;
  /** Already resent once on a duplicate ack or selective ack: only the timer may resend it again. */
  fastResent: boolean;
}

/** The counters this side keeps (connection.ts UtpStats holds them with the others). */
export interface SendStats {
  retransmits: number;
  fastRetransmits: number;
  timeouts: number;
}

/** What an incoming packet's ack fields did (`SendWindow.onAck`). */
export const AckOutcome = {
  /** It acknowledges data we never sent: the whole packet is to be ignored. */
  invalid: 0,
  /** Nothing newly acknowledged: the retransmission timer runs on. */
  none: 1,
  /** Data newly acknowledged: the retransmission timer restarts (or stops, nothing being out). */
  progress: 2,
} as const;
export type AckOutcome = (typeof AckOutcome)[keyof typeof AckOutcome];

/** The payload of SYN and FIN: only its length is read, and encodePacket copies it. */
const EMPTY = Buffer.alloc(0);

export class SendWindow {
  private readonly maxPayload: number;
  private readonly stats: SendStats;
  private readonly ledbat: Ledbat;

  private seqNr: number;
  private ackedSeq: number;
  private readonly outstanding = new Map<number, OutPacket>();
  private bytesInFlight = 0;
  private resendCount = 0;
  /** The walk of `outstanding` for packets to resend, while a round of `next` calls is in progress. */
  private resendScan: IterableIterator<OutPacket> | null = null;

  // Bytes written and not yet packetised: `sendQueue` from `sendQueueHead`, the head's first
  // `sendQueueOffset` bytes already taken.
  private sendQueue: Buffer[] = [];
  private sendQueueHead = 0;
  private sendQueueOffset = 0;
  private sendQueueBytes = 0;

  private finSeqNr: number | null = null;
  private finWasAcked = false;
  private peerWnd: number;
  /** The flight filled the window when the last round ended (LEDBAT may grow it only then). */
  private cwndFull = false;
  private dupAcks = 0;
  /** Losses of packets up to this one were answered by the last window cut. */
  private lossSeq: number;
  private probeAllowed = false;
  private probeWanted = false;

  private rttMs = 0;
  private rttVarMs = 0;
  private hasRtt = false;
  private rto = INITIAL_RTO_MS;
  private timeoutsInARow = 0;

  /** `maxPayload`: payload bytes per packet (the packet size less the header). */
  constructor(maxPayload: number, firstSeq: number, stats: SendStats) {
    this.maxPayload = maxPayload;
    this.stats = stats;
    this.ledbat = new Ledbat(maxPayload);
    this.seqNr = firstSeq;
    this.ackedSeq = (firstSeq - 1) & SEQ_MASK;
    this.lossSeq = this.ackedSeq;
    this.peerWnd = maxPayload;
  }

  /** The number the next packet will carry (a STATE carries it without taking it). */
  get nextSeq(): number {
    return this.seqNr;
  }

  get cwnd(): number {
    return this.ledbat.cwnd;
  }

  /** The peer's advertised window, clamped to MAX_PEER_WINDOW_BYTES. */
  get peerWindow(): number {
    return this.peerWnd;
  }

  get rtoMs(): number {
    return this.rto;
  }

  get smoothedRttMs(): number {
    return this.rttMs;
  }

  /** Retransmission timeouts since data was last acknowledged. */
  get consecutiveTimeouts(): number {
    return this.timeoutsInARow;
  }

  /** Sent and not yet acknowledged. */
  get outstandingPackets(): number {
    return this.outstanding.size;
  }

  /** Written and not yet sent. */
  get queuedBytes(): number {
    return this.sendQueueBytes;
  }

  /** The FIN's sequence number once we sent one. */
  get finSeq(): number | null {
    return this.finSeqNr;
  }

  get finAcked(): boolean {
    return this.finWasAcked;
  }

  /** Our FIN is the only packet not yet acknowledged. */
  get onlyFinOutstanding(): boolean {
    return this.finSeqNr !== null && this.outstanding.size === 1 && this.outstanding.has(this.finSeqNr);
  }

  /** The last round ended on a peer window smaller than a packet, with nothing in flight to reopen it. */
  get zeroWindow(): boolean {
    return this.probeWanted;
  }

  /** Queues bytes to send. The buffer is kept (packets are views of it) until acknowledged. */
  enqueue(chunk: Buffer): void {
    this.sendQueue.push(chunk);
    this.sendQueueBytes += chunk.length;
  }

  /** The window a SYN advertised (clamped as every advertised window is). */
  setPeerWindow(wndSize: number): void {
    this.peerWnd = Math.min(wndSize, MAX_PEER_WINDOW_BYTES);
  }

  /** The zero-window probe timer fired: the next round may send one packet whatever the window. */
  allowProbe(): void {
    this.probeAllowed = true;
  }

  /** Takes our FIN as acknowledged without its ack (the peer closed having taken all our data). */
  markFinAcked(): void {
    this.finWasAcked = true;
  }

  /** The SYN that opens a dialled connection, sent at `nowMs`. */
  openSyn(nowMs: number): OutPacket {
    return this.sent(this.newPacket(PacketType.syn, EMPTY), nowMs);
  }

  /** The SYN again, sent at `nowMs`, if the timer marked it for resending (else null). */
  resendSyn(synSeq: number, nowMs: number): OutPacket | null {
    const syn = this.outstanding.get(synSeq);
    return syn?.needResend ? this.sent(syn, nowMs) : null;
  }

  /**
   * A FIN that is never retransmitted (a connection closing with nothing outstanding sends one on
   * its way out): takes its sequence number and returns it.
   */
  takeFinalFinSeq(): number {
    const seq = this.seqNr;
    this.finSeqNr = seq;
    this.seqNr = (seq + 1) & SEQ_MASK;
    return seq;
  }

  /**
   * The next packet the windows let go, marked sent at `nowMs`, or null when nothing may go now.
   * Retransmissions come first, then new data, then (`finWanted`: the writer ended) the FIN. Call
   * it until it returns null: that ends the round.
   */
  next(nowMs: number, finWanted: boolean): OutPacket | null {
    this.probeWanted = false;
    const window = Math.min(this.ledbat.cwnd, this.peerWnd);
    if (this.resendCount > 0) {
      // One walk per round through the packets in order, as one loop over them would.
      this.resendScan ??= this.outstanding.values();
      for (let it = this.resendScan.next(); !it.done; it = this.resendScan.next()) {
        const o = it.value;
        if (!o.needResend) continue;
        // A fast retransmit goes out whatever the window (as libtorrent does): the window was
        // just cut for this very loss, and waiting for it to reopen would wait for the timer.
        const fast = o.fastResent && o.transmissions === 1;
        if (!fast && this.bytesInFlight > 0 && this.bytesInFlight + o.payload.length > window) {
          this.cwndFull = true;
          return this.endRound();
        }
        return this.sent(o, nowMs);
      }
      this.resendScan = null;
      if (this.resendCount > 0) return this.endRound();
    }
    if (this.outstanding.size >= MAX_OUTSTANDING_PACKETS) return this.endRound();
    if (this.sendQueueBytes === 0) {
      this.cwndFull = false;
      if (finWanted && this.finSeqNr === null) {
        const fin = this.newPacket(PacketType.fin, EMPTY);
        this.finSeqNr = fin.seq;
        return this.sent(fin, nowMs);
      }
      return this.endRound();
    }
    const size = Math.min(this.maxPayload, this.sendQueueBytes);
    if (this.bytesInFlight > 0 && this.bytesInFlight + size > window) {
      this.cwndFull = this.ledbat.cwnd <= this.peerWnd;
      return this.endRound();
    }
    if (this.bytesInFlight === 0 && this.peerWnd < size) {
      // Zero window: wait for its update, probing with one packet now and then.
      if (!this.probeAllowed) {
        this.probeWanted = true;
        return this.endRound();
      }
      this.probeAllowed = false;
    }
    return this.sent(this.newPacket(PacketType.data, this.takeSendBytes(size)), nowMs);
  }

  /**
   * The ack fields of an incoming packet (ack_nr, selective ack, window, delay sample). Our FIN
   * being acknowledged shows in `finAcked`.
   */
  onAck(p: Packet, nowMs: number): AckOutcome {
    const ahead = seqDiff(p.ackNr, this.ackedSeq);
    const span = seqDiff(this.seqNr, this.ackedSeq) - 1;
    let stale = false;
    if (ahead > span) {
      // Behind ackedSeq: a reordered old packet whose acks we have already taken.
      if (ahead >= 0x10000 - MAX_OUTSTANDING_PACKETS - MAX_REORDER_PACKETS) stale = true;
      else return AckOutcome.invalid;
    }
    this.peerWnd = Math.min(p.wndSize >>> 0, MAX_PEER_WINDOW_BYTES);
    let ackedBytes = 0;
    let progressed = false;
    if (!stale && ahead > 0) {
      for (let i = 1; i <= ahead; i++) {
        const o = this.outstanding.get((this.ackedSeq + i) & SEQ_MASK);
        if (o) ackedBytes += this.ackOne(o, nowMs);
      }
      this.ackedSeq = p.ackNr;
      if (seqLess(this.lossSeq, this.ackedSeq)) this.lossSeq = this.ackedSeq;
      progressed = true;
      this.dupAcks = 0;
    }
    if (!stale && p.sack) ackedBytes += this.processSack(p.ackNr, p.sack, nowMs);
    if (
      !stale &&
      !progressed &&
      p.type === PacketType.state &&
      this.outstanding.size > 0 &&
      p.ackNr === this.ackedSeq &&
      ++this.dupAcks === DUPLICATE_ACK_THRESHOLD
    ) {
      const first = this.outstanding.get((this.ackedSeq + 1) & SEQ_MASK);
      if (first) this.markLost(first, nowMs);
    }
    if (p.timestampDiffUs !== 0) this.ledbat.addDelaySample(p.timestampDiffUs, nowMs);
    if (ackedBytes > 0) this.ledbat.onAck(ackedBytes, this.cwndFull);
    if (progressed || ackedBytes > 0) {
      this.timeoutsInARow = 0;
      return AckOutcome.progress;
    }
    return AckOutcome.none;
  }

  /**
   * The retransmission timer expired with packets outstanding. Returns false when this makes
   * `limit` timeouts in a row (the peer is gone); otherwise the timeout doubles, the window drops
   * to one packet, and every outstanding packet is marked for resending.
   */
  onTimeout(nowMs: number, limit: number): boolean {
    this.stats.timeouts++;
    this.timeoutsInARow++;
    if (this.timeoutsInARow >= limit) return false;
    this.rto = Math.min(this.rto * 2, MAX_RTO_MS);
    this.ledbat.onTimeout(nowMs);
    for (const o of this.outstanding.values()) {
      if (o.needResend) continue;
      o.needResend = true;
      this.resendCount++;
      this.bytesInFlight -= o.payload.length;
    }
    this.lossSeq = (this.seqNr - 1) & SEQ_MASK;
    this.dupAcks = 0;
    return true;
  }

  /** Forgets every packet and queued byte (the connection closed). */
  clear(): void {
    this.outstanding.clear();
    this.resendScan = null;
    this.bytesInFlight = 0;
    this.resendCount = 0;
    this.sendQueue = [];
    this.sendQueueHead = 0;
    this.sendQueueOffset = 0;
    this.sendQueueBytes = 0;
  }

  private newPacket(type: PacketType, payload: Buffer): OutPacket {
    const o: OutPacket = { seq: this.seqNr, type, payload, sentAtMs: 0, transmissions: 0, needResend: false, fastResent: false };
    this.seqNr = (this.seqNr + 1) & SEQ_MASK;
    this.outstanding.set(o.seq, o);
    return o;
  }

  private sent(o: OutPacket, nowMs: number): OutPacket {
    if (o.transmissions > 0) this.stats.retransmits++;
    if (o.needResend) {
      o.needResend = false;
      this.resendCount--;
    }
    o.transmissions++;
    o.sentAtMs = nowMs;
    this.bytesInFlight += o.payload.length;
    return o;
  }

  private endRound(): null {
    this.resendScan = null;
    return null;
  }

  private processSack(ackNr: number, sack: Uint8Array, nowMs: number): number {
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
        if (o) ackedBytes += this.ackOne(o, nowMs);
      } else if (o && above >= SACK_LOSS_THRESHOLD) {
        this.markLost(o, nowMs);
      }
    }
    return ackedBytes;
  }

  private ackOne(o: OutPacket, nowMs: number): number {
    this.outstanding.delete(o.seq);
    if (o.needResend) this.resendCount--;
    else this.bytesInFlight -= o.payload.length;
    if (o.transmissions === 1) this.addRttSample(nowMs - o.sentAtMs);
    if (o.type === PacketType.fin) this.finWasAcked = true;
    return o.payload.length;
  }

  private markLost(o: OutPacket, nowMs: number): void {
    // Acks sent before the resent copy arrives still show the hole; one resend per packet.
    if (o.needResend || o.fastResent) return;
    o.fastResent = true;
    o.needResend = true;
    this.resendCount++;
    this.bytesInFlight -= o.payload.length;
    this.stats.fastRetransmits++;
    // One cut per window of loss: only packets sent after the last cut can cut again.
    if (seqLess(this.lossSeq, o.seq)) {
      if (this.ledbat.onLoss(nowMs)) this.lossSeq = (this.seqNr - 1) & SEQ_MASK;
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
}

/**
 * LEDBAT congestion control (BEP 29 "congestion control", RFC 6817) for one uTP connection, as a
 * pure data structure: the connection reports acks, delay samples, losses and timeouts; this
 * module answers with the congestion window in bytes. No clock of its own: every call carries
 * `nowMs`.
 *
 * Model:
 * - A delay sample is the `timestamp_difference_microseconds` the peer echoes back: its clock
 *   minus ours, plus the one-way delay. The clocks' offset is unknown but constant, so the
 *   smallest sample seen lately (the base delay) stands for "no queue", and a sample minus the
 *   base is the queuing delay our traffic causes. Samples are 32-bit and wrap, so they are
 *   compared with wrapping arithmetic (as libutp and libtorrent do).
 * - The base delay is the minimum over `BASE_HISTORY_MINUTES` one-minute buckets (RFC 6817 §4.3,
 *   BASE_HISTORY = 10), so a route change or clock drift ages out within minutes.
 * - The current delay is the minimum of the last `CURRENT_FILTER` samples (RFC 6817 FILTER),
 *   which discards a single delayed ack.
 * - Per ack: cwnd += MAX_GAIN_BYTES_PER_RTT * off_target * acked / cwnd, where off_target =
 *   (TARGET - queuing delay) / TARGET, so the window grows by at most MAX_GAIN_BYTES_PER_RTT
 *   per round trip when the queue is empty and shrinks as fast when the queue is twice the target
 *   (BEP 29 pseudo-code, libutp's `MAX_CWND_INCREASE_BYTES_PER_RTT`).
 * - Slow start (as libtorrent does, allowed by RFC 6817 §2.4.1): the window grows by the bytes
 *   acked while the queuing delay is under target and the window under `ssthresh`; the first loss
 *   or delay over target ends it.
 * - Loss halves the window, at most once per `MIN_LOSS_INTERVAL_MS` (bursts of loss are one
 *   congestion event); a retransmission timeout drops it to one packet and restarts slow start.
 * - The window grows only while it limits the sender (RFC 6817 §2.4.1: "cwnd MUST NOT increase"
 *   past what the flight uses), so an idle or application-limited connection keeps its window.
 *
 * Invariant: MIN_CWND_PACKETS * packetBytes <= cwnd <= MAX_CWND_BYTES.
 */
import { u32Less } from './packet.js';

/** BEP 29 / RFC 6817 target queuing delay: 100 ms, in µs. */
export const TARGET_DELAY_US = 100_000;
/** libutp's MAX_CWND_INCREASE_BYTES_PER_RTT: the most the window grows per round trip. */
export const MAX_GAIN_BYTES_PER_RTT = 3000;
/** RFC 6817 BASE_HISTORY: minutes of minima the base delay is taken from. */
export const BASE_HISTORY_MINUTES = 10;
export const BASE_BUCKET_MS = 60_000;
/** RFC 6817 FILTER: samples the current delay is the minimum of. */
export const CURRENT_FILTER = 4;
/** RFC 6817 INIT_CWND. */
export const INIT_CWND_PACKETS = 2;
/** The window never drops below one packet, or nothing could be sent to learn it may grow. */
export const MIN_CWND_PACKETS = 1;
/**
 * Upper bound on the window: 8 MiB is 80 MB/s at 100 ms RTT, beyond any home link; it keeps a
 * sender's memory bounded whatever the peer advertises.
 */
export const MAX_CWND_BYTES = 8 * 1024 * 1024;
/** libtorrent's cwnd_reduce_timer: loss within this much of the last cut is the same event. */
export const MIN_LOSS_INTERVAL_MS = 100;
/** A queuing delay above this is a clock jump, not a queue; such samples are ignored. */
export const MAX_PLAUSIBLE_QUEUE_US = 10_000_000;

export class Ledbat {
  readonly packetBytes: number;
  private cwndBytes: number;
  private ssthreshBytes = MAX_CWND_BYTES;
  private slowStart = true;
  /** Minimum sample per bucket, newest last; `bucketStartMs` is when the newest began. */
  private baseBuckets: number[] = [];
  private bucketStartMs = 0;
  private current: number[] = [];
  private lastCutMs = -Infinity;
  private lastQueuingUs = 0;

  constructor(packetBytes: number) {
    if (!Number.isInteger(packetBytes) || packetBytes <= 0) throw new RangeError(`packetBytes ${packetBytes}`);
    this.packetBytes = packetBytes;
    this.cwndBytes = INIT_CWND_PACKETS * packetBytes;
  }

  get cwnd(): number {
    return this.cwndBytes;
  }

  get inSlowStart(): boolean {
    return this.slowStart;
  }

  /** Latest queuing-delay estimate in µs (0 until samples arrive). */
  get queuingDelayUs(): number {
    return this.lastQueuingUs;
  }

  /** Base delay (µs, wrapping) or null before the first sample. */
  get baseDelayUs(): number | null {
    let base: number | null = null;
    for (const b of this.baseBuckets) if (base === null || u32Less(b, base)) base = b;
    return base;
  }

  /** Records one delay sample (the peer's timestamp_difference_microseconds). */
  addDelaySample(sampleUs: number, nowMs: number): void {
    const s = sampleUs >>> 0;
    if (this.baseBuckets.length === 0) {
      this.baseBuckets.push(s);
      this.bucketStartMs = nowMs;
    } else {
      while (nowMs - this.bucketStartMs >= BASE_BUCKET_MS) {
        this.baseBuckets.push(s);
        if (this.baseBuckets.length > BASE_HISTORY_MINUTES) this.baseBuckets.shift();
        this.bucketStartMs += BASE_BUCKET_MS;
        // A connection idle for hours needs one new bucket, not hundreds.
        if (nowMs - this.bucketStartMs >= BASE_BUCKET_MS * BASE_HISTORY_MINUTES) this.bucketStartMs = nowMs;
      }
      const last = this.baseBuckets.length - 1;
      if (u32Less(s, this.baseBuckets[last]!)) this.baseBuckets[last] = s;
    }
    this.current.push(s);
    if (this.current.length > CURRENT_FILTER) this.current.shift();
  }

  private queuingDelay(): number | null {
    const base = this.baseDelayUs;
    if (base === null || this.current.length === 0) return null;
    let cur = this.current[0]!;
    for (const c of this.current) if (u32Less(c, cur)) cur = c;
    const q = (cur - base) >>> 0;
    if (q > MAX_PLAUSIBLE_QUEUE_US) return null;
    return q;
  }

  /**
   * `ackedBytes` newly acknowledged; `windowLimited` = the flight filled the window when these
   * were sent (only then may it grow).
   */
  onAck(ackedBytes: number, windowLimited: boolean): void {
    if (ackedBytes <= 0) return;
    const q = this.queuingDelay();
    const queuing = q ?? 0;
    this.lastQueuingUs = queuing;
    const offTarget = (TARGET_DELAY_US - queuing) / TARGET_DELAY_US;
    if (this.slowStart) {
      if (offTarget < 0) {
        this.slowStart = false;
        this.ssthreshBytes = this.cwndBytes;
      } else if (windowLimited) {
        this.cwndBytes += ackedBytes;
        if (this.cwndBytes >= this.ssthreshBytes) this.slowStart = false;
        this.clamp();
        return;
      } else {
        return;
      }
    }
    const gain = (MAX_GAIN_BYTES_PER_RTT * offTarget * Math.min(ackedBytes, this.cwndBytes)) / this.cwndBytes;
    if (gain > 0 && !windowLimited) return;
    this.cwndBytes += gain;
    this.clamp();
  }

  /** A packet was lost (fast retransmit or selective ack). Returns whether the window was cut. */
  onLoss(nowMs: number): boolean {
    if (nowMs - this.lastCutMs < MIN_LOSS_INTERVAL_MS) return false;
    this.lastCutMs = nowMs;
    this.cwndBytes = this.cwndBytes / 2;
    this.clamp();
    this.ssthreshBytes = this.cwndBytes;
    this.slowStart = false;
    return true;
  }

  /** The retransmission timer fired: nothing got through for a whole RTO. */
  onTimeout(nowMs: number): void {
    this.ssthreshBytes = Math.max(this.cwndBytes / 2, MIN_CWND_PACKETS * this.packetBytes);
    this.cwndBytes = MIN_CWND_PACKETS * this.packetBytes;
    this.slowStart = true;
    this.lastCutMs = nowMs;
  }

  private clamp(): void {
    const min = MIN_CWND_PACKETS * this.packetBytes;
    if (this.cwndBytes < min) this.cwndBytes = min;
    if (this.cwndBytes > MAX_CWND_BYTES) this.cwndBytes = MAX_CWND_BYTES;
  }
}

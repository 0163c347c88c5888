/**
 * Transfer rate over a sliding window of one-second buckets. The clock is passed in (ms), so
 * tests control time.
 */
/** Shortest span `rateSince` divides by. */
const MIN_SPAN_MS = 250;

export class RateMeter {
  private readonly buckets: Float64Array;
  private lastSecond = -1;
  total = 0;

  constructor(private readonly windowSeconds = 5) {
    this.buckets = new Float64Array(windowSeconds);
  }

  add(bytes: number, nowMs: number): void {
    this.advance(nowMs);
    this.buckets[this.lastSecond % this.windowSeconds]! += bytes;
    this.total += bytes;
  }

  /** Bytes per second over the window (the current, partial second included). */
  rate(nowMs: number): number {
    this.advance(nowMs);
    let sum = 0;
    for (const b of this.buckets) sum += b;
    return sum / this.windowSeconds;
  }

  /**
   * Bytes per second over the last `seconds` buckets (the current, partial one included; at most
   * the window), counting only the time after `sinceMs` (when counting began): a young meter's
   * window is mostly empty seconds, which `rate` averages in. Spans under MIN_SPAN_MS count as
   * that long, so the first bytes cannot claim an absurd rate.
   */
  rateSince(nowMs: number, sinceMs: number, seconds = this.windowSeconds): number {
    this.advance(nowMs);
    const n = Math.max(1, Math.min(seconds, this.windowSeconds));
    let sum = 0;
    for (let i = 0; i < n; i++) sum += this.buckets[(this.lastSecond - i + this.windowSeconds * 2) % this.windowSeconds]!;
    const windowStart = (Math.floor(nowMs / 1000) - (n - 1)) * 1000;
    const span = nowMs - Math.max(windowStart, sinceMs);
    return (sum * 1000) / Math.max(span, MIN_SPAN_MS);
  }

  private advance(nowMs: number): void {
    const second = Math.floor(nowMs / 1000);
    if (this.lastSecond < 0) this.lastSecond = second;
    const steps = Math.min(second - this.lastSecond, this.windowSeconds);
    for (let i = 1; i <= steps; i++) this.buckets[(this.lastSecond + i) % this.windowSeconds] = 0;
    if (second > this.lastSecond) this.lastSecond = second;
  }
}

/** Counts events in the current second of a clock; `allow` says whether one more stays within `perSecond`. */
export class PerSecond {
  private start = -Infinity;
  private count = 0;

  allow(now: number, perSecond: number): boolean {
    if (now - this.start >= 1000) {
      this.start = now;
      this.count = 0;
    }
    return ++this.count <= perSecond;
  }
}

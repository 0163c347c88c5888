/**
 * A token bucket for rate limits: `rate` bytes a second, bursts of at most `capacity`. The clock
 * is passed in. take() either spends the tokens or says how long to wait for them.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly capacity: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.last = now;
  }

  /** Spends `n` tokens and returns 0, or returns the ms to wait before they are there. */
  take(n: number, now: number): number {
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    if (this.tokens >= n) {
      this.tokens -= n;
      return 0;
    }
    return Math.ceil(((n - this.tokens) * 1000) / this.rate);
  }
}

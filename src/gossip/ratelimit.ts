/**
 * Per-sender token buckets: `rate` datagrams per second with bursts of up to `burstSeconds` seconds'
 * worth. Pure: time comes in as a parameter (milliseconds, monotonic).
 *
 * @module
 */

/** Options of {@linkcode RateLimiter}. */
export interface RateLimiterOptions {
  /** Sustained datagrams per second per sender (gossip.rateLimit). */
  rate: number;
  /** Bucket size in seconds of `rate` (default 2). */
  burstSeconds?: number;
  /** Most buckets kept; the least recently used is dropped beyond it (default 4096). */
  maxSenders?: number;
}

interface Bucket {
  tokens: number;
  last: number;
}

/** A token bucket per sender id. */
export class RateLimiter {
  readonly rate: number;
  readonly burst: number;
  #max: number;
  #buckets = new Map<string, Bucket>();

  constructor(options: RateLimiterOptions) {
    if (!(options.rate > 0)) throw new Error(`Bug: rate ${options.rate} must be positive`);
    this.rate = options.rate;
    this.burst = Math.max(1, options.rate * (options.burstSeconds ?? 2));
    this.#max = options.maxSenders ?? 4096;
  }

  /**
   * Takes `tokens` from `id` (the balance may go negative, down to minus one burst): a sender that
   * sent something expensive and bad waits longer before it is heard again.
   */
  penalize(id: string, tokens: number): void {
    const b = this.#buckets.get(id);
    if (b) b.tokens = Math.max(-this.burst, b.tokens - tokens);
  }

  /** Takes one token for `id` at time `now`; false when the sender is over its rate. */
  take(id: string, now: number): boolean {
    let b = this.#buckets.get(id);
    if (!b) {
      if (this.#buckets.size >= this.#max) this.#buckets.delete(this.#buckets.keys().next().value!);
      b = { tokens: this.burst, last: now };
      this.#buckets.set(id, b);
    } else if (now > b.last) {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.last) * this.rate) / 1000);
      b.last = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}

/** A rate: `burst` requests at once, refilled one every `periodSeconds / burst` seconds (the original's N/S). */
export interface Rate {
  readonly burst: number;
  readonly periodSeconds: number;
}

/**
 * Token buckets per key with a bounded number of keys: callers only create keys for triggers that exist,
 * and beyond `maxKeys` the least recently used bucket is dropped (a dropped bucket is as good as full).
 */
export class RateLimiter {
  readonly #rate: Rate;
  readonly #now: () => number;
  readonly #maxKeys: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(rate: Rate, options: { now?: () => number; maxKeys?: number } = {}) {
    this.#rate = rate;
    this.#now = options.now ?? Date.now;
    this.#maxKeys = options.maxKeys ?? 10_000;
  }

  /** Takes one token: undefined when allowed, else the whole seconds to wait. */
  take(key: string): number | undefined {
    const now = this.#now();
    const perMs = this.#rate.burst / (this.#rate.periodSeconds * 1000);
    const bucket = this.#buckets.get(key) ?? { tokens: this.#rate.burst, at: now };
    this.#buckets.delete(key); // re-inserted below: Map order is recency
    const tokens = Math.min(this.#rate.burst, bucket.tokens + (now - bucket.at) * perMs);
    if (tokens >= 1) {
      this.#buckets.set(key, { tokens: tokens - 1, at: now });
      this.#evict();
      return undefined;
    }
    this.#buckets.set(key, { tokens, at: now });
    this.#evict();
    return Math.ceil((1 - tokens) / perMs / 1000);
  }

  get size(): number {
    return this.#buckets.size;
  }

  #evict(): void {
    while (this.#buckets.size > this.#maxKeys) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest === undefined) break;
      this.#buckets.delete(oldest);
    }
  }
}

/**
 * Jobs this replica created for triggers with concurrencyPolicy Forbid or Replace, until the Job cache
 * has them. Those policies decide from the cache, and a check that follows another at once (a burst of
 * webhooks) would otherwise not see the Job created a moment before, whose watch event is still on its
 * way, and start a second one. Bounded: a few names per trigger and source, each forgotten once the cache
 * has it or after `ttlMs`.
 */
export class RecentJobs {
  readonly #byKey = new Map<string, { name: string; at: number }[]>();
  readonly #ttlMs: number;
  readonly #now: () => number;
  #prunedAt = Number.NEGATIVE_INFINITY;

  constructor(options: { ttlMs?: number; now?: () => number } = {}) {
    this.#ttlMs = options.ttlMs ?? 5_000;
    this.#now = options.now ?? Date.now;
  }

  /** A Job created for the trigger (by uid) and source. */
  add(triggerUid: string, source: string, name: string): void {
    this.#prune();
    const key = `${triggerUid}/${source}`;
    const list = (this.#byKey.get(key) ?? []).filter((e) => e.name !== name);
    list.push({ name, at: this.#now() });
    // One Job at a time is the point of these policies: a few names cover the checks in flight.
    this.#byKey.set(key, list.slice(-8));
  }

  /**
   * Names created for the trigger and source that the cache does not have yet (`cached` tells), taken
   * as active; those it has are forgotten, the cache's word on them is the one that counts.
   */
  unseen(triggerUid: string, source: string, cached: (name: string) => boolean): string[] {
    this.#prune();
    const key = `${triggerUid}/${source}`;
    const list = this.#byKey.get(key);
    if (list === undefined) return [];
    const oldest = this.#now() - this.#ttlMs;
    const left = list.filter((e) => e.at >= oldest && !cached(e.name));
    if (left.length === 0) this.#byKey.delete(key);
    else this.#byKey.set(key, left);
    return left.map((e) => e.name);
  }

  /** Entries kept (for tests and bounds). */
  get size(): number {
    let n = 0;
    for (const list of this.#byKey.values()) n += list.length;
    return n;
  }

  // Every key at most once per TTL: a check touches one key, and the others age out in passing.
  #prune(): void {
    const now = this.#now();
    if (now - this.#prunedAt < this.#ttlMs) return;
    this.#prunedAt = now;
    const oldest = now - this.#ttlMs;
    for (const [key, list] of this.#byKey) {
      const left = list.filter((e) => e.at >= oldest);
      if (left.length === 0) this.#byKey.delete(key);
      else if (left.length !== list.length) this.#byKey.set(key, left);
    }
  }
}

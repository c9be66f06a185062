/**
 * Runs work per key one batch at a time: an item submitted while its key is busy waits, and all items
 * that waited run together as the next batch. Webhook checks use it per trigger and source, so a burst
 * of deliveries for one trigger costs one git exchange and one status write per batch instead of one per
 * request, while every request still gets a check that started after it arrived.
 */
export class Batches<T> {
  readonly #queued = new Map<string, T[]>();
  readonly #run: (key: string, items: T[]) => Promise<void>;
  #idle: (() => void)[] = [];

  /** `run` handles its own errors (it must not reject: its items are answered through it). */
  constructor(run: (key: string, items: T[]) => Promise<void>) {
    this.#run = run;
  }

  submit(key: string, item: T): void {
    const queued = this.#queued.get(key);
    if (queued !== undefined) {
      queued.push(item);
      return;
    }
    this.#queued.set(key, []);
    this.#loop(key, [item]).catch(() => undefined);
  }

  /** Keys with a batch running. */
  get size(): number {
    return this.#queued.size;
  }

  /** Resolves when no batch runs and none waits (at once when idle already). */
  idle(): Promise<void> {
    if (this.#queued.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Items waiting for the batch of their key to finish. */
  get waiting(): number {
    let n = 0;
    for (const q of this.#queued.values()) n += q.length;
    return n;
  }

  async #loop(key: string, first: T[]): Promise<void> {
    let items = first;
    try {
      for (;;) {
        await this.#run(key, items).catch(() => undefined);
        const queued = this.#queued.get(key) ?? [];
        if (queued.length === 0) break;
        items = queued.splice(0);
      }
    } finally {
      this.#queued.delete(key);
      if (this.#queued.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  }
}

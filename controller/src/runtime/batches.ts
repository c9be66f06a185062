/**
 * Runs work per key in batches: an item submitted while its key is busy waits, and all items that waited
 * run together as the next batch. Webhook checks use it per trigger and source, so a burst of deliveries
 * for one trigger costs one git exchange and one status write per batch instead of one per request, while
 * every request still gets a check that started after it arrived.
 *
 * A batch may release its key before it ends (the `release` callback of the run): the next batch then
 * starts while this one finishes, up to `depth` batches of a key at once. Webhook checks release once
 * their git exchange is over, so the next exchange overlaps the Jobs being created instead of waiting for
 * them; exchanges of one key still never overlap.
 */
export class Batches<T> {
  readonly #keys = new Map<string, { queued: T[]; running: number; released: boolean }>();
  readonly #run: (key: string, items: T[], release: () => void) => Promise<void>;
  readonly #depth: number;
  #idle: (() => void)[] = [];

  /**
   * `run` handles its own errors (it must not reject: its items are answered through it). `depth` is how
   * many batches of one key may run at once (default 1: a batch's release is then its end).
   */
  constructor(run: (key: string, items: T[], release: () => void) => Promise<void>, options?: { depth?: number }) {
    this.#run = run;
    this.#depth = Math.max(1, options?.depth ?? 1);
  }

  submit(key: string, item: T): void {
    const state = this.#keys.get(key);
    if (state === undefined) {
      this.#keys.set(key, { queued: [item], running: 0, released: true });
    } else state.queued.push(item);
    this.#next(key);
  }

  /** Keys with a batch running or waiting. */
  get size(): number {
    return this.#keys.size;
  }

  /** Resolves when no batch runs and none waits (at once when idle already). */
  idle(): Promise<void> {
    if (this.#keys.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Items waiting for a batch of their key to start. */
  get waiting(): number {
    let n = 0;
    for (const s of this.#keys.values()) n += s.queued.length;
    return n;
  }

  // Starts the next batch of `key` when it has items, the last batch released it and there is room.
  #next(key: string): void {
    const state = this.#keys.get(key);
    if (state === undefined) return;
    if (state.queued.length > 0 && state.released && state.running < this.#depth) {
      const items = state.queued.splice(0);
      state.running += 1;
      state.released = false;
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        state.released = true;
        this.#next(key);
      };
      // The run must not reject; should it, its items are its own to answer and the key goes on.
      this.#run(key, items, this.#depth > 1 ? release : () => {})
        .catch(() => undefined)
        .finally(() => {
          state.running -= 1;
          release();
          if (state.running === 0 && state.queued.length === 0 && this.#keys.get(key) === state) {
            this.#keys.delete(key);
            if (this.#keys.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
          } else this.#next(key);
        })
        .catch(() => undefined);
    }
  }
}

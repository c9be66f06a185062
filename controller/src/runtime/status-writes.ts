/**
 * Computes a trigger's next status from the freshest status read (or written) and its generation.
 * Computations are composed when writes of one trigger are batched, so each must start from `fresh`.
 */
export type StatusCompute<S> = (fresh: S | undefined, generation: number) => S;

/**
 * Writes one batch: the composed computation, trying `first` (the object last written, or the cached
 * one) before reading; resolves with the object as written (its resourceVersion is the newest known).
 */
export type WriteBatch<S, O> = (compute: StatusCompute<S>, first: O | undefined) => Promise<O | undefined>;

interface Pending<S, O> {
  readonly computes: StatusCompute<S>[];
  readonly waiters: { resolve(written: O | undefined): void; reject(err: unknown): void }[];
}

/**
 * One status writer per trigger in this process. Concurrent checks of one trigger (a burst of webhooks)
 * used to write in parallel; all but one lost on the resourceVersion, re-read and retried, and under load
 * checks finished tens of seconds late. Here a write that arrives while another of the same trigger is in
 * flight waits, and the writes that waited go out as one: their computations applied one after the other
 * to the state the previous write returned. Each caller's promise settles when its own computation has
 * been written, or with the error of the write that carried it.
 */
export class StatusWrites<S, O> {
  readonly #pending = new Map<string, Pending<S, O>>();
  readonly #gapMs: number;
  readonly #sleep: (ms: number) => Promise<void>;

  /**
   * `gapMs`: writes of one key start at least this far apart. The writes that arrive meanwhile go out
   * together, on top of the object the last write returned (no stale copy, no conflict), so a trigger
   * checked many times a second (webhooks) costs a few writes a second. `sleep` is the timer (tests).
   */
  constructor(options?: { readonly gapMs?: number; readonly sleep?: (ms: number) => Promise<void> }) {
    this.#gapMs = options?.gapMs ?? 0;
    this.#sleep = options?.sleep ?? ((ms) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref()));
  }

  /**
   * Writes `compute` for `key` through `write`, batched with the writes of the same key that wait.
   * Resolves with the object as the batch that carried it left it (undefined when `write` gave none).
   */
  write(key: string, compute: StatusCompute<S>, first: O | undefined, write: WriteBatch<S, O>): Promise<O | undefined> {
    const existing = this.#pending.get(key);
    const entry: Pending<S, O> = existing ?? { computes: [], waiters: [] };
    const done = new Promise<O | undefined>((resolve, reject) => {
      entry.computes.push(compute);
      entry.waiters.push({ resolve, reject });
    });
    if (existing === undefined) {
      this.#pending.set(key, entry);
      // #drain settles every waiter itself and never rejects.
      this.#drain(key, entry, first, write).catch(() => undefined);
    }
    return done;
  }

  /** Triggers with a write in flight. */
  get size(): number {
    return this.#pending.size;
  }

  async #drain(key: string, entry: Pending<S, O>, first: O | undefined, write: WriteBatch<S, O>): Promise<void> {
    let start = first;
    try {
      while (entry.computes.length > 0) {
        const batch = entry.computes.splice(0);
        const waiters = entry.waiters.splice(0);
        const composed: StatusCompute<S> = (fresh, generation) =>
          batch.reduce<S | undefined>((status, c) => c(status, generation), fresh) as S;
        try {
          start = await write(composed, start);
          for (const w of waiters) w.resolve(start);
        } catch (err: unknown) {
          start = undefined;
          for (const w of waiters) w.reject(err);
        }
        if (this.#gapMs > 0) await this.#sleep(this.#gapMs);
      }
    } finally {
      this.#pending.delete(key);
    }
  }
}

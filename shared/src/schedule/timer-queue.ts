import { ScheduleError } from './errors.js';

/** Time and one-shot timers, injectable so schedules can be tested without waiting. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Largest delay Node's setTimeout honours; longer ones fire after 1 ms instead. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** The real clock. Its timers are unref'd: a pending schedule does not keep the process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

interface ManualTimer {
  due: number;
  id: number;
  fn: () => void;
}

/**
 * A clock that moves only when told to, for tests. Like Node, it runs a delay above MAX_TIMER_DELAY_MS after
 * 1 ms, so code that forgets to clamp misbehaves here too.
 */
export class ManualClock implements Clock {
  #now: number;
  #nextId = 1;
  readonly #timers = new Map<number, ManualTimer>();

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    let delay = Number.isNaN(ms) ? 0 : Math.max(ms, 0);
    if (delay > MAX_TIMER_DELAY_MS) delay = 1;
    const id = this.#nextId++;
    this.#timers.set(id, { due: this.#now + delay, id, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    if (typeof handle === 'number') this.#timers.delete(handle);
  }

  /** Number of timers not yet fired or cleared. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Due time of the earliest pending timer. */
  get nextDue(): number | undefined {
    return this.#earliest()?.due;
  }

  /**
   * Moves time forward by `ms`, running each timer that comes due, in order, with `now()` at its due time;
   * timers set meanwhile run too when they fall within the window.
   */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (let timer = this.#earliest(); timer !== undefined && timer.due <= target; timer = this.#earliest()) {
      this.#timers.delete(timer.id);
      this.#now = Math.max(this.#now, timer.due);
      timer.fn();
    }
    this.#now = Math.max(this.#now, target);
  }

  #earliest(): ManualTimer | undefined {
    let best: ManualTimer | undefined;
    for (const timer of this.#timers.values()) {
      if (best === undefined || timer.due < best.due || (timer.due === best.due && timer.id < best.id)) best = timer;
    }
    return best;
  }
}

/** Options of a TimerQueue. */
export interface TimerQueueOptions<K> {
  /** Default: systemClock. */
  clock?: Clock;
  /** Told about a callback that threw or whose promise rejected; without it such errors are dropped. */
  onError?: (key: K, error: unknown) => void;
}

interface Entry<K> {
  key: K;
  at: number;
  /** Insertion order: breaks ties between equal times, and tells entries added during a drain. */
  seq: number;
  fn: () => void;
  /** Position in the heap, kept up to date so an entry can be removed without searching. */
  index: number;
}

/**
 * One-shot timers for many keys (thousands of triggers) on a binary min-heap, with a single underlying timer
 * armed for the earliest entry. Due entries fire in time order (then scheduling order); a callback that throws
 * does not stop the others.
 */
export class TimerQueue<K> {
  readonly #clock: Clock;
  readonly #onError: ((key: K, error: unknown) => void) | undefined;
  readonly #entries = new Map<K, Entry<K>>();
  #heap: Entry<K>[] = [];
  #seq = 0;
  #timer: unknown;
  /** The `at` the timer is armed for, to skip re-arming when the head did not change. */
  #armedFor: number | undefined;
  #draining = false;

  constructor(options: TimerQueueOptions<K> = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#onError = options.onError;
  }

  /** Number of pending entries. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Runs `fn` at `at` (epoch ms; a past time means as soon as possible), replacing any pending entry for `key`.
   *
   * @throws ScheduleError `InvalidTime` when `at` is not a finite number.
   */
  schedule(key: K, at: number, fn: () => void): void {
    if (!Number.isFinite(at)) throw new ScheduleError('InvalidTime', `cannot schedule at ${at}`);
    this.#remove(key);
    const entry: Entry<K> = { key, at, seq: this.#seq++, fn, index: this.#heap.length };
    this.#entries.set(key, entry);
    this.#heap.push(entry);
    this.#up(entry.index);
    this.#arm();
  }

  /** Drops the pending entry for `key`; false when there was none. */
  cancel(key: K): boolean {
    const removed = this.#remove(key);
    if (removed) this.#arm();
    return removed;
  }

  /** Whether an entry for `key` is pending. */
  has(key: K): boolean {
    return this.#entries.has(key);
  }

  /** When the pending entry for `key` fires (epoch ms). */
  nextAt(key: K): number | undefined {
    return this.#entries.get(key)?.at;
  }

  /** Drops every entry and the timer. The queue can be used again afterwards. */
  stop(): void {
    this.#entries.clear();
    this.#heap = [];
    this.#disarm();
  }

  #remove(key: K): boolean {
    const entry = this.#entries.get(key);
    if (entry === undefined) return false;
    this.#entries.delete(key);
    const last = this.#heap.pop();
    if (last !== undefined && last !== entry) {
      this.#heap[entry.index] = last;
      last.index = entry.index;
      this.#up(last.index);
      this.#down(last.index);
    }
    return true;
  }

  #fire(): void {
    this.#timer = undefined;
    this.#armedFor = undefined;
    const now = this.#clock.now();
    // Entries scheduled by callbacks wait for the next turn, so one rescheduling itself at `now` cannot starve
    // the event loop.
    const cutoff = this.#seq;
    this.#draining = true;
    try {
      for (let head = this.#heap[0]; head !== undefined && head.at <= now && head.seq < cutoff; head = this.#heap[0]) {
        this.#remove(head.key);
        this.#run(head);
      }
    } finally {
      this.#draining = false;
    }
    this.#arm();
  }

  #run(entry: Entry<K>): void {
    try {
      const result: unknown = entry.fn();
      if (isThenable(result)) result.then(undefined, (error: unknown) => this.#report(entry.key, error));
    } catch (error: unknown) {
      this.#report(entry.key, error);
    }
  }

  #report(key: K, error: unknown): void {
    try {
      this.#onError?.(key, error);
    } catch {
      // A failing error handler must not stop the queue either.
    }
  }

  #arm(): void {
    if (this.#draining) return;
    const head = this.#heap[0];
    if (head === undefined) {
      this.#disarm();
      return;
    }
    if (this.#timer !== undefined && this.#armedFor === head.at) return;
    this.#disarm();
    // A clamped timer fires early, finds nothing due and re-arms for the rest.
    const delay = Math.min(Math.max(head.at - this.#clock.now(), 0), MAX_TIMER_DELAY_MS);
    const handle = this.#clock.setTimeout(() => {
      if (this.#timer === handle) this.#fire();
    }, delay);
    this.#timer = handle;
    this.#armedFor = head.at;
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = undefined;
  }

  #less(a: Entry<K>, b: Entry<K>): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #swap(i: number, j: number): void {
    const a = this.#heap[i]!;
    const b = this.#heap[j]!;
    this.#heap[i] = b;
    this.#heap[j] = a;
    a.index = j;
    b.index = i;
  }

  #up(index: number): void {
    let i = index;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(this.#heap[i]!, this.#heap[parent]!)) break;
      this.#swap(i, parent);
      i = parent;
    }
  }

  #down(index: number): void {
    let i = index;
    const n = this.#heap.length;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < n && this.#less(this.#heap[left]!, this.#heap[smallest]!)) smallest = left;
      if (right < n && this.#less(this.#heap[right]!, this.#heap[smallest]!)) smallest = right;
      if (smallest === i) return;
      this.#swap(i, smallest);
      i = smallest;
    }
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

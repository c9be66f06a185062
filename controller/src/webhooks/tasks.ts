import { randomUUID } from 'node:crypto';

/** What became of a webhook's check. */
export interface Task {
  readonly id: string;
  readonly namespace: string;
  readonly trigger: string;
  readonly source: string | undefined;
  /** Job run key: the provider's delivery id when there is one (so a redelivery names the same Job). */
  readonly runKey: string;
  state: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  /** Jobs the check created. */
  jobs: string[];
  /** Per-source errors (reason and message, never a secret). */
  errors: { source: string; reason: string; message: string }[];
  /** Per source, the active Job that held this run back (concurrencyPolicy Forbid): no Job was started. */
  held: { source: string; job: string }[];
  readonly createdAt: number;
  finishedAt?: number;
}

/**
 * Tasks of the webhook checks, kept for a bounded time and count: the oldest are forgotten first, so a
 * flood of requests cannot grow memory without bound.
 */
export class TaskStore {
  readonly #tasks = new Map<string, Task>();
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(options: { max?: number; ttlMs?: number; now?: () => number } = {}) {
    this.#max = options.max ?? 10_000;
    this.#ttlMs = options.ttlMs ?? 3_600_000;
    this.#now = options.now ?? Date.now;
  }

  create(namespace: string, trigger: string, source: string | undefined, runKey?: string): Task {
    this.#prune();
    const id = randomUUID();
    const task: Task = {
      id,
      namespace,
      trigger,
      source,
      runKey: runKey ?? `request:${id}`,
      state: 'Pending',
      jobs: [],
      errors: [],
      held: [],
      createdAt: this.#now(),
    };
    this.#tasks.set(task.id, task);
    this.#bound();
    return task;
  }

  #bound(): void {
    while (this.#tasks.size > this.#max) {
      const oldest = this.#tasks.keys().next().value;
      if (oldest === undefined) break;
      this.#tasks.delete(oldest);
    }
  }

  /**
   * A task of a request another replica accepted (from the trigger's pendingWebhooks), under its own id
   * and run key, so that `GET /tasks/{id}` on this replica tells how the replay went.
   */
  restore(entry: {
    id: string;
    namespace: string;
    trigger: string;
    source: string | undefined;
    runKey: string;
    createdAt: number;
  }): Task {
    this.#prune();
    const task: Task = { ...entry, state: 'Pending', jobs: [], errors: [], held: [] };
    this.#tasks.delete(task.id);
    this.#tasks.set(task.id, task);
    this.#bound();
    return task;
  }

  /** Drops a task that was never started (its request was refused after all). */
  forget(id: string): void {
    this.#tasks.delete(id);
  }

  get(id: string): Task | undefined {
    this.#prune();
    return this.#tasks.get(id);
  }

  get size(): number {
    return this.#tasks.size;
  }

  #prune(): void {
    const cutoff = this.#now() - this.#ttlMs;
    for (const [id, task] of this.#tasks) {
      // Insertion order is creation order (a restored task is inserted last but may be older: it then
      // stays until the tasks before it expire, still bounded by the count).
      if (task.createdAt >= cutoff) break;
      this.#tasks.delete(id);
    }
  }
}

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
      createdAt: this.#now(),
    };
    this.#tasks.set(task.id, task);
    while (this.#tasks.size > this.#max) {
      const oldest = this.#tasks.keys().next().value;
      if (oldest === undefined) break;
      this.#tasks.delete(oldest);
    }
    return task;
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
      if (task.createdAt >= cutoff) break; // insertion order is creation order
      this.#tasks.delete(id);
    }
  }
}

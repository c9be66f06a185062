/** The trigger an Event is about. */
export interface EventSubject {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string | undefined;
}

/** Publishes one JobCreated Event; must not reject (failures are the publisher's to log). */
export type PublishJobCreated = (subject: EventSubject, note: string) => Promise<void>;

/**
 * Coalesces JobCreated Events: the Jobs created for one trigger, source and commit within `windowMs` of
 * the first share one Event. Webhook checks of a trigger under load run many times a second, each with a
 * Job or two; an Event each doubled the API server's writes. `sleep` is the timer (tests).
 */
export class JobCreatedEvents {
  readonly #pending = new Map<string, { readonly jobs: string[]; readonly done: Promise<void> }>();
  readonly #publish: PublishJobCreated;
  readonly #windowMs: number;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(
    publish: PublishJobCreated,
    options?: { readonly windowMs?: number; readonly sleep?: (ms: number) => Promise<void> },
  ) {
    this.#publish = publish;
    this.#windowMs = options?.windowMs ?? 0;
    this.#sleep = options?.sleep ?? ((ms) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref()));
  }

  /** Adds Jobs to the Event of their trigger, source and commit; resolves once that Event is published. */
  add(subject: EventSubject, source: string, commit: string, jobs: readonly string[]): Promise<void> {
    if (this.#windowMs <= 0) return this.#publish(subject, jobCreatedNote(jobs, source, commit));
    const key = JSON.stringify([subject.kind, subject.namespace, subject.name, source, commit]);
    const open = this.#pending.get(key);
    if (open !== undefined) {
      open.jobs.push(...jobs);
      return open.done;
    }
    const collected = [...jobs];
    const done = this.#sleep(this.#windowMs).then(() => {
      this.#pending.delete(key);
      return this.#publish(subject, jobCreatedNote(collected, source, commit));
    });
    this.#pending.set(key, { jobs: collected, done });
    return done;
  }

  /** Events waiting for their window to end. */
  get size(): number {
    return this.#pending.size;
  }
}

/**
 * The JobCreated Event's note: the Job's name, or for a batch the count and as many names as fit the
 * Event's 1,024 characters.
 */
export function jobCreatedNote(jobs: readonly string[], source: string, commit: string): string {
  const at = `for ${source} at ${commit.slice(0, 12)}`;
  if (jobs.length === 1) return `Job ${jobs[0]} created ${at}`;
  const head = `${jobs.length} Jobs created ${at}: `;
  let names = '';
  for (const [i, job] of jobs.entries()) {
    const next = names === '' ? job : `${names}, ${job}`;
    const left = jobs.length - i - 1;
    // Each accepted name keeps room for the "and N more" that would follow it.
    if (head.length + next.length + (left > 0 ? ` and ${left} more`.length : 0) > 1024)
      return `${head}${names} and ${jobs.length - i} more`;
    names = next;
  }
  return `${head}${names}`;
}

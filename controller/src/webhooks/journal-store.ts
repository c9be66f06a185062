import type { WebhookJournalEntry } from '@git-events-runner/shared';
import { type CoreV1Api, PatchStrategy, setHeaderOptions, type V1ConfigMap } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { messageOf, statusOf } from '../runtime/util.js';
import { decodeEntry, JOURNAL_LABEL, JournalError, journalPatch, MAX_JOURNAL_ENTRIES } from './journal.js';

/** The journal as the leader reads it. */
export interface JournalSnapshot {
  readonly entries: readonly WebhookJournalEntry[];
  /** Keys whose values are not entries (removed by the leader, never replayed). */
  readonly invalid: readonly string[];
}

interface Waiting {
  readonly entry: WebhookJournalEntry;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

// Removals are not urgent (an entry left behind only costs a harmless replay), nor are the records of
// --webhooks-ack immediate: they wait this long for a write to ride on (a check that ends sooner needs
// no write at all), and a failed write waits RETRY_DELAY_MS before the next.
const LAZY_DELAY_MS = 200;
const RETRY_DELAY_MS = 1000;

/**
 * This replica's side of the webhook journal (one ConfigMap in the controller's namespace, shared by the
 * replicas). Writes are group commits: one merge patch at a time, carrying every entry recorded and
 * removed meanwhile, so a burst of webhooks costs a few writes. A merge patch names only its own keys, and
 * each key has one writer at a time, so writes never conflict and never need a read first. The controller
 * does not watch the journal: nothing else pays for its traffic.
 */
export class WebhookJournal {
  readonly #core: CoreV1Api;
  readonly #namespace: string;
  readonly #name: string;
  readonly #log: Pick<Logger, 'warn'>;
  readonly #max: number;
  readonly #adds = new Map<string, Waiting>();
  readonly #removes = new Set<string>();
  /** Keys written to the ConfigMap and not removed since (as far as this process knows). */
  readonly #written = new Set<string>();
  /** Keys of the write in flight. */
  readonly #inFlight = new Set<string>();
  #flushing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** A record waits for the next write (its request waits for the answer). */
  #urgent = false;

  constructor(options: {
    readonly core: CoreV1Api;
    readonly namespace: string;
    /** The journal ConfigMap (journalName()). */
    readonly name: string;
    readonly log: Pick<Logger, 'warn'>;
    readonly max?: number;
  }) {
    this.#core = options.core;
    this.#namespace = options.namespace;
    this.#name = options.name;
    this.#log = options.log;
    this.#max = options.max ?? MAX_JOURNAL_ENTRIES;
  }

  /**
   * Records an accepted request; resolves once it is in the ConfigMap. Rejects with JournalError `Full`
   * (the journal holds its most entries) or `NotRecorded` (the write failed): the request must then be
   * refused, since nothing would remember it.
   */
  record(entry: WebhookJournalEntry, urgent = true): Promise<void> {
    if (this.#written.size + this.#inFlight.size + this.#adds.size >= this.#max) {
      return Promise.reject(new JournalError('Full', `the webhook journal holds ${this.#max} requests already`));
    }
    const recorded = new Promise<void>((resolve, reject) => {
      this.#adds.set(entry.task, { entry, resolve, reject });
    });
    if (urgent) this.#urgent = true;
    this.#kick(urgent ? 0 : LAZY_DELAY_MS);
    return recorded;
  }

  /** Takes ended requests off the journal (in a later write; never rejects). */
  settle(tasks: Iterable<string>): void {
    let any = false;
    for (const id of tasks) {
      const waiting = this.#adds.get(id);
      if (waiting !== undefined) {
        // Ended before its record went out (--webhooks-ack immediate): nothing to write or remove.
        this.#adds.delete(id);
        waiting.resolve();
        continue;
      }
      if (this.#written.has(id) || this.#inFlight.has(id)) {
        this.#removes.add(id);
        any = true;
      }
    }
    if (any) this.#kick(LAZY_DELAY_MS);
  }

  /** Entries this process has written and not removed, plus those on their way. */
  get size(): number {
    return this.#written.size + this.#inFlight.size + this.#adds.size;
  }

  /** Writes what is left (removals) and stops; gives up after `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const work = (async () => {
      await this.#flushing;
      if (this.#adds.size > 0 || this.#removes.size > 0) await this.#flush();
    })();
    await Promise.race([work, new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
  }

  #kick(delayMs: number): void {
    if (this.#flushing !== undefined) return;
    if (delayMs === 0) {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#flushing = this.#flush().finally(() => {
        this.#flushing = undefined;
        // What arrived during the write goes out next: urgent records at once, the rest after a pause.
        if (this.#urgent) this.#kick(0);
        else if (this.#adds.size > 0 || this.#removes.size > 0) this.#kick(LAZY_DELAY_MS);
      });
      return;
    }
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#kick(0);
    }, delayMs);
    this.#timer.unref();
  }

  // Never rejects: every waiter is settled here.
  async #flush(): Promise<void> {
    this.#urgent = false;
    const adds = [...this.#adds.values()];
    this.#adds.clear();
    const removes = [...this.#removes];
    this.#removes.clear();
    if (adds.length === 0 && removes.length === 0) return;
    for (const a of adds) this.#inFlight.add(a.entry.task);
    const patch = journalPatch(
      adds.map((a) => a.entry),
      removes,
    );
    try {
      await this.#write(patch);
      for (const id of removes) this.#written.delete(id);
      for (const a of adds) {
        this.#written.add(a.entry.task);
        a.resolve();
      }
    } catch (err: unknown) {
      const failure = new JournalError('NotRecorded', `webhook journal write failed: ${messageOf(err)}`, {
        cause: err,
      });
      for (const a of adds) a.reject(failure);
      // Removals are tried again later (bounded: only keys this process wrote).
      for (const id of removes) if (this.#written.has(id)) this.#removes.add(id);
      if (removes.length > 0) {
        this.#log.warn({ journal: this.#name, err: messageOf(err) }, 'webhook journal write failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS).unref());
      }
    } finally {
      for (const a of adds) this.#inFlight.delete(a.entry.task);
    }
  }

  async #write(patch: { data: Record<string, string | null> }): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.#core.patchNamespacedConfigMap(
          { namespace: this.#namespace, name: this.#name, body: patch },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
        return;
      } catch (err: unknown) {
        if (statusOf(err) !== 404) throw err;
      }
      // The journal does not exist yet (first write in this namespace, or it was deleted).
      const data: Record<string, string> = {};
      for (const [k, v] of Object.entries(patch.data)) if (v !== null) data[k] = v;
      const body: V1ConfigMap = {
        metadata: {
          name: this.#name,
          namespace: this.#namespace,
          labels: { [JOURNAL_LABEL]: 'true' },
        },
        data,
      };
      try {
        await this.#core.createNamespacedConfigMap({ namespace: this.#namespace, body });
        return;
      } catch (err: unknown) {
        // Created meanwhile by another replica: patch it.
        if (statusOf(err) !== 409) throw err;
      }
    }
    throw new JournalError('Vanished', `journal ${this.#namespace}/${this.#name} was deleted during each of 3 writes`);
  }

  /** The journal's entries, every replica's (the leader's replay loop); empty when it does not exist. */
  async read(): Promise<JournalSnapshot> {
    let cm: V1ConfigMap;
    try {
      cm = await this.#core.readNamespacedConfigMap({ namespace: this.#namespace, name: this.#name });
    } catch (err: unknown) {
      if (statusOf(err) === 404) return { entries: [], invalid: [] };
      throw err;
    }
    const entries: WebhookJournalEntry[] = [];
    const invalid: string[] = [];
    for (const [key, value] of Object.entries(cm.data ?? {})) {
      const entry = decodeEntry(key, value);
      if (entry === undefined) invalid.push(key);
      else entries.push(entry);
    }
    return { entries, invalid };
  }

  /**
   * Takes over entries another replica wrote (the leader, replaying them or dropping invalid ones): this
   * process removes them with its own writes, once settle() is called for them.
   */
  adopt(tasks: Iterable<string>): void {
    for (const id of tasks) this.#written.add(id);
  }
}

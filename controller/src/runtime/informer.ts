import {
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  ListWatch,
  Watch,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';

type WatchCallback = (phase: string, apiObj: unknown, watchObj?: unknown) => void;
const OBJECT_EVENTS = new Set(['ADDED', 'MODIFIED', 'DELETED']);

/** What a supervised watch reports. */
export interface WatchHandlers<T> {
  readonly onChange?: (obj: T, kind: 'add' | 'update' | 'delete') => void;
}

/** Backoff of watch restarts; injectable for tests. */
export interface BackoffOptions {
  readonly initialMs?: number;
  readonly maxMs?: number;
  readonly random?: () => number;
}

/**
 * A list+watch cache that survives errors. client-node's ListWatch relists on 410 Gone and reconnects on
 * timeouts by itself, but stops for good on any other error; here every such stop is followed by a restart
 * after a capped, jittered, exponential delay, and `synced` says whether the cache is current (readiness
 * is tied to it).
 */
export class SupervisedWatch<T extends KubernetesObject> {
  readonly name: string;
  readonly #watch: ListWatch<T>;
  readonly #log: Logger;
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #random: () => number;
  #synced = false;
  #failures = 0;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #firstSync: Promise<void>;
  #resolveFirstSync: () => void = () => {};

  constructor(
    kc: KubeConfig,
    name: string,
    path: string,
    list: () => Promise<KubernetesListObject<T>>,
    log: Logger,
    options: {
      labelSelector?: string;
      fieldSelector?: string;
      handlers?: WatchHandlers<T>;
      backoff?: BackoffOptions;
      /**
       * Applied to every object listed or watched before the cache keeps it: the fields the controller
       * reads, so that thousands of objects (Jobs with their Pod templates) fit a small heap.
       */
      transform?: (obj: T) => T;
    } = {},
  ) {
    this.name = name;
    this.#log = log;
    this.#initialMs = options.backoff?.initialMs ?? 500;
    this.#maxMs = options.backoff?.maxMs ?? 30_000;
    this.#random = options.backoff?.random ?? Math.random;
    const transform = options.transform;
    const watch = new Watch(kc);
    this.#watch =
      transform === undefined
        ? new ListWatch<T>(path, watch, list, false, options.labelSelector, options.fieldSelector)
        : new ListWatch<T>(
            path,
            // ListWatch calls only watch(); each event's object is transformed before the cache sees it.
            {
              watch: (
                p: string,
                query: Record<string, string | number | boolean | undefined>,
                callback: WatchCallback,
                done: (err: unknown) => void,
              ) =>
                watch.watch(
                  p,
                  query,
                  // ERROR carries a Status (its code decides a relist) and BOOKMARK only a resourceVersion.
                  (phase, obj, raw) => callback(phase, OBJECT_EVENTS.has(phase) ? transform(obj as T) : obj, raw),
                  done,
                ),
            } as unknown as Watch,
            async () => {
              const listed = await list();
              return { ...listed, items: listed.items.map(transform) };
            },
            false,
            options.labelSelector,
            options.fieldSelector,
          );
    this.#firstSync = new Promise((resolve) => {
      this.#resolveFirstSync = resolve;
    });
    const onChange = options.handlers?.onChange;
    if (onChange !== undefined) {
      this.#watch.on('add', (o) => onChange(o, 'add'));
      this.#watch.on('update', (o) => onChange(o, 'update'));
      this.#watch.on('delete', (o) => onChange(o, 'delete'));
    }
    this.#watch.on('error', (err: unknown) => this.#failed(err));
  }

  /** Whether the cache reflects the API server (false before the first list and while restarting). */
  get synced(): boolean {
    return this.#synced;
  }

  /** Resolves once the first list has succeeded. */
  get firstSync(): Promise<void> {
    return this.#firstSync;
  }

  /** Starts listing and watching; failures are retried in the background. */
  start(): void {
    this.#stopped = false;
    this.#run().catch((err: unknown) => this.#failed(err));
  }

  async #run(): Promise<void> {
    let failed = false;
    const onError = () => {
      failed = true;
    };
    this.#watch.on('error', onError);
    try {
      await this.#watch.start();
    } finally {
      this.#watch.off('error', onError);
    }
    if (failed || this.#stopped) return;
    this.#synced = true;
    this.#failures = 0;
    this.#resolveFirstSync();
  }

  #failed(err: unknown): void {
    this.#synced = false;
    if (this.#stopped) return;
    this.#failures += 1;
    const delay = Math.min(this.#maxMs, this.#initialMs * 2 ** (this.#failures - 1)) * (0.5 + this.#random() / 2);
    const status =
      (err as { code?: unknown; statusCode?: unknown }).code ?? (err as { statusCode?: unknown }).statusCode;
    this.#log.warn(
      {
        watch: this.name,
        failures: this.#failures,
        retryInMs: Math.round(delay),
        status,
        err: err instanceof Error ? err.message : String(err),
      },
      'watch failed; restarting',
    );
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.start();
    }, delay);
    this.#timer.unref();
  }

  /** An object from the cache. */
  get(name: string, namespace?: string): T | undefined {
    return this.#watch.get(name, namespace);
  }

  /** Objects in the cache, of one namespace or all. */
  list(namespace?: string): readonly T[] {
    return this.#watch.list(namespace);
  }

  /** Stops watching. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#synced = false;
    clearTimeout(this.#timer);
    await this.#watch.stop();
  }
}

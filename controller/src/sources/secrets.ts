import { type CoreV1Api, type KubeConfig, ListWatch, type V1Secret, Watch } from '@kubernetes/client-node';
import { SourceError } from './errors.js';

/** The data of a Secret, decoded from base64. */
export type SecretData = Readonly<Record<string, Buffer>>;

/** Reads Secrets; undefined when the Secret does not exist. Throws SourceError when it cannot tell. */
export interface SecretLookup {
  get(namespace: string, name: string): Promise<SecretData | undefined>;
}

function decode(secret: V1Secret | undefined): SecretData | undefined {
  if (secret === undefined) return undefined;
  return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
}

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown; statusCode?: unknown }).code ?? (err as { statusCode?: unknown }).statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** Reads each Secret from the API when asked (the cloner: one read per Secret, with the Job's own rights). */
export class DirectSecrets implements SecretLookup {
  readonly #api: CoreV1Api;

  constructor(api: CoreV1Api) {
    this.#api = api;
  }

  async get(namespace: string, name: string): Promise<SecretData | undefined> {
    try {
      return decode(await this.#api.readNamespacedSecret({ namespace, name }));
    } catch (err: unknown) {
      const status = statusOf(err);
      if (status === 404) return undefined;
      if (status === 403)
        throw new SourceError('SecretForbidden', `not allowed to read Secret ${namespace}/${name}`, { cause: err });
      throw new SourceError(
        'SecretUnavailable',
        `cannot read Secret ${namespace}/${name} (HTTP ${status ?? 'error'})`,
        {
          cause: err,
        },
      );
    }
  }
}

/** Timing of the watched Secret cache; injectable for tests. */
export interface WatchedSecretsOptions {
  /** A Secret not asked for during this long stops being watched. Default 10 minutes. */
  readonly idleMs?: number;
  /** First and largest delay before restarting a failed watch. Defaults 500 ms and 30 s. */
  readonly backoffMs?: readonly [number, number];
  readonly now?: () => number;
  readonly random?: () => number;
}

interface Entry {
  readonly watch: ListWatch<V1Secret>;
  synced: boolean;
  lastUsed: number;
  failures: number;
  ready: Promise<void>;
  restart?: NodeJS.Timeout;
}

/**
 * Secrets read through watches that follow changes: the first request for a Secret starts a list+watch
 * restricted to that one Secret (fieldSelector metadata.name, so the controller needs no right to list
 * every Secret of a namespace), later requests are answered from memory and see rotations and
 * deletions at once. A failed watch is restarted with capped, jittered backoff; while it is down,
 * requests read the Secret directly. Secrets not asked for during `idleMs` are forgotten.
 */
export class WatchedSecrets implements SecretLookup {
  readonly #kc: KubeConfig;
  readonly #api: CoreV1Api;
  readonly #direct: DirectSecrets;
  readonly #entries = new Map<string, Entry>();
  readonly #idleMs: number;
  readonly #backoff: readonly [number, number];
  readonly #now: () => number;
  readonly #random: () => number;
  #sweeper: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(kc: KubeConfig, api: CoreV1Api, options: WatchedSecretsOptions = {}) {
    this.#kc = kc;
    this.#api = api;
    this.#direct = new DirectSecrets(api);
    this.#idleMs = options.idleMs ?? 600_000;
    this.#backoff = options.backoffMs ?? [500, 30_000];
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
  }

  /** Number of Secrets currently watched. */
  get watched(): number {
    return this.#entries.size;
  }

  async get(namespace: string, name: string): Promise<SecretData | undefined> {
    if (this.#stopped) return this.#direct.get(namespace, name);
    const key = `${namespace}/${name}`;
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      entry = this.#start(namespace, name);
      this.#entries.set(key, entry);
      this.#sweeper ??= setInterval(() => this.#sweep(), Math.max(1000, this.#idleMs / 4)).unref();
    }
    entry.lastUsed = this.#now();
    await entry.ready;
    if (!entry.synced) return this.#direct.get(namespace, name);
    return decode(entry.watch.get(name, namespace));
  }

  #start(namespace: string, name: string): Entry {
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`;
    const fieldSelector = `metadata.name=${name}`;
    const listFn = () => this.#api.listNamespacedSecret({ namespace, fieldSelector });
    const watch = new ListWatch<V1Secret>(path, new Watch(this.#kc), listFn, false, undefined, fieldSelector);
    const entry: Entry = { watch, synced: false, lastUsed: this.#now(), failures: 0, ready: Promise.resolve() };
    watch.on('error', () => {
      // ListWatch stops for good on errors other than 410 and timeouts: restart it later.
      entry.synced = false;
      entry.failures += 1;
      if (this.#stopped) return;
      const [first, max] = this.#backoff;
      const delay = Math.min(max, first * 2 ** (entry.failures - 1)) * (0.5 + this.#random() / 2);
      clearTimeout(entry.restart);
      entry.restart = setTimeout(() => {
        entry.ready = this.#run(entry);
      }, delay).unref();
    });
    entry.ready = this.#run(entry);
    return entry;
  }

  async #run(entry: Entry): Promise<void> {
    let failed = false;
    const onError = () => {
      failed = true;
    };
    entry.watch.on('error', onError);
    try {
      await entry.watch.start();
    } catch {
      failed = true;
    } finally {
      entry.watch.off('error', onError);
    }
    entry.synced = !failed;
    if (!failed) entry.failures = 0;
  }

  #sweep(): void {
    const cutoff = this.#now() - this.#idleMs;
    for (const [key, entry] of this.#entries) {
      if (entry.lastUsed < cutoff) {
        this.#entries.delete(key);
        clearTimeout(entry.restart);
        entry.watch.stop().catch(() => undefined);
      }
    }
  }

  /** Stops every watch. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    for (const e of entries) clearTimeout(e.restart);
    await Promise.all(entries.map((e) => e.watch.stop()));
  }
}

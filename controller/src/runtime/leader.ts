import { type CoordinationV1Api, type V1Lease, V1MicroTime } from '@kubernetes/client-node';
import type { Logger } from 'pino';

/** Settings of leader election (the original's flags). */
export interface LeaderOptions {
  readonly namespace: string;
  readonly leaseName: string;
  /** Process identity, written as holderIdentity. */
  readonly identity: string;
  readonly durationSeconds: number;
  /** Renew this long before the lease would expire. */
  readonly graceSeconds: number;
  readonly now?: () => number;
}

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * Leader election on a coordination.k8s.io Lease with optimistic concurrency. The holder renews the lease
 * `grace` seconds before it expires; others take it over once it has not been renewed for its duration.
 * A leader that cannot renew stops leading as soon as its own lease would have expired, before anyone
 * else can take over, so two leaders never overlap (with clocks in step). Releasing on shutdown lets a
 * successor take over at once.
 */
export class LeaderElector {
  readonly #api: CoordinationV1Api;
  readonly #opts: LeaderOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #onChange: (leading: boolean) => void;
  #leading = false;
  #renewedAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;
  #running: Promise<void> = Promise.resolve();

  constructor(api: CoordinationV1Api, options: LeaderOptions, log: Logger, onChange: (leading: boolean) => void) {
    this.#api = api;
    this.#opts = options;
    this.#log = log;
    this.#now = options.now ?? Date.now;
    this.#onChange = onChange;
  }

  /** Whether this process holds the lease now. */
  get leading(): boolean {
    return this.#leading;
  }

  start(): void {
    this.#stopped = false;
    this.#tick();
  }

  #tick(): void {
    if (this.#stopped) return;
    this.#running = this.#attempt().catch((err: unknown) => {
      this.#log.warn({ err: err instanceof Error ? err.message : String(err) }, 'leader election attempt failed');
    });
    this.#running
      .finally(() => {
        if (this.#stopped) return;
        // Renew `grace` before expiry; try to acquire at a steady, shorter pace.
        const renewEvery = Math.max(1, this.#opts.durationSeconds - this.#opts.graceSeconds) * 1000;
        const delay = this.#leading
          ? Math.min(renewEvery, (this.#opts.durationSeconds * 1000) / 3)
          : Math.min(2000, renewEvery);
        this.#timer = setTimeout(() => this.#tick(), delay);
        this.#timer.unref();
      })
      .catch(() => undefined);
  }

  #setLeading(leading: boolean): void {
    if (leading === this.#leading) return;
    this.#leading = leading;
    this.#log.info(
      { lease: this.#opts.leaseName, identity: this.#opts.identity, leading },
      leading ? 'became leader' : 'stopped leading',
    );
    this.#onChange(leading);
  }

  async #attempt(): Promise<void> {
    const { namespace, leaseName: name, identity, durationSeconds } = this.#opts;
    // A leader that has not renewed for its own duration must assume someone else took over.
    if (this.#leading && this.#now() - this.#renewedAt >= durationSeconds * 1000) this.#setLeading(false);
    let lease: V1Lease | undefined;
    try {
      lease = await this.#api.readNamespacedLease({ name, namespace });
    } catch (err: unknown) {
      if (statusOf(err) !== 404) throw err;
    }
    const now = this.#now();
    if (lease === undefined) {
      try {
        await this.#api.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds: durationSeconds,
              acquireTime: new V1MicroTime(now),
              renewTime: new V1MicroTime(now),
              leaseTransitions: 0,
            },
          },
        });
        this.#renewedAt = now;
        this.#setLeading(true);
      } catch (err: unknown) {
        if (statusOf(err) !== 409) throw err;
      }
      return;
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const renewed = spec.renewTime === undefined ? 0 : new Date(spec.renewTime).getTime();
    const expired = holder === '' || renewed + (spec.leaseDurationSeconds ?? durationSeconds) * 1000 <= now;
    if (holder !== identity && !expired) {
      this.#setLeading(false);
      return;
    }
    const body: V1Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: durationSeconds,
        renewTime: new V1MicroTime(now),
        ...(holder !== identity
          ? { acquireTime: new V1MicroTime(now), leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }
          : {}),
      },
    };
    try {
      await this.#api.replaceNamespacedLease({ name, namespace, body });
      this.#renewedAt = now;
      this.#setLeading(true);
    } catch (err: unknown) {
      // 409: another candidate wrote first; it leads.
      if (statusOf(err) === 409) this.#setLeading(false);
      else throw err;
    }
  }

  /** Stops campaigning; a leader releases the lease so a successor need not wait for it to expire. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
    if (!this.#leading) return;
    this.#setLeading(false);
    const { namespace, leaseName: name, identity } = this.#opts;
    try {
      const lease = await this.#api.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== identity) return;
      await this.#api.replaceNamespacedLease({
        name,
        namespace,
        body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 } },
      });
    } catch (err: unknown) {
      this.#log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not release the lease');
    }
  }
}

import { JOB_ANNOTATIONS, JOB_LABELS } from '@git-events-runner/shared';
import { BatchV1Api, type KubeConfig, makeInformer, type V1Job } from '@kubernetes/client-node';
import { ApiError, type SoakApi } from './soak-kube.js';
import type { ErrorKind } from './soak-stats.js';

// What the soak sees of the action Jobs, and the two cluster parts the local control plane lacks for
// them: a "kubelet" that runs each admitted Job for a while and marks it Complete (through the status
// subresource, as tests do), and the TTL-after-finished controller that deletes finished Jobs once their
// spec.ttlSecondsAfterFinished has passed. Without them every Job would wait in the queue until it
// expires and the controller's Job cache would only grow, which says nothing about leaks.

/** One Job as the soak recorded it (kept after the Job is deleted: the ledger is what the accounting reads). */
export interface LedgerJob {
  readonly uid: string;
  readonly name: string;
  readonly triggerKind: string;
  readonly trigger: string;
  readonly commit: string;
  readonly runKey: string;
  readonly createdAt: number;
  ttlSeconds: number | undefined;
  admittedAt?: number;
  finishedAt?: number;
  deletedAt?: number;
  busy?: boolean;
}

const IN_FLIGHT = 8;

/** The ledger of every Job seen in one namespace, with the fake kubelet and TTL controller. */
export class SoakJobs {
  /** Every Job ever seen, by uid. */
  readonly jobs = new Map<string, LedgerJob>();
  /** Problems of the soak's own calls, by kind. */
  readonly errors = new Map<string, ErrorKind>();
  completed = 0;
  deleted = 0;
  readonly #namespace: string;
  readonly #api: SoakApi;
  readonly #runMs: number;
  readonly #informer;
  readonly #active = new Map<string, LedgerJob>();
  #inFlight = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  readonly #batch: BatchV1Api;

  constructor(kc: KubeConfig, api: SoakApi, namespace: string, options: { readonly runSeconds: number }) {
    this.#namespace = namespace;
    this.#api = api;
    this.#runMs = options.runSeconds * 1000;
    this.#batch = kc.makeApiClient(BatchV1Api);
    this.#informer = makeInformer<V1Job>(kc, `/apis/batch/v1/namespaces/${namespace}/jobs`, () =>
      this.#batch.listNamespacedJob({ namespace }),
    );
    this.#informer.on('add', (j) => this.record(j, false));
    this.#informer.on('update', (j) => this.record(j, false));
    this.#informer.on('delete', (j) => this.record(j, true));
    // client-node's ListWatch stops for good on an error other than 410 Gone: start it again.
    this.#informer.on('error', (err) => {
      this.#error('Job watch stopped', err);
      if (!this.#stopped)
        setTimeout(() => {
          if (!this.#stopped) this.#informer.start().catch((e: unknown) => this.#error('Job watch restart failed', e));
        }, 1000);
    });
  }

  async start(): Promise<void> {
    await this.#informer.start();
    this.#timer = setInterval(() => this.#sweep(), 250);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#informer.stop();
  }

  /** Jobs that exist now (seen and not seen deleted). */
  get existing(): number {
    let n = 0;
    for (const j of this.jobs.values()) if (j.deletedAt === undefined) n++;
    return n;
  }

  /** One full list, recorded: the final word on what exists, in case the watch missed anything. */
  async reconcile(): Promise<void> {
    const list = await this.#batch.listNamespacedJob({ namespace: this.#namespace });
    for (const j of list.items) this.record(j, false);
  }

  record(job: V1Job, deleted: boolean): void {
    const uid = job.metadata?.uid;
    if (uid === undefined) return;
    let entry = this.jobs.get(uid);
    if (entry === undefined) {
      const a = job.metadata?.annotations ?? {};
      entry = {
        uid,
        name: job.metadata?.name ?? '',
        triggerKind: job.metadata?.labels?.[JOB_LABELS.triggerKind] ?? '',
        trigger: a[JOB_ANNOTATIONS.trigger] ?? job.metadata?.labels?.[JOB_LABELS.triggerName] ?? '',
        commit: a[JOB_ANNOTATIONS.commit] ?? '',
        runKey: a[JOB_ANNOTATIONS.runKey] ?? '',
        createdAt: new Date(job.metadata?.creationTimestamp ?? Date.now()).getTime(),
        ttlSeconds: job.spec?.ttlSecondsAfterFinished,
      };
      this.jobs.set(uid, entry);
      this.#active.set(uid, entry);
    }
    const now = Date.now();
    if (job.spec?.suspend === false && entry.admittedAt === undefined) entry.admittedAt = now;
    const finished =
      job.status?.completionTime !== undefined ||
      (job.status?.conditions ?? []).some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
    if (finished && entry.finishedAt === undefined) entry.finishedAt = now;
    if (deleted && entry.deletedAt === undefined) {
      entry.deletedAt = now;
      this.#active.delete(uid);
    }
  }

  // Runs admitted Jobs for runSeconds, then deletes them ttlSecondsAfterFinished after they finished.
  #sweep(): void {
    const now = Date.now();
    for (const job of this.#active.values()) {
      if (this.#inFlight >= IN_FLIGHT) return;
      if (job.busy === true || job.deletedAt !== undefined) continue;
      if (job.finishedAt === undefined && job.admittedAt !== undefined && now - job.admittedAt >= this.#runMs) {
        this.#act(job, () => this.#complete(job), 'complete a Job');
      } else if (job.finishedAt !== undefined && now - job.finishedAt >= (job.ttlSeconds ?? 0) * 1000) {
        this.#act(job, () => this.#delete(job), 'delete a finished Job');
      }
    }
  }

  #act(job: LedgerJob, fn: () => Promise<void>, what: string): void {
    job.busy = true;
    this.#inFlight++;
    fn()
      .catch((err: unknown) => {
        // Gone already (the controller expired or replaced it): the watch reports the deletion.
        if (err instanceof ApiError && err.status === 404) return;
        this.#error(`could not ${what}`, err);
      })
      .finally(() => {
        job.busy = false;
        this.#inFlight--;
      });
  }

  async #complete(job: LedgerJob): Promise<void> {
    const at = new Date().toISOString();
    const started = new Date(job.admittedAt ?? Date.now()).toISOString();
    await this.#api.call(
      'PATCH',
      `/apis/batch/v1/namespaces/${this.#namespace}/jobs/${job.name}/status`,
      {
        status: {
          startTime: started,
          completionTime: at,
          succeeded: 1,
          conditions: [
            { type: 'SuccessCriteriaMet', status: 'True', lastTransitionTime: at },
            { type: 'Complete', status: 'True', lastTransitionTime: at },
          ],
        },
      },
      'application/merge-patch+json',
    );
    job.finishedAt ??= Date.now();
    this.completed++;
  }

  async #delete(job: LedgerJob): Promise<void> {
    await this.#api.call('DELETE', `/apis/batch/v1/namespaces/${this.#namespace}/jobs/${job.name}`, {
      kind: 'DeleteOptions',
      apiVersion: 'v1',
      propagationPolicy: 'Background',
      preconditions: { uid: job.uid },
    });
    this.deleted++;
    job.deletedAt ??= Date.now();
    this.#active.delete(job.uid);
  }

  #error(kind: string, err: unknown): void {
    const detail = err instanceof Error ? err.message : String(err);
    const k = this.errors.get(kind);
    if (k === undefined) this.errors.set(kind, { count: 1, example: detail.slice(0, 200) });
    else k.count++;
  }
}

import { type BatchV1Api, PatchStrategy, setHeaderOptions, type V1Job } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { RuntimeConfig } from '../config/index.js';
import { LABELS } from '../jobs/index.js';
import { type CheckContext, publishEvent, writeStatus } from './check.js';
import type { Metrics } from './metrics.js';
import { messageOf, statusOf, timestamp } from './util.js';
import type { World } from './world.js';

type Phase = 'Queued' | 'Running' | 'Succeeded' | 'Failed';

/** Where a Job is in its life, from its own spec and status. */
export function jobPhase(job: V1Job): Phase {
  const conditions = job.status?.conditions ?? [];
  if (conditions.some((c) => c.type === 'Complete' && c.status === 'True') || (job.status?.succeeded ?? 0) > 0)
    return 'Succeeded';
  if (conditions.some((c) => c.type === 'Failed' && c.status === 'True') || (job.status?.failed ?? 0) > 0)
    return 'Failed';
  return job.spec?.suspend === true ? 'Queued' : 'Running';
}

const WAIT_TIMEOUT = 'git-events-runner.rs/wait-timeout-seconds';
const PASS_GAP_MS = 100;

/**
 * The cluster-wide Job queue, run by the leader. Jobs are created suspended; the queue admits the oldest
 * waiting Jobs while fewer than `maxRunningJobs` admitted Jobs are unfinished (counted from the Jobs
 * themselves, so it holds across replicas and restarts), deletes Jobs that waited longer than their
 * timeout (Expired), and reports each Job's end exactly once: to metrics, to the trigger's status and as
 * an Event.
 */
export class JobQueue {
  readonly #ctx: CheckContext;
  readonly #batch: BatchV1Api;
  readonly #world: World;
  readonly #metrics: Metrics;
  readonly #config: () => RuntimeConfig;
  readonly #log: Logger;
  readonly #seen = new Map<string, Phase>();
  /** Jobs deleted here for waiting too long (counted Expired, not Deleted); emptied by their delete events. */
  readonly #expired = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #pass: Promise<void> = Promise.resolve();
  #again = false;
  #running = false;
  #lastPass = Number.NEGATIVE_INFINITY;

  constructor(ctx: CheckContext, metrics: Metrics) {
    this.#ctx = ctx;
    this.#batch = ctx.batch;
    this.#world = ctx.world;
    this.#metrics = metrics;
    this.#config = ctx.runtimeConfig;
    this.#log = ctx.log;
  }

  /** Starts admitting (on becoming leader): remembers the current phase of every Job, then reconciles. */
  start(): void {
    for (const job of this.#world.jobs.list()) this.#seen.set(job.metadata?.uid ?? '', jobPhase(job));
    this.#running = true;
    this.#timer = setInterval(() => this.poke(), 5000);
    this.#timer.unref();
    this.poke();
  }

  stop(): void {
    this.#running = false;
    clearInterval(this.#timer);
  }

  /** A Job changed: note terminal transitions, then reconcile. */
  observe(job: V1Job, kind: 'add' | 'update' | 'delete'): void {
    const uid = job.metadata?.uid ?? '';
    const before = this.#seen.get(uid);
    const phase = jobPhase(job);
    if (kind === 'delete') {
      this.#seen.delete(uid);
      // A Job this queue deleted for waiting too long was counted Expired already.
      const expired = this.#expired.delete(uid);
      if (this.#running && !expired && before !== undefined && before !== 'Succeeded' && before !== 'Failed')
        this.#metrics.jobsCompleted.inc({ status: 'Deleted' });
    } else {
      this.#seen.set(uid, phase);
      if (this.#running && before !== phase && (phase === 'Succeeded' || phase === 'Failed'))
        this.#finished(job, phase);
    }
    this.poke();
  }

  #finished(job: V1Job, phase: 'Succeeded' | 'Failed'): void {
    const status = phase === 'Succeeded' ? 'Succeed' : 'Failed';
    this.#metrics.jobsCompleted.inc({ status });
    const start = job.status?.startTime;
    const end = job.status?.completionTime ?? new Date(this.#ctx.now());
    if (start !== undefined)
      this.#metrics.jobsCompletedDuration.observe(
        { status },
        (new Date(end).getTime() - new Date(start).getTime()) / 1000,
      );
    this.#recordOnTrigger(job, phase).catch((err: unknown) =>
      this.#log.warn({ job: job.metadata?.name, err: messageOf(err) }, 'could not record the Job on its trigger'),
    );
  }

  async #recordOnTrigger(job: V1Job, phase: 'Succeeded' | 'Failed' | 'Expired'): Promise<void> {
    const labels = job.metadata?.labels ?? {};
    const kind = labels[LABELS.triggerKind] === 'WebhookTrigger' ? 'WebhookTrigger' : 'ScheduleTrigger';
    const namespace = job.metadata?.namespace ?? '';
    const triggerName = job.metadata?.annotations?.['git-events-runner.rs/trigger'] ?? labels[LABELS.triggerName] ?? '';
    const source = job.metadata?.annotations?.['git-events-runner.rs/source'] ?? '';
    const name = job.metadata?.name ?? '';
    await writeStatus(this.#ctx, { kind, namespace, name: triggerName }, (fresh, generation) => {
      const entry = fresh?.checkedSources?.[source];
      if (fresh === undefined || entry?.lastJob?.name !== name) return fresh ?? {};
      const lastJob = {
        ...entry.lastJob,
        phase,
        ...(job.status?.startTime !== undefined
          ? { startTime: timestamp(new Date(job.status.startTime).getTime()) }
          : {}),
        ...(job.status?.completionTime !== undefined
          ? { completionTime: timestamp(new Date(job.status.completionTime).getTime()) }
          : {}),
      };
      return {
        ...fresh,
        observedGeneration: fresh.observedGeneration ?? generation,
        checkedSources: { ...fresh.checkedSources, [source]: { ...entry, lastJob } },
      };
    });
    const reason = phase === 'Succeeded' ? 'JobSucceeded' : phase === 'Failed' ? 'JobFailed' : 'JobExpired';
    await publishEvent(
      this.#ctx,
      { kind, namespace, name: triggerName },
      phase === 'Succeeded' ? 'Normal' : 'Warning',
      reason,
      'TrackJob',
      `Job ${name} ${phase.toLowerCase()}`,
    );
  }

  /**
   * Runs a reconcile pass soon; passes never overlap, and a request during a pass runs one more. Passes
   * start at least PASS_GAP_MS apart: every Job event pokes, and a burst of Job creations then costs a
   * few passes over the Jobs instead of one per Job.
   */
  poke(): void {
    if (!this.#running) return;
    if (this.#again) return;
    this.#again = true;
    this.#pass = this.#pass.then(async () => {
      const wait = this.#lastPass + PASS_GAP_MS - this.#ctx.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(wait, PASS_GAP_MS)));
      this.#again = false;
      this.#lastPass = this.#ctx.now();
      try {
        await this.#reconcile();
      } catch (err: unknown) {
        this.#log.warn({ err: messageOf(err) }, 'job queue pass failed');
      }
    });
  }

  async #reconcile(): Promise<void> {
    if (!this.#running) return;
    const config = this.#config();
    const limit = config.action.maxRunningJobs;
    const now = this.#ctx.now();
    // Every Job event runs a pass, and Jobs that wait can number thousands: one linear walk, timestamps
    // read once, and a sort only when there is room to admit.
    let running = 0;
    const waiting: { job: V1Job; created: number }[] = [];
    for (const job of this.#world.jobs.list()) {
      if (job.metadata?.deletionTimestamp !== undefined) continue;
      const phase = jobPhase(job);
      if (phase === 'Running') running += 1;
      else if (phase === 'Queued')
        waiting.push({ job, created: new Date(job.metadata?.creationTimestamp ?? now).getTime() });
    }
    const fresh: { job: V1Job; created: number }[] = [];
    for (const entry of waiting) {
      const { job, created } = entry;
      const timeout = Number(job.metadata?.annotations?.[WAIT_TIMEOUT] ?? config.action.jobWaitingTimeoutSeconds);
      if (now - created > timeout * 1000) {
        // Marked before the delete: the watch may report the deletion before the call returns.
        const uid = job.metadata?.uid ?? '';
        this.#expired.add(uid);
        await this.#batch
          .deleteNamespacedJob({
            name: job.metadata?.name ?? '',
            namespace: job.metadata?.namespace ?? '',
            propagationPolicy: 'Background',
          })
          .then(() => {
            this.#metrics.jobsCompleted.inc({ status: 'Expired' });
            return this.#recordOnTrigger(job, 'Expired');
          })
          .catch((err: unknown) => {
            if (statusOf(err) !== 404) {
              this.#expired.delete(uid);
              this.#log.warn({ job: job.metadata?.name, err: messageOf(err) }, 'could not delete an expired Job');
            }
          });
      } else fresh.push(entry);
    }
    let capacity = limit - running;
    // The oldest first.
    if (capacity > 0) fresh.sort((a, b) => a.created - b.created);
    for (const { job, created } of fresh) {
      if (capacity <= 0) break;
      try {
        await this.#batch.patchNamespacedJob(
          {
            name: job.metadata?.name ?? '',
            namespace: job.metadata?.namespace ?? '',
            body: { spec: { suspend: false } },
          },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
        capacity -= 1;
        this.#metrics.queueWaitingDuration.observe(Math.max(0, now - created) / 1000);
      } catch (err: unknown) {
        if (statusOf(err) !== 404)
          this.#log.warn({ job: job.metadata?.name, err: messageOf(err) }, 'could not admit a Job');
      }
    }
    this.#metrics.queueLimit.set(limit);
    this.#metrics.queueRunning.set(limit - capacity);
    this.#metrics.queueWaiting.set(Math.max(0, fresh.length - (limit - running - capacity)));
  }
}

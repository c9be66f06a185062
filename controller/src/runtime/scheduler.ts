import { GROUP, RUN_REQUESTED_AT_ANNOTATION, VERSION } from '@git-events-runner/shared';
import { nextRun, parseSchedule, type Schedule, TimerQueue } from '@git-events-runner/shared/schedule';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { type CheckContext, publishEvent, runCheck, writeStatus } from './check.js';
import type { Metrics } from './metrics.js';
import { readyCondition } from './status.js';
import { messageOf, Semaphore, timestamp } from './util.js';
import type { ScheduleTriggerObject } from './world.js';

/** Annotation asking for one immediate check; removed once the check ran. */
export const RUN_REQUESTED_AT = RUN_REQUESTED_AT_ANNOTATION;

/** Longest delay failure backoff adds to an interval schedule (never below the interval itself). */
const MAX_FAILURE_BACKOFF_MS = 5 * 60_000;

/**
 * Delay before the next check of an interval trigger whose last `failures` checks failed in a row: the
 * interval doubled per failure, at most 16 times the interval and at most 5 minutes, but never less
 * than the interval. A broken git server is asked less and less often; one success resets it.
 */
export function failureBackoffMs(intervalMs: number, failures: number): number {
  if (failures <= 0) return intervalMs;
  const grown = intervalMs * 2 ** Math.min(failures - 1, 4);
  return Math.max(intervalMs, Math.min(grown, MAX_FAILURE_BACKOFF_MS));
}

interface Entry {
  /** What the current timer was computed from; a change of it reschedules. */
  signature: string;
  /** Checks in a row that had a failed source (for backoff). */
  failures: number;
  /** A run-now request that arrived while a check was running: it runs as soon as that one ends. */
  pendingRequest?: string;
  schedule: Schedule;
  running: Promise<void> | undefined;
  handledRequest: string | undefined;
}

/**
 * Runs ScheduleTriggers' checks on the leader: one timer heap for all triggers, at most `parallelism`
 * checks at once. The first run after (re)scheduling honours `status.lastRun`, so a restart or a new
 * leader never fires every trigger at once.
 */
export class TriggerScheduler {
  readonly #ctx: CheckContext;
  readonly #metrics: Metrics;
  readonly #timers: TimerQueue<string>;
  readonly #limit: Semaphore;
  readonly #entries = new Map<string, Entry>();
  #stopped = false;

  constructor(ctx: CheckContext, metrics: Metrics, parallelism: number) {
    this.#ctx = ctx;
    this.#metrics = metrics;
    this.#limit = new Semaphore(parallelism);
    this.#timers = new TimerQueue<string>({
      onError: (key, err) => ctx.log.error({ trigger: key, err: messageOf(err) }, 'scheduled check failed to start'),
    });
  }

  /** Number of triggers with a pending timer. */
  get scheduled(): number {
    return this.#timers.size;
  }

  /** Brings the schedule of one trigger in line with its current object (add/update), or drops it (delete). */
  sync(trigger: ScheduleTriggerObject, kind: 'add' | 'update' | 'delete'): void {
    if (this.#stopped) return;
    const namespace = trigger.metadata.namespace ?? '';
    const key = `${namespace}/${trigger.metadata.name}`;
    if (kind === 'delete') {
      this.#timers.cancel(key);
      this.#entries.delete(key);
      return;
    }
    let schedule: Schedule;
    try {
      schedule = parseSchedule(trigger.spec.schedule);
    } catch (err: unknown) {
      this.#timers.cancel(key);
      this.#entries.delete(key);
      this.#setCondition(trigger, 'InvalidSchedule', `invalid schedule: ${messageOf(err)}`, true);
      return;
    }
    if (trigger.spec.suspend === true) {
      this.#timers.cancel(key);
      this.#entries.delete(key);
      this.#setCondition(trigger, 'Suspended', 'suspended: scheduled checks are stopped', false);
      return;
    }
    const lastRun = trigger.status?.lastRun;
    const signature = JSON.stringify([
      schedule.kind === 'interval' ? schedule.intervalMs : [schedule.expression, schedule.timeZone],
      trigger.spec.startingDeadlineSeconds ?? null,
    ]);
    const entry = this.#entries.get(key);
    const requested = trigger.metadata.annotations?.[RUN_REQUESTED_AT];
    const ready = trigger.status?.conditions?.find((c) => c.type === 'Ready');
    if (ready === undefined || ready.reason === 'InvalidSchedule' || ready.reason === 'Suspended') {
      this.#setCondition(trigger, 'Waiting', 'scheduled; waiting for the first check', false);
    }
    if (requested !== undefined && requested !== entry?.handledRequest) {
      const e = entry ?? { signature, schedule, running: undefined, handledRequest: undefined, failures: 0 };
      e.handledRequest = requested;
      e.signature = signature;
      e.schedule = schedule;
      this.#entries.set(key, e);
      this.#timers.schedule(key, this.#ctx.now(), () =>
        this.#fire(key, namespace, trigger.metadata.name, `request:${requested}`, true, this.#ctx.now()),
      );
      return;
    }
    if (entry !== undefined && entry.signature === signature) return;
    const next = nextRun(schedule, {
      lastRun: lastRun === undefined || lastRun === 'Never' ? undefined : new Date(lastRun),
      now: new Date(this.#ctx.now()),
      ...(trigger.spec.startingDeadlineSeconds !== undefined
        ? { startingDeadlineSeconds: trigger.spec.startingDeadlineSeconds }
        : {}),
    });
    this.#entries.set(key, {
      signature,
      schedule,
      failures: 0,
      running: entry?.running,
      handledRequest: entry?.handledRequest ?? requested,
    });
    const slot = (next.missed ?? next.at).toISOString();
    this.#timers.schedule(key, next.at.getTime(), () =>
      this.#fire(key, namespace, trigger.metadata.name, `slot:${slot}`, false, next.at.getTime()),
    );
  }

  #setCondition(
    trigger: ScheduleTriggerObject,
    reason: 'InvalidSchedule' | 'Suspended' | 'Waiting',
    message: string,
    event: boolean,
  ): void {
    const req = {
      kind: 'ScheduleTrigger' as const,
      namespace: trigger.metadata.namespace ?? '',
      name: trigger.metadata.name,
    };
    const before = trigger.status?.conditions?.find((c) => c.type === 'Ready');
    writeStatus(this.#ctx, req, (fresh, generation) => {
      const now = timestamp(this.#ctx.now());
      const ready = readyCondition({
        generation,
        previous: fresh?.conditions?.find((c) => c.type === 'Ready'),
        now,
        reason,
        message,
      });
      return {
        ...fresh,
        state: reason === 'InvalidSchedule' ? 'WrongConfig' : (fresh?.state ?? 'Idle'),
        lastRun: fresh?.lastRun ?? 'Never',
        checkedSources: fresh?.checkedSources ?? {},
        observedGeneration: generation,
        conditions: [...(fresh?.conditions ?? []).filter((c) => c.type !== 'Ready'), ready],
      };
    })
      .then(async () => {
        if (event && (before?.reason !== reason || before.message !== message)) {
          await publishEvent(
            this.#ctx,
            { kind: 'ScheduleTrigger', namespace: req.namespace, name: req.name, uid: trigger.metadata.uid },
            'Warning',
            'InvalidConfiguration',
            'ValidateTrigger',
            message,
          );
        }
      })
      .catch((err: unknown) =>
        this.#ctx.log.warn({ trigger: `${req.namespace}/${req.name}`, err: messageOf(err) }, 'status write failed'),
      );
  }

  #fire(key: string, namespace: string, name: string, runKey: string, requested: boolean, dueAt: number): void {
    const entry = this.#entries.get(key);
    if (entry === undefined || this.#stopped) return;
    if (entry.running !== undefined) {
      // The running check reschedules when it ends; a run-now request must not be lost meanwhile.
      if (requested) entry.pendingRequest = runKey;
      return;
    }
    entry.running = this.#limit
      .run(async () => {
        if (this.#stopped) return;
        const started = this.#ctx.now();
        if (!requested) this.#metrics.scheduleLateness.observe(Math.max(0, started - dueAt) / 1000);
        const outcome = await runCheck(this.#ctx, {
          kind: 'ScheduleTrigger',
          namespace,
          name,
          runKeys: [runKey],
          coalesce: !requested,
        });
        const labels = { namespace, trigger_kind: 'ScheduleTrigger', trigger_name: name };
        this.#metrics.checkDuration.observe(labels, (this.#ctx.now() - started) / 1000);
        const ok = outcome.results.every((r) => r.ok);
        this.#metrics.checks.inc({ ...labels, result: ok ? 'ok' : 'failed' });
        entry.failures = ok ? 0 : entry.failures + 1;
        if (requested) await this.#clearRequest(namespace, name);
      })
      .catch((err: unknown) => this.#ctx.log.error({ trigger: key, err: messageOf(err) }, 'check failed'))
      .finally(() => {
        entry.running = undefined;
        if (this.#stopped || this.#entries.get(key) !== entry) return;
        const pending = entry.pendingRequest;
        if (pending !== undefined) {
          entry.pendingRequest = undefined;
          this.#timers.schedule(key, this.#ctx.now(), () =>
            this.#fire(key, namespace, name, pending, true, this.#ctx.now()),
          );
          return;
        }
        const now = this.#ctx.now();
        const next =
          entry.schedule.kind === 'interval' && entry.failures > 0
            ? { at: new Date(now + failureBackoffMs(entry.schedule.intervalMs, entry.failures)), missed: undefined }
            : nextRun(entry.schedule, { lastRun: new Date(now), now: new Date(now) });
        const slot = (next.missed ?? next.at).toISOString();
        this.#timers.schedule(key, next.at.getTime(), () =>
          this.#fire(key, namespace, name, `slot:${slot}`, false, next.at.getTime()),
        );
      });
  }

  async #clearRequest(namespace: string, name: string): Promise<void> {
    await this.#ctx.custom
      .patchNamespacedCustomObject(
        {
          group: GROUP,
          version: VERSION,
          namespace,
          plural: 'scheduletriggers',
          name,
          body: { metadata: { annotations: { [RUN_REQUESTED_AT]: null } } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )
      .catch((err: unknown) =>
        this.#ctx.log.warn({ trigger: `${namespace}/${name}`, err: messageOf(err) }, 'could not clear the run request'),
      );
  }

  /** Stops scheduling and waits for running checks, at most `deadlineMs`. */
  async stop(deadlineMs: number): Promise<void> {
    this.#stopped = true;
    this.#timers.stop();
    const running = [...this.#entries.values()]
      .map((e) => e.running)
      .filter((p): p is Promise<void> => p !== undefined);
    this.#entries.clear();
    await Promise.race([Promise.all(running), new Promise((r) => setTimeout(r, deadlineMs).unref())]);
  }
}

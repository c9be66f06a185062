import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { HttpAgents } from '@git-events-runner/shared/git';
import {
  BatchV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  type KubeConfig,
  type V1ConfigMap,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { controllerVersion, parseRuntimeConfig, type RunOptions, type RuntimeConfig } from '../config/index.js';
import { LABELS } from '../jobs/index.js';
import { WatchedSecrets } from '../sources/secrets.js';
import { buildWebhookApp } from '../webhooks/app.js';
import { journalName, pendingVerdict } from '../webhooks/journal.js';
import { WebhookJournal } from '../webhooks/journal-store.js';
import { type Task, TaskStore } from '../webhooks/tasks.js';
import { loadWebhookTls } from '../webhooks/tls.js';
import { Batches } from './batches.js';
import { type CheckContext, publishEvent, runCheck } from './check.js';
import { JobCreatedEvents } from './job-events.js';
import { closeConnections } from './kubeconfig.js';
import { LeaderElector } from './leader.js';
import { Metrics } from './metrics.js';
import { JobQueue } from './queue.js';
import { TriggerScheduler } from './scheduler.js';
import { buildUtilityApp } from './server.js';
import { StatusWrites } from './status-writes.js';
import { startTracing } from './tracing.js';
import { messageOf, Semaphore } from './util.js';
import { type ScheduleTriggerObject, World } from './world.js';

/** What the controller takes from its process environment, read once at start-up. */
export interface ProcessInputs {
  /** HTTPS_PROXY, HTTP_PROXY, NO_PROXY (either case) for git over http(s). */
  readonly proxyEnv: Readonly<Record<string, string | undefined>>;
  /** OTEL_* variables for tracing. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** How often the webhook TLS certificate is re-read (default 5 s). */
  readonly tlsReloadMs?: number;
  /** Address the utility server binds (default all interfaces, for the kubelet and Prometheus). */
  readonly listenHost?: string;
}

/** A running controller process. */
export interface RunningController {
  readonly identity: string;
  /** Resolves when the process has shut down (after stop() or a signal). */
  readonly done: Promise<void>;
  /** Port the utility server listens on. */
  readonly utilityPort: number;
  stop(): Promise<void>;
}

/**
 * `git-events-runner run`: caches, leader election, schedules and the Job queue on the leader, probes and
 * metrics everywhere. Returns once the utility server listens; readiness follows the caches.
 */
export async function startController(
  kc: KubeConfig,
  options: RunOptions,
  log: Logger,
  defaults: RuntimeConfig,
  process_: ProcessInputs,
): Promise<RunningController> {
  const identity = `${hostname()}-${randomUUID()}`;
  const tracing = startTracing(process_.env, controllerVersion());
  const metrics = new Metrics(options.metricsPrefix);
  const core = kc.makeApiClient(CoreV1Api);
  let runtimeConfig: RuntimeConfig = defaults;
  let shuttingDown = false;
  let scheduler: TriggerScheduler | undefined;
  let queue: JobQueue | undefined;

  const hosts = new Map<string, Semaphore>();
  const world: World = new World(
    kc,
    log,
    { namespace: options.namespace, configMapName: options.configMapName },
    {
      onScheduleTrigger: (t, kind) => scheduler?.sync(t, kind),
      onJob: (job, kind) => queue?.observe(job, kind),
      onConfigMap: (cm: V1ConfigMap, kind) => {
        if (kind === 'delete') {
          log.warn({ configMap: options.configMapName }, 'runtime ConfigMap deleted; keeping the last configuration');
          return;
        }
        const text = cm.data?.runtimeConfig;
        if (text === undefined) {
          log.warn(
            { configMap: options.configMapName },
            'runtime ConfigMap has no runtimeConfig key; keeping the last configuration',
          );
          return;
        }
        try {
          runtimeConfig = parseRuntimeConfig(text);
          log.info({ configMap: options.configMapName }, 'runtime configuration loaded');
          queue?.poke();
        } catch (err: unknown) {
          log.warn(
            { configMap: options.configMapName, err: messageOf(err) },
            'invalid runtime configuration; keeping the previous one',
          );
        }
      },
    },
  );
  const secrets = new WatchedSecrets(kc, core, { idleMs: Math.max(60, options.secretsCacheTimeSeconds) * 1000 });
  // Work checks hand off and shutdown waits for: Events after a Job, status writes of webhook checks (they
  // finish after their check, so the next batch starts sooner). Each promise here has its errors handled.
  const backgroundWork = new Set<Promise<void>>();
  const inBackground = (work: Promise<void>) => {
    backgroundWork.add(work);
    work.finally(() => backgroundWork.delete(work)).catch(() => undefined);
  };
  const eventsApi = kc.makeApiClient(EventsV1Api);
  const gitAgents = new HttpAgents();
  const ctx: CheckContext = {
    world,
    custom: kc.makeApiClient(CustomObjectsApi),
    batch: kc.makeApiClient(BatchV1Api),
    events: eventsApi,
    secrets,
    runtimeConfig: () => runtimeConfig,
    identity,
    cloneFolder: options.sourceCloneFolder,
    gitTimeoutMs: options.gitTimeoutSeconds * 1000,
    proxyEnv: process_.proxyEnv,
    gitAgents,
    perHost: (host) => {
      let s = hosts.get(host);
      if (s === undefined) {
        s = new Semaphore(options.perHostParallelism);
        hosts.set(host, s);
      }
      return s;
    },
    log,
    tracer: tracing.tracer,
    now: Date.now,
    // A trigger's status is written at most five times a second: a burst of webhook batches shares writes.
    statusWrites: new StatusWrites({ gapMs: 200 }),
    background: inBackground,
    // The Jobs of a trigger's checks within 200 ms share one JobCreated Event (webhook bursts).
    jobEvents: new JobCreatedEvents(
      (subject, note) =>
        publishEvent(
          { events: eventsApi, identity, log, now: Date.now },
          subject,
          'Normal',
          'JobCreated',
          'CreateJob',
          note,
        ),
      { windowMs: 200 },
    ),
    onJobCreated: (job) => {
      const labels = job.metadata?.labels ?? {};
      metrics.jobsCreated.inc({
        namespace: job.metadata?.namespace ?? '',
        trigger_kind: labels[LABELS.triggerKind] ?? '',
        trigger_name: job.metadata?.annotations?.['git-events-runner.rs/trigger'] ?? '',
      });
    },
  };

  const becameLeader = async (leading: boolean) => {
    metrics.leader.set(leading ? 1 : 0);
    if (leading) {
      await world.firstSync();
      if (shuttingDown || !elector.leading) return;
      scheduler = new TriggerScheduler(ctx, metrics, options.scheduleParallelism);
      queue = new JobQueue(ctx, metrics);
      queue.start();
      // Triggers that share a source are scheduled next to each other, so those falling due together run
      // back to back and share one ls-refs (and keep doing so in later rounds).
      const sourceKey = (t: ScheduleTriggerObject) =>
        `${t.spec.sources.kind ?? 'GitRepo'}/${t.spec.sources.kind === 'ClusterGitRepo' ? '' : t.metadata.namespace}/${[...t.spec.sources.names].sort().join(',')}`;
      const triggers = [...world.scheduleTriggers.list()].sort((x, y) => sourceKey(x).localeCompare(sourceKey(y)));
      for (const t of triggers) scheduler.sync(t, 'add');
    } else {
      // Losing the lease stops leader work at once; running checks finish in the background.
      const s = scheduler;
      scheduler = undefined;
      queue?.stop();
      queue = undefined;
      await s?.stop(0);
    }
  };
  const elector = new LeaderElector(
    kc.makeApiClient(CoordinationV1Api),
    {
      namespace: options.namespace,
      leaseName: options.leaderLease.name,
      identity,
      durationSeconds: options.leaderLease.durationSeconds,
      graceSeconds: options.leaderLease.graceSeconds,
    },
    log,
    (leading) => {
      becameLeader(leading).catch((err: unknown) => log.error({ err: messageOf(err) }, 'leader transition failed'));
    },
  );

  const app = buildUtilityApp({
    registry: metrics.registry,
    logger: log,
    notReady: () => {
      metrics.watchesSynced.set(world.synced ? 1 : 0);
      if (shuttingDown) return 'shutting down';
      const unsynced = world.unsynced;
      return unsynced.length === 0 ? undefined : `caches not synced: ${unsynced.join(', ')}`;
    },
  });
  await app.listen({ port: options.utilityPort, host: process_.listenHost ?? '0.0.0.0' });

  // Webhooks: every replica answers and runs the checks; Jobs wait for the leader's queue like any other.
  let webhookTls = await loadWebhookTls(options.tls, core);
  const tasks = new TaskStore();
  const webhookLimit = new Semaphore(options.webhooksParallelism);
  // One check at a time per trigger and source; the deliveries that arrive meanwhile share the next one.
  // A batch lets the next one ask git as soon as its own exchange is over (Jobs of consecutive batches are
  // created side by side), two at a time; a trigger whose concurrencyPolicy is not Allow keeps its batches
  // one after the other, since each decides from the Jobs the previous one left.
  const webhookChecks = new Batches<Task>((key, batch, release) => runWebhookCheck(key, batch, release), {
    depth: 2,
  });
  // Per key, the end of the last batch started: the next one writes its status after it.
  const lastBatch = new Map<string, Promise<void>>();
  // With --webhooks-ack recorded a request's check starts while its record is being written (the git
  // exchange overlaps the write); its Job waits for the record, and a request whose record failed (it was
  // answered 503) gets none.
  const recording = new WeakMap<Task, Promise<void>>();
  const journal = new WebhookJournal({
    core,
    namespace: options.namespace,
    name: journalName(options.configMapName),
    log,
  });
  const runWebhookCheck = (key: string, batch: Task[], release: () => void): Promise<void> => {
    const first = batch[0];
    if (first === undefined) return Promise.resolve();
    const policy = world.webhookTriggers.get(first.trigger, first.namespace)?.spec.concurrencyPolicy ?? 'Allow';
    const after = lastBatch.get(key);
    let ended: () => void = () => {};
    const end = new Promise<void>((resolve) => {
      ended = resolve;
    });
    lastBatch.set(key, end);
    const gates = batch.map((task) => recording.get(task));
    const admitted = gates.some((g) => g !== undefined)
      ? Promise.all(
          batch.map((task, i) =>
            (gates[i] ?? Promise.resolve()).then(
              () => task.runKey,
              () => undefined,
            ),
          ),
        ).then((keys) => keys.filter((k) => k !== undefined))
      : undefined;
    return webhookLimit
      .run(async () => {
        for (const task of batch) task.state = 'Running';
        const started = Date.now();
        const outcome = await runCheck(ctx, {
          kind: 'WebhookTrigger',
          namespace: first.namespace,
          name: first.trigger,
          ...(first.source !== undefined ? { source: first.source } : {}),
          runKeys: batch.map((task) => task.runKey),
          ...(admitted !== undefined ? { admitted } : {}),
          ...(policy === 'Allow' ? { onResolved: release } : {}),
          ...(after !== undefined ? { after } : {}),
          coalesce: false,
          statusInBackground: (write) =>
            inBackground(
              write.catch((err: unknown) =>
                log.warn(
                  { trigger: `${first.namespace}/${first.trigger}`, err: messageOf(err) },
                  'status write failed',
                ),
              ),
            ),
        });
        const labels = { namespace: first.namespace, trigger_kind: 'WebhookTrigger', trigger_name: first.trigger };
        metrics.checkDuration.observe(labels, (Date.now() - started) / 1000);
        metrics.checks.inc({ ...labels, result: outcome.results.every((r) => r.ok) ? 'ok' : 'failed' });
        for (const task of batch) {
          for (const r of outcome.results) {
            if (r.ok) {
              for (const job of r.jobs ?? [])
                if (job.runKey === task.runKey && !task.jobs.includes(job.name)) task.jobs.push(job.name);
              if (r.heldBy !== undefined) task.held.push({ source: r.source, job: r.heldBy });
            } else task.errors.push({ source: r.source, reason: r.reason, message: r.message });
          }
          task.state = task.errors.length === 0 ? 'Succeeded' : 'Failed';
        }
      })
      .catch((err: unknown) => {
        for (const task of batch) {
          task.state = 'Failed';
          task.errors.push({ source: task.source ?? '', reason: 'CheckFailed', message: messageOf(err) });
        }
      })
      .finally(() => {
        const now = Date.now();
        for (const task of batch) task.finishedAt = now;
        // Ended, well or not (a failure is in its task): off the journal.
        journal.settle(batch.map((task) => task.id));
        // Not before the batch before it: this batch's status write (which waits for that one) is then
        // queued, so the next batch's write comes after it.
        (after ?? Promise.resolve()).then(() => {
          ended();
          if (lastBatch.get(key) === end) lastBatch.delete(key);
        });
      });
  };
  // Accepted requests are listed in the webhook journal until their check ends, so a replica that dies in
  // between leaves them for the leader to replay (replayPending below).
  const record = (task: Task): Promise<void> =>
    journal.record(
      {
        task: task.id,
        namespace: task.namespace,
        trigger: task.trigger,
        ...(task.source !== undefined ? { source: task.source } : {}),
        runKey: task.runKey,
        acceptedAt: new Date(task.createdAt).toISOString(),
        replica: identity.slice(0, 253),
      },
      // With --webhooks-ack immediate nobody waits for the record: it rides on a later write, and a check
      // that ends first needs none.
      options.webhooksAck === 'recorded',
    );
  const startCheck = (task: Task) =>
    webhookChecks.submit(`${task.namespace}/${task.trigger}/${task.source ?? ''}`, task);
  const accept = async (task: Task): Promise<void> => {
    const recorded = record(task);
    if (options.webhooksAck === 'immediate') {
      startCheck(task);
      recorded.catch((err: unknown) =>
        log.warn(
          { trigger: `${task.namespace}/${task.trigger}`, task: task.id, err: messageOf(err) },
          'accepted webhook request not recorded: a replica stopping before its check would lose it',
        ),
      );
      return;
    }
    // The check asks git while the record is written; its Jobs wait for the record (runWebhookCheck).
    recording.set(task, recorded);
    startCheck(task);
    try {
      await recorded;
    } catch (err: unknown) {
      log.warn(
        { trigger: `${task.namespace}/${task.trigger}`, err: messageOf(err) },
        'webhook request refused (503): it could not be recorded',
      );
      throw err;
    }
  };
  // On the leader: requests accepted by a replica that stopped before their check ended are checked again
  // under their own task id and run key (the same Jobs: nothing runs twice).
  const replayAfterMs = options.webhooksReplayAfterSeconds * 1000;
  let replaying = false;
  const replayPending = async (): Promise<void> => {
    if (queue === undefined || shuttingDown || replaying) return;
    replaying = true;
    try {
      const now = Date.now();
      const { entries, invalid } = await journal.read();
      const settle: string[] = [...invalid];
      if (invalid.length > 0)
        log.warn({ keys: invalid.length }, 'webhook journal values that are not entries: removed');
      for (const entry of entries) {
        const local = tasks.get(entry.task);
        const verdict = pendingVerdict(entry, {
          now,
          replayAfterMs,
          local: local === undefined ? 'absent' : local.finishedAt === undefined ? 'running' : 'finished',
        });
        if (verdict === 'settle') settle.push(entry.task);
        if (verdict !== 'replay') continue;
        const acceptedAt = Date.parse(entry.acceptedAt);
        const task = tasks.restore({
          id: entry.task,
          namespace: entry.namespace,
          trigger: entry.trigger,
          source: entry.source,
          runKey: entry.runKey,
          createdAt: Number.isFinite(acceptedAt) ? acceptedAt : now,
        });
        // Its check's end takes it off the journal (runWebhookCheck), like one accepted here.
        journal.adopt([task.id]);
        const known = world.webhookTriggers.get(entry.trigger, entry.namespace) !== undefined;
        metrics.webhookReplays.inc({
          namespace: known ? entry.namespace : '',
          trigger_name: known ? entry.trigger : '',
        });
        log.info(
          { trigger: `${entry.namespace}/${entry.trigger}`, task: entry.task, replica: entry.replica },
          'checking an accepted webhook request again: its replica stopped before its check ended',
        );
        startCheck(task);
      }
      journal.adopt(settle);
      journal.settle(settle);
    } catch (err: unknown) {
      log.warn({ err: messageOf(err) }, 'could not read the webhook journal; trying again');
    } finally {
      replaying = false;
    }
  };
  // replayPending never rejects.
  const replayTimer = setInterval(
    () => {
      replayPending().catch(() => undefined);
    },
    Math.min(5000, replayAfterMs / 2),
  );
  replayTimer.unref();
  const webhooks = buildWebhookApp({
    logger: log,
    findTrigger: (namespace, name) => world.webhookTriggers.get(name, namespace),
    secrets,
    defaultAuthHeader: () => runtimeConfig.trigger.webhook.defaultAuthHeader,
    tasks,
    rateLimits: options.rateLimits,
    observe: (labels, seconds) => {
      metrics.webhookRequests.inc(labels);
      metrics.webhookDuration.observe(labels, seconds);
    },
    tls: webhookTls,
    backlog: { pending: () => webhookChecks.waiting + webhookLimit.waiting, max: options.webhooksMaxPending },
    accept,
  });
  await webhooks.listen({ port: options.webhooksPort, host: process_.listenHost ?? '0.0.0.0' });
  // A rotated certificate (files rewritten by cert-manager or a kubelet projection, or a changed Secret)
  // is picked up without a restart: new connections get it, established ones keep theirs.
  const tlsReload =
    webhookTls === undefined
      ? undefined
      : setInterval(() => {
          loadWebhookTls(options.tls, core)
            .then((next) => {
              if (next === undefined || (next.cert === webhookTls?.cert && next.key === webhookTls?.key)) return;
              (
                webhooks.server as unknown as { setSecureContext(o: { cert: string; key: string }): void }
              ).setSecureContext(next);
              webhookTls = next;
              log.info({ server: 'webhooks' }, 'TLS certificate reloaded');
            })
            .catch((err: unknown) =>
              log.warn({ err: messageOf(err) }, 'could not reload the TLS certificate; keeping the current one'),
            );
        }, process_.tlsReloadMs ?? 5000);
  tlsReload?.unref();
  const address = app.server.address();
  const utilityPort = typeof address === 'object' && address !== null ? address.port : options.utilityPort;

  world.start();
  world
    .firstSync()
    .then(() => {
      log.info({ identity }, 'caches synced');
      if (!shuttingDown) elector.start();
    })
    .catch((err: unknown) => log.error({ err: messageOf(err) }, 'cache sync failed'));

  let resolveDone: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve;
  });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      shuttingDown = true;
      log.info({ identity }, 'shutting down');
      const s = scheduler;
      scheduler = undefined;
      queue?.stop();
      const deadlineMs = options.shutdownTimeoutSeconds * 1000;
      // No new webhooks (the listener closes, requests in flight are answered); the checks of webhooks
      // already answered 202 and the scheduled checks under way get until the deadline to finish, so
      // nothing accepted is dropped half-done.
      const webhooksClosed = webhooks.close();
      await Promise.all([
        s?.stop(deadlineMs),
        Promise.race([
          webhooksClosed.then(() => webhookChecks.idle()).then(() => Promise.allSettled([...backgroundWork])),
          new Promise((resolve) => setTimeout(resolve, deadlineMs).unref()),
        ]),
      ]);
      // What the scheduled checks that just finished handed off (bounded: an API server that is gone does
      // not hold the shutdown).
      await Promise.race([
        Promise.allSettled([...backgroundWork]),
        new Promise((resolve) => setTimeout(resolve, 2000).unref()),
      ]);
      clearInterval(replayTimer);
      // Checks are over: their kept-alive git connections would only hold the process open.
      gitAgents.close();
      await journal.stop(2000);
      await elector.stop();
      clearInterval(tlsReload);
      await webhooksClosed;
      await app.close();
      await secrets.stop();
      await world.stop();
      await tracing.shutdown().catch((err: unknown) => log.warn({ err: messageOf(err) }, 'could not flush traces'));
      await closeConnections(kc);
      log.info({ identity }, 'stopped');
      resolveDone();
    })();
    return stopping;
  };
  return { identity, done, utilityPort, stop };
}

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { API_VERSION } from '@git-events-runner/shared';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { Command, InvalidArgumentError, Option } from 'commander';
import { stringify } from 'yaml';
import { type ControlPlane, startControlPlane } from './control-plane.js';
import { type ControllerProcess, startControllerProcess } from './controller-process.js';
import { createGitFixtures, type GitFixtures } from './git-fixtures.js';
import { type GitHttpServer, startGitHttpServer } from './git-http.js';
import { installCrds, kubectlOk } from './kube.js';
import { alive, cpuSeconds, residentMiB } from './processes.js';
import { type ShippedController, shippedController } from './shipped.js';
import { SoakJobs } from './soak-jobs.js';
import { type SoakApi, SoakError, soakApi } from './soak-kube.js';
import {
  type Kill,
  memoryTrends,
  memoryVerdict,
  renderReport,
  type Sample,
  type SoakResult,
  type Tick,
} from './soak-report.js';
import {
  account,
  allowUnanswered,
  type ErrorKind,
  eligibleRepos,
  exact,
  logErrorKinds,
  type MetricSample,
  parseMetrics,
  percentile,
  sumBy,
  unansweredRequests,
} from './soak-stats.js';
import { ensureTools } from './tools.js';

// `npm run soak -- --minutes 30`: the controller under steady load for a long time, against the local
// control plane. 1,000 ScheduleTriggers (onChangeOnly) over 100 repositories served by git http-backend,
// webhooks at a steady rate to a few WebhookTriggers (onChangeOnly: false: a Job per request), a commit
// to a random repository every few seconds, two controller replicas, and the leader SIGKILLed every few
// minutes with a replacement started each time (as a Deployment would). The soak itself plays the parts
// the local control plane lacks: it runs admitted Jobs to completion and deletes them after their TTL.
//
// At the end: Jobs expected vs created, exactly (every commit x every trigger of its repository, every
// 202 one Job; missing, unexpected and duplicated listed); RSS and heap in use over time with a
// least-squares trend after warm-up; event-loop delay p99; leader failover times; errors by kind from the
// controllers' logs and metrics and from the soak's own calls. Markdown on stdout, samples as JSON in --out.
//
// The commit rule that makes "every commit gets a Job" exact: with onChangeOnly a check sees only the tip,
// so two commits on one repository between two checks of a trigger rightly give one Job. A repository is
// therefore committed again only after interval + lease duration + 30 s (the longest gap between two
// checks of one trigger: an interval after the previous check ended, a failover of at most the lease, and
// slack for the check and a new leader's catch-up); the first commits wait that long after the start too.
// Exit code 1 when the Jobs do not match exactly, the memory trend fails, or the run was interrupted.

const NS = 'soak';
const SYSTEM_NS = 'ger-system';
const TOKEN = 'soak-webhook-token';
const PREFIX = 'git_events_runner';
const LEASE = 'git-events-runner-leader-lock';

interface Options {
  minutes: number;
  triggers: number;
  repos: number;
  interval: number;
  webhookRate: number;
  webhookTriggers: number;
  webhookTargets: 'all' | 'followers';
  commitEvery: number;
  killEveryMinutes: number;
  sampleEvery: number;
  warmupMinutes: number | undefined;
  leaseDuration: number;
  leaseGrace: number;
  maxRunningJobs: number;
  jobRunSeconds: number;
  jobTtlSeconds: number;
  maxGrowth: number;
  logLevel: string;
  out: string | undefined;
  report: string | undefined;
}

function number(flag: string, min: number, integer = false) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n)))
      throw new InvalidArgumentError(
        `${flag} must be ${integer ? 'an integer' : 'a number'} >= ${min} (got ${JSON.stringify(value)})`,
      );
    return n;
  };
}

function parseOptions(argv: readonly string[]): Options {
  const program = new Command('soak')
    .description('Long run of the controller under load, with leader kills; prints a markdown report')
    .option('--minutes <n>', 'how long the load runs', number('--minutes', 0.5), 30)
    .option('--triggers <n>', 'ScheduleTriggers (onChangeOnly: true)', number('--triggers', 1, true), 1000)
    .option('--repos <n>', 'git repositories the ScheduleTriggers spread over', number('--repos', 1, true), 100)
    .option('--interval <seconds>', 'check interval of the ScheduleTriggers', number('--interval', 1, true), 30)
    .option('--webhook-rate <n>', 'webhook requests per second (0: none)', number('--webhook-rate', 0), 5)
    .option('--webhook-triggers <n>', 'WebhookTriggers (onChangeOnly: false)', number('--webhook-triggers', 1, true), 4)
    .addOption(
      new Option('--webhook-targets <which>', 'replicas that receive webhooks, round robin (as a Service would)')
        .choices(['all', 'followers'])
        .default('all'),
    )
    .option('--commit-every <seconds>', 'a commit to a random repository this often', number('--commit-every', 0.2), 3)
    .option(
      '--kill-every-minutes <n>',
      'SIGKILL the leader this often (0: never)',
      number('--kill-every-minutes', 0),
      5,
    )
    .option('--sample-every <seconds>', 'RSS, heap and event-loop sampling period', number('--sample-every', 1), 10)
    .option(
      '--warmup-minutes <n>',
      'samples ignored by the trends (default: a third of the run, at most 5)',
      number('--warmup-minutes', 0),
    )
    .option('--lease-duration <seconds>', 'controller --leader-lease-duration', number('--lease-duration', 2, true), 30)
    .option('--lease-grace <seconds>', 'controller --leader-lease-grace', number('--lease-grace', 1, true), 5)
    .option('--max-running-jobs <n>', 'runtime config maxRunningJobs', number('--max-running-jobs', 1, true), 64)
    .option('--job-run-seconds <n>', 'how long the soak "runs" an admitted Job', number('--job-run-seconds', 0), 2)
    .option('--job-ttl-seconds <n>', 'runtime config ttlSecondsAfterFinished', number('--job-ttl-seconds', 0, true), 60)
    .option('--max-growth <MiB/h>', 'largest memory slope that passes', number('--max-growth', 0), 20)
    .addOption(
      new Option('--log-level <level>', 'controllers log level').choices(['info', 'warn', 'error']).default('warn'),
    )
    .option('--out <file>', 'where the samples go as JSON (default: a file in the temporary directory)')
    .option(
      '--report <file>',
      'print the report of an earlier run from its --out file (trends recomputed), run nothing',
    )
    .showHelpAfterError('(--help lists the options)');
  program.parse(argv, { from: 'user' });
  const o = program.opts<Options>();
  if (o.leaseGrace >= o.leaseDuration)
    program.error(`error: --lease-grace (${o.leaseGrace}) must be less than --lease-duration (${o.leaseDuration})`);
  return o;
}

/** One controller replica the soak started. */
interface Replica {
  readonly name: string;
  readonly proc: ControllerProcess;
  readonly pid: number;
  readonly startedAt: number;
  killedAt?: number;
  leaderSince?: number;
  leader: boolean;
  /** Counters from its last scrape (a SIGKILLed replica keeps the ones scraped before the kill). */
  counters?: MetricSample[];
  logsRead: boolean;
}

/** A webhook answered 202 and what became of its task. */
interface WebhookTask {
  readonly id: string;
  readonly trigger: string;
  readonly replica: string;
  readonly sentAt: number;
  state: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'LostWithReplica';
  jobs: string[];
  errors: string[];
}

const METRICS = new Set([
  'nodejs_heap_size_used_bytes',
  'nodejs_heap_size_total_bytes',
  'nodejs_external_memory_bytes',
  'nodejs_eventloop_lag_p99_seconds',
  'nodejs_eventloop_lag_max_seconds',
  `${PREFIX}_leader`,
  `${PREFIX}_trigger_checks_total`,
  `${PREFIX}_jobs_created_total`,
  `${PREFIX}_webhook_requests_total`,
  `${PREFIX}_jobs_queue_completed_total`,
]);
const COUNTERS = new Set([
  `${PREFIX}_trigger_checks_total`,
  `${PREFIX}_jobs_created_total`,
  `${PREFIX}_webhook_requests_total`,
  `${PREFIX}_jobs_queue_completed_total`,
]);

const MiB = 2 ** 20;
const log = (message: string) => process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

class Soak {
  readonly o: Options;
  readonly signal: AbortSignal;
  readonly binDir: string;
  readonly plane: ControlPlane;
  readonly git: GitHttpServer;
  readonly fixtures: GitFixtures;
  readonly kc: KubeConfig;
  readonly api: SoakApi;
  readonly jobs: SoakJobs;
  readonly replicas: Replica[] = [];
  readonly samples: Sample[] = [];
  readonly ticks: Tick[] = [];
  readonly kills: Kill[] = [];
  readonly tasks = new Map<string, WebhookTask>();
  readonly webhookAnswers: Record<string, number> = {};
  readonly webhookLatencies: number[] = [];
  readonly errors = new Map<string, ErrorKind>();
  readonly repoNames: string[];
  /** Every commit on each repository's main branch, in order (the first one made before the triggers). */
  readonly commits = new Map<string, string[]>();
  readonly lastCommitAt = new Map<string, number>();
  commitCount = 0;
  commitSkips = 0;
  t0 = 0;
  endAt = 0;
  #replicaSeq = 0;
  #roundRobin = 0;
  /** The bundle and NODE_OPTIONS the image and chart ship; undefined: the tsc build (GER_SOAK_DEV=1). */
  readonly shipped: ShippedController | undefined;

  constructor(
    o: Options,
    signal: AbortSignal,
    parts: {
      binDir: string;
      plane: ControlPlane;
      git: GitHttpServer;
      fixtures: GitFixtures;
      api: SoakApi;
      shipped: ShippedController | undefined;
    },
  ) {
    this.o = o;
    this.signal = signal;
    this.binDir = parts.binDir;
    this.plane = parts.plane;
    this.git = parts.git;
    this.fixtures = parts.fixtures;
    this.api = parts.api;
    this.shipped = parts.shipped;
    this.kc = new KubeConfig();
    this.kc.loadFromFile(parts.plane.kubeconfig);
    this.jobs = new SoakJobs(this.kc, parts.api, NS, { runSeconds: o.jobRunSeconds });
    this.repoNames = Array.from({ length: o.repos }, (_, i) => `r${i}`);
  }

  /** Seconds a repository waits between two commits; see eligibleRepos(). */
  get minGapSeconds(): number {
    // One interval after the previous check ended, plus a failover (at most the lease), plus slack for the
    // check itself and for a new leader's catch-up of every overdue trigger.
    return this.o.interval + this.o.leaseDuration + 30;
  }

  get running(): boolean {
    return !this.signal.aborted && Date.now() < this.endAt;
  }

  now(): number {
    return (Date.now() - this.t0) / 1000;
  }

  async nap(ms: number): Promise<void> {
    // Rejects only when aborted, which every loop checks right after.
    await sleep(Math.max(0, ms), undefined, { signal: this.signal }).catch(() => undefined);
  }

  error(kind: string, detail: string): void {
    const k = this.errors.get(kind);
    if (k === undefined) this.errors.set(kind, { count: 1, example: detail.slice(0, 200) });
    else k.count++;
  }

  async setup(): Promise<void> {
    const { o } = this;
    log(`creating ${o.repos} repositories, ${o.triggers} ScheduleTriggers and ${o.webhookTriggers} WebhookTriggers`);
    for (let i = 0; i < o.repos; i += 8) {
      await Promise.all(
        this.repoNames.slice(i, i + 8).map(async (r) => {
          await this.fixtures.create(r);
          this.commits.set(r, [(await this.fixtures.commit(r, { 'n.txt': '0\n' }, 'c0')).trim()]);
        }),
      );
    }
    const obj = (kind: string, name: string, spec: unknown, namespace = NS) =>
      stringify({ apiVersion: API_VERSION, kind, metadata: { name, namespace }, spec });
    const docs = [
      stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }),
      stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: SYSTEM_NS } }),
      stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'git-events-runner-config', namespace: SYSTEM_NS },
        data: {
          runtimeConfig: stringify({
            action: { maxRunningJobs: o.maxRunningJobs, ttlSecondsAfterFinished: o.jobTtlSeconds },
          }),
        },
      }),
      stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'auth', namespace: NS },
        stringData: { token: TOKEN },
      }),
      obj('Action', 'act', {}),
    ];
    for (const r of this.repoNames) docs.push(obj('GitRepo', r, { repoUri: this.git.url(r) }));
    for (let i = 0; i < o.triggers; i++) {
      docs.push(
        obj('ScheduleTrigger', `t${i}`, {
          sources: { names: [this.repoOf(i)], watchOn: { onChangeOnly: true } },
          schedule: { interval: `${o.interval}s` },
          action: { kind: 'Action', name: 'act' },
        }),
      );
    }
    for (let i = 0; i < o.webhookTriggers; i++) {
      docs.push(
        obj('WebhookTrigger', `w${i}`, {
          sources: { names: [this.repoNames[i % o.repos]], watchOn: { onChangeOnly: false } },
          action: { kind: 'Action', name: 'act' },
          webhook: { multiSource: false, authConfig: { secretRef: { name: 'auth' }, key: 'token' } },
        }),
      );
    }
    await kubectlOk(this.binDir, this.plane.kubeconfig, ['apply', '--server-side', '-f', '-'], docs.join('---\n'));
    await this.jobs.start();
  }

  repoOf(trigger: number): string {
    return this.repoNames[trigger % this.o.repos] ?? 'r0';
  }

  async startReplica(): Promise<Replica> {
    const name = `c${++this.#replicaSeq}`;
    const proc = await startControllerProcess({
      kubeconfig: this.plane.kubeconfig,
      namespace: SYSTEM_NS,
      args: [
        '--leader-lease-duration',
        String(this.o.leaseDuration),
        '--leader-lease-grace',
        String(this.o.leaseGrace),
        '--log-level',
        this.o.logLevel,
      ],
      ...(this.shipped !== undefined
        ? { entry: this.shipped.entry, nodeArgs: this.shipped.nodeArgs, env: this.shipped.env }
        : {}),
    });
    const replica: Replica = {
      name,
      proc,
      pid: proc.child.pid ?? 0,
      startedAt: Date.now(),
      leader: false,
      logsRead: false,
    };
    this.replicas.push(replica);
    log(`replica ${name} (pid ${replica.pid}) ready`);
    return replica;
  }

  live(): Replica[] {
    return this.replicas.filter((r) => r.killedAt === undefined);
  }

  /**
   * One scrape of a replica, recorded as a sample unless `record` is false; undefined when it does not
   * answer. prom-client resets its event-loop histogram on every scrape, so only the sampler scrapes during
   * the load: each sample's p99 then covers one whole sampling period.
   */
  async scrape(r: Replica, record = true, t = this.now()): Promise<Sample | undefined> {
    const res = await r.proc.get('/metrics');
    if (res.status !== 200 || !alive(r.pid)) {
      if (r.killedAt === undefined) this.error(`metrics of ${r.name} unavailable`, `status ${res.status}`);
      return undefined;
    }
    let rss = { total: Number.NaN, anon: Number.NaN, file: Number.NaN };
    let cpu = Number.NaN;
    try {
      rss = residentMiB(r.pid);
      cpu = cpuSeconds(r.pid);
    } catch {
      // Gone between the scrape and /proc: the sample keeps the metrics.
    }
    const m = parseMetrics(res.body, METRICS);
    const value = (name: string) => m.find((s) => s.name === name)?.value ?? Number.NaN;
    const leader = value(`${PREFIX}_leader`) === 1;
    const now = Date.now();
    if (leader && !r.leader) r.leaderSince = now;
    r.leader = leader;
    r.counters = m.filter((s) => COUNTERS.has(s.name));
    const sample: Sample = {
      t,
      replica: r.name,
      pid: r.pid,
      leader,
      roleAge: (now - (leader ? (r.leaderSince ?? now) : r.startedAt)) / 1000,
      rssMiB: rss.total,
      rssAnonMiB: rss.anon,
      rssFileMiB: rss.file,
      heapUsedMiB: value('nodejs_heap_size_used_bytes') / MiB,
      heapTotalMiB: value('nodejs_heap_size_total_bytes') / MiB,
      externalMiB: value('nodejs_external_memory_bytes') / MiB,
      lagP99Ms: value('nodejs_eventloop_lag_p99_seconds') * 1000,
      lagMaxMs: value('nodejs_eventloop_lag_max_seconds') * 1000,
      cpuSeconds: cpu,
    };
    if (record) this.samples.push(sample);
    return sample;
  }

  async sampler(): Promise<void> {
    const killEveryMs = this.o.killEveryMinutes * 60_000;
    let nextKillAt = killEveryMs === 0 ? Number.POSITIVE_INFINITY : this.t0 + killEveryMs;
    const kills: Promise<void>[] = [];
    for (let k = 0; this.running; k++) {
      const live = this.live();
      const t = this.now();
      const samples = await Promise.all(live.map((r) => this.scrape(r, true, t)));
      // A kill falls due at a sampling tick and picks the leader from this tick's scrapes (an extra scrape
      // would cut the next sample's event-loop window short). No single leader: the next tick tries again.
      const leaders = live.filter((_, i) => samples[i]?.leader === true);
      if (Date.now() >= nextKillAt - 1000 && nextKillAt < this.endAt && this.killing === undefined) {
        const leader = leaders.length === 1 ? leaders[0] : undefined;
        if (leader === undefined)
          this.error('no single leader to kill', `${leaders.length} leaders at ${(this.now() / 60).toFixed(1)} min`);
        else {
          nextKillAt += killEveryMs;
          this.killing = this.killLeader(leader).finally(() => {
            this.killing = undefined;
          });
          kills.push(this.killing);
        }
      }
      this.ticks.push({
        t,
        jobsSeen: this.jobs.jobs.size,
        jobsExisting: this.jobs.existing,
        commits: this.commitCount,
        webhookTasks: this.tasks.size,
      });
      const last = this.samples.filter((s) => s.t >= this.now() - 1);
      if (k % 6 === 0)
        log(
          `t=${(this.now() / 60).toFixed(1)} min: ${last.map((s) => `${s.replica}${s.leader ? '*' : ''} ${s.rssMiB.toFixed(0)} (anon ${s.rssAnonMiB?.toFixed(0)})/${s.heapUsedMiB.toFixed(0)} MiB lag ${s.lagP99Ms.toFixed(0)} ms`).join(', ')}; Jobs ${this.jobs.jobs.size} seen, ${this.jobs.existing} exist; ${this.commitCount} commits; ${this.tasks.size} webhook tasks`,
        );
      await this.nap(this.t0 + (k + 1) * this.o.sampleEvery * 1000 - Date.now());
    }
    await Promise.all(kills);
  }

  /** The kill under way (SIGKILL, failover, replacement), if any. */
  killing: Promise<void> | undefined;

  async committer(): Promise<void> {
    const gapMs = this.minGapSeconds * 1000;
    for (let k = 1; ; k++) {
      await this.nap(this.t0 + k * this.o.commitEvery * 1000 - Date.now());
      if (!this.running) return;
      const eligible = eligibleRepos(this.repoNames, this.lastCommitAt, Date.now(), gapMs);
      const repo = eligible[Math.floor(Math.random() * eligible.length)];
      if (repo === undefined) {
        this.commitSkips++;
        continue;
      }
      try {
        this.lastCommitAt.set(repo, Date.now());
        const id = (await this.fixtures.commit(repo, { 'n.txt': `${k}\n` }, `c${k}`)).trim();
        this.commits.get(repo)?.push(id);
        this.lastCommitAt.set(repo, Date.now());
        this.commitCount++;
      } catch (err: unknown) {
        this.error('commit failed', messageOf(err));
      }
    }
  }

  webhookTarget(): Replica | undefined {
    const candidates = this.live().filter((r) => this.o.webhookTargets === 'all' || !r.leader);
    if (candidates.length === 0) return undefined;
    return candidates[this.#roundRobin++ % candidates.length];
  }

  async sendWebhook(n: number): Promise<void> {
    const target = this.webhookTarget();
    if (target === undefined) {
      this.error('webhook not sent: no replica to send to', `request ${n}`);
      return;
    }
    const i = n % this.o.webhookTriggers;
    const trigger = `w${i}`;
    const started = performance.now();
    try {
      const res = await fetch(
        `http://127.0.0.1:${target.proc.webhooksPort}/${NS}/${trigger}/${this.repoNames[i % this.o.repos]}`,
        { method: 'POST', headers: { 'x-trigger-auth': TOKEN }, signal: AbortSignal.timeout(10_000) },
      );
      const body = (await res.json()) as { task_id?: string; message?: string };
      this.webhookAnswers[String(res.status)] = (this.webhookAnswers[String(res.status)] ?? 0) + 1;
      if (res.status === 202 && body.task_id !== undefined) {
        this.webhookLatencies.push(performance.now() - started);
        this.tasks.set(body.task_id, {
          id: body.task_id,
          trigger,
          replica: target.name,
          sentAt: Date.now(),
          state: 'Pending',
          jobs: [],
          errors: [],
        });
      } else this.error(`webhook answered ${res.status}`, body.message ?? '');
    } catch (err: unknown) {
      const cause = (err as { cause?: { code?: unknown } }).cause?.code;
      const code = typeof cause === 'string' ? cause : err instanceof Error ? err.name : 'error';
      this.webhookAnswers[code] = (this.webhookAnswers[code] ?? 0) + 1;
      this.error(
        `webhook request failed: ${code}${target.killedAt !== undefined ? ' (replica being killed)' : ''}`,
        messageOf(err),
      );
    }
  }

  async webhookSender(): Promise<void> {
    if (this.o.webhookRate === 0) return;
    const inFlight = new Set<Promise<void>>();
    for (let n = 0; ; n++) {
      await this.nap(this.t0 + (n * 1000) / this.o.webhookRate - Date.now());
      if (!this.running) break;
      // sendWebhook never rejects: every failure is recorded as an answer kind.
      const p = this.sendWebhook(n).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await Promise.all(inFlight);
  }

  /** Follows every webhook task on the replica that answered it, until it ends or the replica is killed. */
  async taskPoller(stop: () => boolean): Promise<void> {
    while (!stop()) {
      const pending = [...this.tasks.values()].filter((t) => t.state === 'Pending' || t.state === 'Running');
      for (let i = 0; i < pending.length; i += 8) {
        await Promise.all(pending.slice(i, i + 8).map((t) => this.pollTask(t)));
      }
      await sleep(1000);
    }
  }

  async pollTask(task: WebhookTask): Promise<void> {
    const r = this.replicas.find((x) => x.name === task.replica);
    if (r === undefined || r.killedAt !== undefined) {
      task.state = 'LostWithReplica';
      return;
    }
    try {
      const res = await fetch(`http://127.0.0.1:${r.proc.webhooksPort}/tasks/${task.id}`, {
        headers: { 'x-trigger-auth': TOKEN },
        signal: AbortSignal.timeout(5000),
      });
      const body = (await res.json()) as {
        state?: WebhookTask['state'];
        jobs?: string[];
        errors?: { reason: string }[];
      };
      if (res.status !== 200 || body.state === undefined) {
        // Killed while we asked: the next round marks it.
        if (r.killedAt === undefined) this.error(`GET /tasks answered ${res.status}`, JSON.stringify(body));
        return;
      }
      task.state = body.state;
      task.jobs = body.jobs ?? [];
      task.errors = (body.errors ?? []).map((e) => e.reason);
      if (task.state === 'Failed') this.error('webhook task Failed', task.errors.join(', '));
    } catch (err: unknown) {
      if (r.killedAt === undefined) this.error('GET /tasks failed', messageOf(err));
    }
  }

  async leaseHolder(): Promise<string> {
    try {
      const lease = (await this.api.call(
        'GET',
        `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NS}/leases/${LEASE}`,
      )) as { spec?: { holderIdentity?: string } };
      return lease.spec?.holderIdentity ?? '';
    } catch (err: unknown) {
      this.error('could not read the Lease', messageOf(err));
      return '';
    }
  }

  /** SIGKILLs the leader, measures the failover through the Lease and starts a replacement replica. */
  async killLeader(leader: Replica): Promise<void> {
    const holder = await this.leaseHolder();
    const killedAt = Date.now();
    const kill: Kill = { t: this.now(), replica: leader.name, pid: leader.pid };
    this.kills.push(kill);
    leader.killedAt = killedAt;
    await leader.proc.stop('SIGKILL');
    this.readLogs(leader);
    log(`SIGKILLed leader ${leader.name} (pid ${leader.pid})`);
    const failover = (async () => {
      const limit = killedAt + (this.o.leaseDuration * 2 + 60) * 1000;
      while (Date.now() < limit && !this.signal.aborted) {
        const now = await this.leaseHolder();
        if (now !== '' && now !== holder) {
          kill.failoverSeconds = (Date.now() - killedAt) / 1000;
          return;
        }
        await this.nap(250);
      }
      kill.note = 'no new leader within twice the lease + 60 s';
      this.error('no failover', `after the kill of ${leader.name}`);
    })();
    const replacement = (async () => {
      try {
        const r = await this.startReplica();
        kill.replacement = r.name;
        kill.replacementReadySeconds = (Date.now() - killedAt) / 1000;
      } catch (err: unknown) {
        this.error('replacement replica did not start', messageOf(err));
      }
    })();
    await Promise.all([failover, replacement]);
    log(`failover after ${kill.failoverSeconds?.toFixed(1) ?? '?'} s; replacement ${kill.replacement ?? 'none'}`);
  }

  readLogs(r: Replica): void {
    if (r.logsRead) return;
    r.logsRead = true;
    logErrorKinds(r.proc.logs(), this.controllerLogErrors);
  }

  readonly controllerLogErrors = new Map<string, ErrorKind>();

  expectedScheduleKeys(): Set<string> {
    const keys = new Set<string>();
    for (let i = 0; i < this.o.triggers; i++)
      for (const c of this.commits.get(this.repoOf(i)) ?? []) keys.add(`t${i}@${c}`);
    return keys;
  }

  expectedWebhookKeys(): Set<string> {
    return new Set([...this.tasks.values()].map((t) => `${t.trigger}#request:${t.id}`));
  }

  jobKeys(kind: 'ScheduleTrigger' | 'WebhookTrigger'): string[] {
    return [...this.jobs.jobs.values()]
      .filter((j) => j.triggerKind === kind)
      .map((j) => (kind === 'ScheduleTrigger' ? `${j.trigger}@${j.commit}` : `${j.trigger}#${j.runKey}`));
  }

  /**
   * Every expected Job exists and every task has ended. A task lost with its SIGKILLed replica is waited
   * for too: the request was recorded in its trigger's status before the 202, so the leader replays it
   * (after --webhooks-replay-after) under the same run key.
   */
  converged(): boolean {
    const seen = new Set([...this.jobKeys('ScheduleTrigger'), ...this.jobKeys('WebhookTrigger')]);
    for (const t of this.tasks.values()) {
      if (t.state === 'Pending' || t.state === 'Running') return false;
      if (!seen.has(`${t.trigger}#request:${t.id}`)) return false;
    }
    for (const k of this.expectedScheduleKeys()) if (!seen.has(k)) return false;
    return true;
  }

  async notReady(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    try {
      const custom = this.kc.makeApiClient(CustomObjectsApi);
      for (const plural of ['scheduletriggers', 'webhooktriggers']) {
        const list = (await custom.listNamespacedCustomObject({
          group: API_VERSION.split('/')[0] ?? '',
          version: API_VERSION.split('/')[1] ?? '',
          namespace: NS,
          plural,
        })) as { items: { status?: { conditions?: { type: string; status: string; reason?: string }[] } }[] };
        for (const item of list.items) {
          const ready = item.status?.conditions?.find((c) => c.type === 'Ready');
          if (ready?.status === 'True') continue;
          const key = `${plural === 'scheduletriggers' ? 'ScheduleTrigger' : 'WebhookTrigger'} ${ready?.reason ?? 'no Ready condition'}`;
          out[key] = (out[key] ?? 0) + 1;
        }
      }
    } catch (err: unknown) {
      this.error('could not list the triggers', messageOf(err));
    }
    return out;
  }

  /** Details of mismatched keys: the commit's repository and when the next commit on it came, or the task. */
  mismatchDetails(schedule: ReturnType<typeof account>, webhooks: ReturnType<typeof account>): string[] {
    const out: string[] = [];
    const commitTimes = new Map<string, { repo: string; index: number }>();
    for (const [repo, ids] of this.commits)
      for (const [index, id] of ids.entries()) commitTimes.set(id, { repo, index });
    for (const k of schedule.missing.slice(0, 10)) {
      const c = commitTimes.get(k.split('@')[1] ?? '');
      const later = c === undefined ? 0 : (this.commits.get(c.repo)?.length ?? 0) - c.index - 1;
      out.push(`missing ${k} (${c?.repo ?? '?'}, commit #${c?.index ?? '?'}, ${later} later commits on it)`);
    }
    for (const k of schedule.unexpected.slice(0, 5)) out.push(`unexpected ${k}`);
    for (const [k, n] of schedule.duplicated.slice(0, 5)) out.push(`duplicated ${k}: ${n} Jobs`);
    for (const k of webhooks.missing.slice(0, 10)) {
      const t = this.tasks.get(k.split('#request:')[1] ?? '');
      out.push(
        `missing ${k}: task ${t?.state ?? '?'} on ${t?.replica ?? '?'}${t?.errors.length ? ` (${t.errors.join(', ')})` : ''}`,
      );
    }
    for (const k of webhooks.unexpected.slice(0, 5)) out.push(`unexpected ${k}`);
    for (const [k, n] of webhooks.duplicated.slice(0, 5)) out.push(`duplicated ${k}: ${n} Jobs`);
    return out;
  }

  async run(): Promise<SoakResult> {
    const { o } = this;
    await this.startReplica();
    await this.startReplica();
    this.t0 = Date.now();
    for (const r of this.repoNames) this.lastCommitAt.set(r, this.t0);
    this.endAt = this.t0 + o.minutes * 60_000;
    log(`load running for ${o.minutes} min`);
    let pollerDone = false;
    const poller = this.taskPoller(() => pollerDone);
    await Promise.all([this.sampler(), this.committer(), this.webhookSender()]);
    const loadEnd = Date.now();
    const durationMinutes = (loadEnd - this.t0) / 60_000;
    const interrupted = this.signal.aborted;
    let converged = false;
    if (!interrupted) {
      log('load stopped; waiting for every expected Job');
      const deadline = Date.now() + (2 * o.interval + o.leaseDuration + 120) * 1000;
      while (!this.signal.aborted && Date.now() < deadline) {
        if (this.converged()) {
          converged = true;
          break;
        }
        await this.nap(1000);
      }
    }
    const convergenceSeconds = (Date.now() - loadEnd) / 1000;
    if (!this.signal.aborted) {
      // Duplicates and strays would come late: give every trigger one more check.
      log(`converged: ${converged}; one more interval for late Jobs`);
      await this.nap((o.interval + 10) * 1000);
    }
    pollerDone = true;
    await poller;
    const last = this.live();
    for (const r of last) await this.scrape(r, false);
    // A clean shutdown is part of the run: the replicas' last words are in their logs, and no Job may
    // appear while they stop.
    for (const p of await this.stopReplicas()) this.error(p.kind, p.detail);
    for (const r of last) this.readLogs(r);
    await this.jobs.reconcile().catch((err: unknown) => this.error('final Job list failed', messageOf(err)));
    const schedule = account(this.expectedScheduleKeys(), this.jobKeys('ScheduleTrigger'));
    // A request whose answer was lost (its replica killed while answering) may have been accepted: its Job,
    // once, is correct too.
    const webhooks = allowUnanswered(
      account(this.expectedWebhookKeys(), this.jobKeys('WebhookTrigger')),
      unansweredRequests(this.webhookAnswers),
    );
    const webhookJobs = new Set(this.jobKeys('WebhookTrigger'));
    for (const kill of this.kills) {
      const lost = [...this.tasks.values()].filter((t) => t.replica === kill.replica && t.state === 'LostWithReplica');
      kill.tasksLost = lost.length;
      kill.tasksLostWithoutJob = lost.filter((t) => !webhookJobs.has(`${t.trigger}#request:${t.id}`)).length;
    }

    const errors: SoakResult['errors'][number][] = [];
    for (const [kind, e] of this.controllerLogErrors) errors.push({ source: 'controller log', kind, ...e });
    const counters = this.replicas.flatMap((r) => r.counters ?? []);
    const failedChecks = sumBy(
      counters.filter((s) => s.labels.result === 'failed'),
      `${PREFIX}_trigger_checks_total`,
      'trigger_kind',
    );
    for (const [kind, n] of Object.entries(failedChecks))
      if (n > 0) errors.push({ source: 'controller metrics', kind: `failed checks (${kind})`, count: n, example: '' });
    for (const [status, n] of Object.entries(sumBy(counters, `${PREFIX}_webhook_requests_total`, 'status')))
      if (status !== '202' && n > 0)
        errors.push({ source: 'controller metrics', kind: `webhook answers ${status}`, count: n, example: '' });
    for (const [status, n] of Object.entries(sumBy(counters, `${PREFIX}_jobs_queue_completed_total`, 'status')))
      if (status !== 'Succeed' && status !== 'Succeeded' && n > 0)
        errors.push({ source: 'controller metrics', kind: `Jobs ended ${status}`, count: n, example: '' });
    for (const [kind, e] of this.errors) errors.push({ source: 'soak', kind, ...e });
    for (const [kind, e] of this.jobs.errors) errors.push({ source: 'soak (Jobs)', kind, ...e });

    const taskStates: Record<string, number> = {};
    for (const t of this.tasks.values()) taskStates[t.state] = (taskStates[t.state] ?? 0) + 1;
    const warmupMinutes = o.warmupMinutes ?? Math.min(5, o.minutes / 3);
    const roleWarmupSeconds = Math.round(Math.min(60, o.killEveryMinutes === 0 ? 60 : (o.killEveryMinutes * 60) / 5));
    return {
      settings: {
        triggers: o.triggers,
        repositories: o.repos,
        interval: `${o.interval} s`,
        'webhook rate': `${o.webhookRate}/s to ${o.webhookTriggers} WebhookTriggers (${o.webhookTargets} replicas)`,
        'commit every': `${o.commitEvery} s`,
        'leader kill every': o.killEveryMinutes === 0 ? 'never' : `${o.killEveryMinutes} min`,
        lease: `${o.leaseDuration} s (grace ${o.leaseGrace} s)`,
        maxRunningJobs: o.maxRunningJobs,
        'Job run time': `${o.jobRunSeconds} s`,
        'Job TTL': `${o.jobTtlSeconds} s`,
        'controller log level': o.logLevel,
        controller: this.shipped === undefined ? 'tsc build, default heap' : this.shipped.description,
      },
      durationMinutes,
      sampleEverySeconds: o.sampleEvery,
      interrupted,
      converged,
      convergenceSeconds,
      schedule,
      webhooks,
      mismatchDetails: this.mismatchDetails(schedule, webhooks),
      samples: this.samples,
      ticks: this.ticks,
      kills: this.kills,
      trends: memoryTrends(this.samples, warmupMinutes * 60, roleWarmupSeconds, o.maxGrowth),
      growthLimit: o.maxGrowth,
      warmupMinutes,
      roleWarmupSeconds,
      commits: { made: this.commitCount, skipped: this.commitSkips, minGapSeconds: this.minGapSeconds },
      webhookAnswers: this.webhookAnswers,
      webhookLatencyMs: { p50: percentile(this.webhookLatencies, 0.5), p99: percentile(this.webhookLatencies, 0.99) },
      taskStates,
      jobsCompleted: this.jobs.completed,
      jobsDeleted: this.jobs.deleted,
      errors: errors.sort((a, b) => b.count - a.count),
      notReady: await this.notReady(),
    };
  }

  /**
   * Stops every replica still running with SIGTERM, as a rollout would, and SIGKILLs one that has not exited
   * 15 s after its shutdown timeout (the default 25 s), as the kubelet would; both are recorded as errors.
   */
  async stopReplicas(): Promise<{ kind: string; detail: string }[]> {
    const problems: { kind: string; detail: string }[] = [];
    await Promise.all(
      this.live().map(async (r) => {
        r.killedAt = Date.now();
        const exited = r.proc.stop('SIGTERM');
        const timer = new AbortController();
        const late = await Promise.race([
          exited.then(() => false),
          sleep(40_000, true, { signal: timer.signal }).catch(() => false),
        ]);
        timer.abort();
        if (late) {
          problems.push({ kind: 'replica still running 40 s after SIGTERM (SIGKILLed)', detail: r.name });
          r.proc.child.kill('SIGKILL');
        }
        const code = await exited;
        if (code !== 0 && !late)
          problems.push({ kind: 'replica exited non-zero on SIGTERM', detail: `${r.name}: ${code}` });
      }),
    );
    return problems;
  }
}

/** The report of an earlier run from its samples file, with the trends computed by this version. */
async function reportFrom(file: string): Promise<void> {
  const saved = JSON.parse(await readFile(file, 'utf8')) as {
    result: Omit<SoakResult, 'samples' | 'ticks'>;
    samples: Sample[];
    ticks: SoakResult['ticks'];
  };
  const r = saved.result;
  const webhooks = allowUnanswered(r.webhooks, unansweredRequests(r.webhookAnswers));
  const result: SoakResult = {
    ...r,
    webhooks,
    mismatchDetails: r.mismatchDetails.filter(
      (d) => !(webhooks.unconfirmed ?? []).some((k) => d === `unexpected ${k}`),
    ),
    samples: saved.samples,
    ticks: saved.ticks,
    trends: memoryTrends(saved.samples, r.warmupMinutes * 60, r.roleWarmupSeconds, r.growthLimit),
  };
  process.stdout.write(renderReport(result));
  if (memoryVerdict(result.trends) === 'FAIL') process.exitCode = 1;
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (o.report !== undefined) return reportFrom(o.report);
  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (abort.signal.aborted) {
      log(`second ${signal}: exiting now`);
      process.exit(130);
    }
    log(`${signal}: stopping the load and cleaning up (again to exit at once)`);
    abort.abort(new SoakError('INTERRUPTED', `interrupted by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let soak: Soak | undefined;
  // Last resort on any exit: no controller outlives the soak (the control plane has its own guard).
  process.on('exit', () => {
    for (const { proc } of soak?.replicas ?? [])
      if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
  });

  const binDir = await ensureTools();
  const dir = await mkdtemp(join(tmpdir(), 'ger-soak-'));
  const out = o.out ?? join(tmpdir(), `ger-soak-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  log('starting the control plane');
  const plane = await startControlPlane({ binDir });
  let git: GitHttpServer | undefined;
  let api: SoakApi | undefined;
  try {
    git = await startGitHttpServer({ root: join(dir, 'repos') });
    await installCrds(binDir, plane.kubeconfig);
    const kc = new KubeConfig();
    kc.loadFromFile(plane.kubeconfig);
    api = await soakApi(kc);
    soak = new Soak(o, abort.signal, {
      binDir,
      plane,
      git,
      fixtures: createGitFixtures(join(dir, 'repos')),
      api,
      shipped: process.env.GER_SOAK_DEV === '1' ? undefined : await shippedController(join(dir, 'bundle')),
    });
    const s = soak;
    await s.setup();
    if (abort.signal.aborted) throw abort.signal.reason;
    const result = await s.run();
    await writeFile(
      out,
      `${JSON.stringify(
        {
          options: o,
          result: { ...result, samples: undefined, ticks: undefined },
          samples: result.samples,
          ticks: result.ticks,
          commits: Object.fromEntries(s.commits),
          tasks: [...s.tasks.values()],
        },
        null,
        1,
      )}\n`,
    );
    process.stdout.write(renderReport(result));
    process.stdout.write(`\nSamples and figures: ${out}\n`);
    const exactJobs = exact(result.schedule) && exact(result.webhooks);
    if (!exactJobs || result.interrupted || memoryVerdict(result.trends) === 'FAIL') process.exitCode = 1;
  } finally {
    log('stopping');
    // After a failure or an interrupt; a finished run has stopped them already.
    await soak?.stopReplicas();
    await soak?.jobs.stop().catch(() => undefined);
    api?.close();
    await git?.stop();
    await plane.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`soak failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});

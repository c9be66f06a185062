import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { API_VERSION } from '@git-events-runner/shared';
import { KubeConfig, type V1Job, Watch } from '@kubernetes/client-node';
import autocannon from 'autocannon';
import { stringify } from 'yaml';
import { type Creation, createdAt } from './audit.js';
import { startControlPlane } from './control-plane.js';
import { startControllerProcess } from './controller-process.js';
import { createGitFixtures } from './git-fixtures.js';
import { installCrds, kubectlOk } from './kube.js';
import { pacedLoad } from './paced-load.js';
import { cpuSeconds, machineBusySeconds, rssMiB, treeCpuSeconds } from './processes.js';
import { shippedController } from './shipped.js';
import { ensureTools } from './tools.js';

// `npm run bench:webhooks`: the webhook server under load with token auth, against the local control plane.
// Reports requests per second, p50/p99 of the 202, p50/p99 from the request to the Job created in the API
// server (its audit log's time; with GER_BENCH_WATCH=1 also as seen by a watch), and the answers and memory at 5x
// overload.

const TOKEN = 'bench-token-1';

function pct(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

/** Wall-clock milliseconds with the fraction performance.now() has (comparable with the audit log's). */
const wallNow = () => performance.timeOrigin + performance.now();

// Only Job creations in the bench namespace, once their response is complete: the moment the Job exists.
const AUDIT_POLICY = stringify({
  apiVersion: 'audit.k8s.io/v1',
  kind: 'Policy',
  omitStages: ['RequestReceived', 'ResponseStarted'],
  rules: [
    {
      // Metadata: the names and times without the Jobs' bodies, so each flush of the log costs the API
      // server (which shares the 2 cores) a fraction of the Request level's.
      level: 'Metadata',
      verbs: ['create'],
      resources: [{ group: 'batch', resources: ['jobs'] }],
      namespaces: ['bench'],
    },
    { level: 'None' },
  ],
});

/** When the API server received and finished each Job's create (wall-clock ms), from its audit log. */
async function auditedCreations(path: string): Promise<Map<string, Creation>> {
  return createdAt(await readFile(path, 'utf8').catch(() => ''));
}

/** Processes whose CPU a load's row shows besides the controller's. */
interface Others {
  readonly apiServer: number;
  readonly etcd: number;
  readonly gitServer: number;
}

/**
 * Starts counting CPU: the returned function gives, in % of one core since then, what the controller,
 * the API server, etcd, the git server (with the git processes it spawns), this process (the sender) and
 * the whole machine (2 cores: 200 %) used. They share the 2 cores, so the others' figures show how much
 * was left for the controller.
 */
function cpuUse(pid: number, others: Others): () => string {
  const read = () => [
    cpuSeconds(pid),
    treeCpuSeconds(others.apiServer),
    treeCpuSeconds(others.etcd),
    treeCpuSeconds(others.gitServer),
    cpuSeconds(process.pid),
    machineBusySeconds(),
  ];
  const t0 = performance.now();
  const c0 = read();
  return () => {
    const s = (performance.now() - t0) / 1000;
    const [ctl, api, etcd, git, sender, machine] = read().map((v, i) => (((v - (c0[i] ?? 0)) / s) * 100).toFixed(0));
    return `${ctl} / ${api} / ${etcd} / ${git} / ${sender}; ${machine}`;
  };
}

/** Seconds each load runs before it is measured. */
const WARM_UP_SECONDS = 3;

const LOADS = ['quiet100', 'quiet500', 'quiet500bursts', 'jobs100', 'jobs500', 'overload'] as const;
/**
 * GER_BENCH_LOADS picks the loads (default all): `quiet100`, `quiet500` (202s of a trigger whose checks find
 * nothing new, paced), `quiet500bursts` (the same with autocannon's own rate limit), `jobs100`, `jobs500` (a Job per request: request to Job), `overload` (2,500/s, with and
 * without a global rate limit).
 */
const loads = new Set<string>(process.env.GER_BENCH_LOADS?.split(',') ?? LOADS);

/** GER_BENCH_CPU_PROF=<dir>: each controller writes a V8 CPU profile there when it stops (where its time goes). */
const cpuProfDir = process.env.GER_BENCH_CPU_PROF;

/** GER_BENCH_TRACE=<dir>: each paced load writes [sent at ms, latency ms] of every answer there. */
const traceDir = process.env.GER_BENCH_TRACE;

/**
 * GER_BENCH_NODE_ARGS: more Node arguments for the controller, after the chart's (to try a V8 flag);
 * GER_BENCH_LOGS=<dir>: each controller's output is written there when it stops.
 */
const extraNodeArgs = process.env.GER_BENCH_NODE_ARGS?.split(' ').filter((a) => a !== '') ?? [];
const logDir = process.env.GER_BENCH_LOGS;

/** GER_BENCH_WATCH=1: also time each Job as a watch sees it. */
const watchJobs = process.env.GER_BENCH_WATCH === '1';

/** git-http-main.js in a child process; it ends when `stop()` closes its stdin (or this process ends). */
async function gitHttpProcess(root: string): Promise<{ origin: string; pid: number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'git-http-main.js'), root], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`git-http-main exited with ${code} before listening`)));
  });
  lines.close();
  const { origin } = JSON.parse(first) as { origin: string };
  return {
    origin,
    pid: child.pid ?? 0,
    stop: async () => {
      child.stdin.end();
      await exited;
    },
  };
}

async function main(): Promise<void> {
  const unknown = [...loads].filter((l) => !(LOADS as readonly string[]).includes(l));
  if (unknown.length > 0)
    throw new Error(`GER_BENCH_LOADS: unknown ${unknown.join(', ')} (known: ${LOADS.join(', ')})`);
  const binDir = await ensureTools();
  const dir = await mkdtemp(join(tmpdir(), 'ger-hooks-'));
  const auditLog = join(dir, 'audit.log');
  await writeFile(join(dir, 'audit-policy.yaml'), AUDIT_POLICY);
  const plane = await startControlPlane({
    binDir,
    // Batched so that writing the log adds nothing to the creations it times.
    apiServerArgs: [
      `--audit-policy-file=${join(dir, 'audit-policy.yaml')}`,
      `--audit-log-path=${auditLog}`,
      '--audit-log-format=json',
      '--audit-log-mode=batch',
      '--audit-log-batch-max-wait=1s',
    ],
  });
  // The git server runs in a process of its own: it spawns git-http-backend for every check, and a spawn
  // from this process (which also sends the load) pauses the sender.
  const git = await gitHttpProcess(join(dir, 'repos'));
  try {
    await installCrds(binDir, plane.kubeconfig);
    const fixtures = createGitFixtures(join(dir, 'repos'));
    await fixtures.create('app');
    await fixtures.commit('app', { README: 'hi\n' }, 'init');
    const kc = new KubeConfig();
    kc.loadFromFile(plane.kubeconfig);
    const o = (kind: string, name: string, spec: unknown) =>
      stringify({ apiVersion: API_VERSION, kind, metadata: { name, namespace: 'bench' }, spec });
    const webhook = (onChangeOnly: boolean) => ({
      sources: { names: ['src'], watchOn: { onChangeOnly } },
      action: { kind: 'Action', name: 'act' },
      webhook: { multiSource: false, authConfig: { secretRef: { name: 'auth' }, key: 'token' } },
    });
    await kubectlOk(
      binDir,
      plane.kubeconfig,
      ['apply', '-f', '-'],
      [
        stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench' } }),
        stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ger-system' } }),
        stringify({
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'auth', namespace: 'bench' },
          stringData: { token: TOKEN },
        }),
        o('GitRepo', 'src', { repoUri: `${git.origin}/app.git` }),
        o('Action', 'act', {}),
        o('WebhookTrigger', 'jobs', webhook(false)),
        o('WebhookTrigger', 'quiet', webhook(true)),
      ].join('---\n'),
    );
    // What ships (bundle + the chart's NODE_OPTIONS), unless GER_BENCH_DEV=1 asks for the tsc build.
    const shipped = process.env.GER_BENCH_DEV === '1' ? undefined : await shippedController(join(dir, 'bundle'));
    const what = shipped === undefined ? 'tsc build, default heap' : shipped.description;
    // --webhooks-ack: 'recorded' (the default: 202 once the request is listed in the trigger's status) and
    // 'immediate' (202 first), each with a controller of its own.
    // `limit`: a global rate limit in the original's N/S form; the controller then only takes the overload,
    // to show how rejections are answered.
    const measure = async (ack: 'recorded' | 'immediate', limit?: string): Promise<string[]> => {
      const label = limit === undefined ? ack : `${ack}, --hooks-rrl-global ${limit}`;
      const controller = await startControllerProcess({
        kubeconfig: plane.kubeconfig,
        namespace: 'ger-system',
        args: [
          '--log-level',
          'warn',
          '--webhooks-ack',
          ack,
          ...(limit !== undefined ? ['--hooks-rrl-global', limit] : []),
        ],
        ...(shipped !== undefined ? { entry: shipped.entry, env: shipped.env } : {}),
        nodeArgs: [
          ...(shipped?.nodeArgs ?? []),
          ...extraNodeArgs,
          ...(cpuProfDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : []),
        ],
      });
      const pid = controller.child.pid ?? 0;
      const [etcdPid, apiServerPid] = plane.pids;
      const others: Others = { apiServer: apiServerPid ?? 0, etcd: etcdPid ?? 0, gitServer: git.pid };
      const base = `http://127.0.0.1:${controller.webhooksPort}`;
      const headers = { 'x-trigger-auth': TOKEN };
      // Warm up: the first check of 'quiet' records the commit, so later ones create no Job.
      // (Each mode has its own Jobs: runs are named after the request, and requests get new ids.)
      for (let i = 0; i < 50; i++) await fetch(`${base}/bench/quiet/src`, { method: 'POST', headers });
      await sleep(1000);

      // Jobs as a watch sees them, with local receive times (GER_BENCH_WATCH=1 only: a watcher of every Job
      // is load on the API server and on this process, which share the 2 cores with the controller).
      const seen = new Map<string, number>();
      const watch = watchJobs
        ? await new Watch(kc).watch(
            '/apis/batch/v1/namespaces/bench/jobs',
            {},
            (type: string, job: V1Job) => {
              if (type === 'ADDED' && job.metadata?.name !== undefined && !seen.has(job.metadata.name))
                seen.set(job.metadata.name, wallNow());
            },
            () => {},
          )
        : undefined;

      const lines: string[] = [];
      // Each load runs WARM_UP_SECONDS unmeasured first: figures are of the sustained rate, not of the
      // seconds in which V8 compiles the paths a new load takes.
      // The 202s of a steady load: paced (one request every 1000/rate ms; see paced-load.ts), or with
      // `bursts` autocannon's own rate limit and histogram, as earlier runs measured (each connection sends
      // its share of a second back to back, and the histogram adds synthetic samples to every answer slower
      // than 1 ms): shown beside the paced figure so that the two methods can be compared.
      const run = async (path: string, rate: number, seconds: number, bursts = false) => {
        const url = `${base}${path}`;
        let cpu = cpuUse(pid, others);
        let result: { perSecond: number; p50: number; p99: number; codes: string[]; how: string };
        if (bursts) {
          const load = (duration: number) =>
            autocannon({
              url,
              method: 'POST',
              headers,
              connections: Math.max(10, Math.ceil(rate / 50)),
              overallRate: rate,
              duration,
            });
          await load(WARM_UP_SECONDS);
          cpu = cpuUse(pid, others);
          const r = await load(seconds);
          result = {
            perSecond: r.requests.average,
            p50: r.latency.p50,
            p99: r.latency.p99,
            codes: Object.entries(r.statusCodeStats ?? {}).map(([c, st]) => `${c}: ${st.count ?? 0}`),
            how: "autocannon's rate limit (bursts), its histogram",
          };
        } else {
          // One load: its first WARM_UP_SECONDS are not counted (see pacedLoad); the CPU figure spans both.
          const r = await pacedLoad({ url, method: 'POST', headers, rate, warmUpSeconds: WARM_UP_SECONDS, seconds });
          if (traceDir !== undefined)
            await writeFile(
              join(traceDir, `${ack}-${rate}-${Date.now()}.json`),
              JSON.stringify(r.sentAt.map((at, i) => [Math.round(at), r.latencies[i]])),
            );
          result = {
            perSecond: r.perSecond,
            p50: pct(r.latencies, 0.5),
            p99: pct(r.latencies, 0.99),
            codes: [...r.codes].map(([c, n]) => `${c}: ${n}`),
            how: `paced (sent ${r.lateP99.toFixed(1)} ms late, p99)`,
          };
        }
        const used = cpu();
        lines.push(
          `| ${label} | ${path} at ${rate}/s, ${result.how}${limit !== undefined ? ' (all answers)' : ''} | ${result.perSecond.toFixed(0)} | ${result.p50.toFixed(1)} ms | ${result.p99.toFixed(1)} ms | - | - | ${result.codes.join(', ')} | ${used} | ${rssMiB(pid).toFixed(0)} MiB |`,
        );
      };
      // Request to Job: an open-loop sender (one request every 1000/rate ms, whatever the answers do) records
      // when each request left. The Job exists once the API server completes its create (the audit log's
      // stageTimestamp); the watch above shows when a client learns of it, this process's own delays included.
      const send = async (path: string, rate: number, seconds: number) => {
        const started = performance.now();
        const sends: Promise<{ sentAt: number; answeredAt: number; status: number; id?: string }>[] = [];
        for (let i = 0; i < rate * seconds; i++) {
          const wait = started + (i * 1000) / rate - performance.now();
          if (wait > 0) await sleep(wait);
          const sentAt = wallNow();
          sends.push(
            fetch(`${base}${path}`, { method: 'POST', headers }).then(async (res) => {
              const body = (await res.json()) as { task_id?: string };
              return { sentAt, answeredAt: wallNow(), status: res.status, id: body.task_id };
            }),
          );
        }
        return Promise.all(sends);
      };
      const requestToJob = async (path: string, rate: number, seconds: number) => {
        await send(path, rate, WARM_UP_SECONDS);
        const cpu = cpuUse(pid, others);
        const answers = await send(path, rate, seconds);
        const used = cpu();
        const deadline = performance.now() + 60_000;
        const delays: number[] = [];
        const sentFor = new Map<string, number>();
        let jobs = 0;
        for (const a of answers) {
          if (a.id === undefined) continue;
          let task: { state?: string; jobs?: string[] } = {};
          for (;;) {
            task = (await (await fetch(`${base}/tasks/${a.id}`, { headers })).json()) as typeof task;
            if (task.state === 'Succeeded' || task.state === 'Failed' || performance.now() > deadline) break;
            await sleep(50);
          }
          const job = task.jobs?.[0];
          if (job === undefined) continue;
          jobs++;
          sentFor.set(job, a.sentAt);
          for (; watchJobs; ) {
            const at = seen.get(job);
            if (at !== undefined) {
              delays.push(at - a.sentAt);
              break;
            }
            if (performance.now() > deadline) break;
            await sleep(50);
          }
        }
        // The audit log is flushed every second.
        let created = new Map<string, Creation>();
        for (let i = 0; i < 20 && [...sentFor.keys()].some((j) => !created.has(j)); i++) {
          await sleep(500);
          created = await auditedCreations(auditLog);
        }
        // Request to Job created, split where the controller hands the create to the API server.
        const createdDelays: number[] = [];
        const toCreate: number[] = [];
        const inApiServer: number[] = [];
        for (const [job, sentAt] of sentFor) {
          const at = created.get(job);
          if (at === undefined) continue;
          createdDelays.push(at.completed - sentAt);
          toCreate.push(at.received - sentAt);
          inApiServer.push(at.completed - at.received);
        }
        const answered = answers.map((a) => a.answeredAt - a.sentAt);
        const codes = new Map<number, number>();
        for (const a of answers) codes.set(a.status, (codes.get(a.status) ?? 0) + 1);
        lines.push(
          `| ${label} | ${path} at ${rate}/s, Job per request, ${seconds} s | ${rate} | ${pct(answered, 0.5).toFixed(1)} ms | ${pct(answered, 0.99).toFixed(1)} ms | ${pct(createdDelays, 0.5).toFixed(1)} / ${pct(createdDelays, 0.99).toFixed(1)} ms (${createdDelays.length} of ${jobs} Jobs; create sent ${pct(toCreate, 0.5).toFixed(1)} / ${pct(toCreate, 0.99).toFixed(1)}, in the API server ${pct(inApiServer, 0.5).toFixed(1)} / ${pct(inApiServer, 0.99).toFixed(1)}) | ${watchJobs ? `${pct(delays, 0.5).toFixed(1)} / ${pct(delays, 0.99).toFixed(1)} ms (${delays.length} of ${jobs} Jobs)` : '-'} | ${[...codes].map(([c, n]) => `${c}: ${n}`).join(', ')} | ${used} | ${rssMiB(pid).toFixed(0)} MiB |`,
        );
      };
      if (limit === undefined) {
        if (loads.has('quiet100')) await run('/bench/quiet/src', 100, 10);
        if (loads.has('quiet500')) await run('/bench/quiet/src', 500, 10);
        if (loads.has('quiet500bursts')) await run('/bench/quiet/src', 500, 10, true);
        // 2,000 requests: the p99 is then the 20th slowest, not one stall's few victims.
        if (loads.has('jobs100')) await requestToJob('/bench/jobs/src', 100, 20);
        if (loads.has('jobs500')) await requestToJob('/bench/jobs/src', 500, 5);
      }
      // Overload saturates on purpose: autocannon's closed-loop connections send as fast as answers come.
      if (loads.has('overload')) await run('/bench/quiet/src', 2500, 10, true);
      watch?.abort();
      await controller.stop('SIGTERM');
      if (logDir !== undefined) await writeFile(join(logDir, `controller-${ack}-${pid}.log`), controller.logs());
      return lines;
    };
    const lines = [
      '| ack | load | req/s | 202 p50 | 202 p99 | request -> Job created p50 / p99 (API server audit log) | request -> Job seen by a watch p50 / p99 (GER_BENCH_WATCH=1) | answers | CPU %: controller / API server / etcd / git server / sender; machine (200 = both cores) | RSS |',
      '|---|---|---:|---:|---:|---:|---:|---|---|---:|',
    ];
    // GER_BENCH_ACK picks the modes and their order (each runs on the cluster the previous one left).
    const modes = (process.env.GER_BENCH_ACK ?? 'recorded,immediate').split(',');
    for (const ack of modes) {
      if (ack !== 'recorded' && ack !== 'immediate') throw new Error(`GER_BENCH_ACK: unknown mode ${ack}`);
      lines.push(...(await measure(ack)));
    }
    // 5x overload against a limit of 500 per second: the share of 429s and how fast they are answered.
    if (loads.has('overload')) lines.push(...(await measure('immediate', '500/1')));
    process.stdout.write(`webhooks with token auth, one controller (${what}), loopback\n${lines.join('\n')}\n`);
  } finally {
    await git.stop();
    await plane.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:webhooks failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});

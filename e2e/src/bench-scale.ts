import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { API_VERSION } from '@git-events-runner/shared';
import { stringify } from 'yaml';
import { startControlPlane } from './control-plane.js';
import { startControllerProcess } from './controller-process.js';
import { createGitFixtures } from './git-fixtures.js';
import { startGitHttpServer } from './git-http.js';
import { installCrds, kubectlOk } from './kube.js';
import { cpuSeconds, rssMiB } from './processes.js';
import { shippedController } from './shipped.js';
import { ensureTools } from './tools.js';

// `npm run bench:scale`: 1,000 ScheduleTriggers over 100 repositories served by git http-backend, against
// the local control plane. Reports time to Ready, schedule lateness (p50/p99 from the controller's
// histogram), git exchanges per round against distinct repository+ref pairs, controller CPU and RSS.

const REPOS = 100;
const TRIGGERS = 1000;
const INTERVAL_S = 10;
const ROUNDS = 3;

async function makeRepos(root: string): Promise<void> {
  const fixtures = createGitFixtures(root);
  for (let i = 0; i < REPOS; i++) {
    await fixtures.create(`r${i}`);
    await fixtures.commit(`r${i}`, { README: `repo ${i}\n` }, 'init');
  }
}

function buckets(metrics: string, name: string): { le: number; n: number }[] {
  return [...metrics.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\d+)$`, 'gm'))].map((m) => ({
    le: m[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[1]),
    n: Number(m[2]),
  }));
}

// Quantile (bucket upper bound) of what a histogram observed between two scrapes.
function quantile(before: string, after: string, name: string, q: number): number {
  const start = buckets(before, name);
  const buckets_ = buckets(after, name).map((b, i) => ({ le: b.le, n: b.n - (start[i]?.n ?? 0) }));
  return quantileOf(buckets_, q);
}

function quantileOf(buckets: { le: number; n: number }[], q: number): number {
  const total = buckets.at(-1)?.n ?? 0;
  return buckets.find((b) => b.n >= q * total)?.le ?? Number.NaN;
}

async function main(): Promise<void> {
  const binDir = await ensureTools();
  const dir = await mkdtemp(join(tmpdir(), 'ger-scale-'));
  const plane = await startControlPlane({ binDir });
  const git = await startGitHttpServer({ root: join(dir, 'repos') }).catch(async (e: unknown) => {
    await plane.stop();
    throw e;
  });
  try {
    await installCrds(binDir, plane.kubeconfig);
    process.stderr.write(`creating ${REPOS} repositories and ${TRIGGERS} triggers...\n`);
    await makeRepos(join(dir, 'repos'));
    const docs: string[] = [
      stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'scale' } }),
      stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ger-system' } }),
    ];
    docs.push(
      stringify({ apiVersion: API_VERSION, kind: 'Action', metadata: { name: 'act', namespace: 'scale' }, spec: {} }),
    );
    for (let i = 0; i < REPOS; i++) {
      docs.push(
        stringify({
          apiVersion: API_VERSION,
          kind: 'GitRepo',
          metadata: { name: `r${i}`, namespace: 'scale' },
          spec: { repoUri: git.url(`r${i}`) },
        }),
      );
    }
    for (let i = 0; i < TRIGGERS; i++) {
      docs.push(
        stringify({
          apiVersion: API_VERSION,
          kind: 'ScheduleTrigger',
          metadata: { name: `t${i}`, namespace: 'scale' },
          spec: {
            sources: { names: [`r${i % REPOS}`] },
            schedule: { interval: `${INTERVAL_S}s` },
            action: { kind: 'Action', name: 'act' },
          },
        }),
      );
    }
    await kubectlOk(binDir, plane.kubeconfig, ['apply', '--server-side', '-f', '-'], docs.join('---\n'));
    const shipped = process.env.GER_BENCH_DEV === '1' ? undefined : await shippedController(join(dir, 'bundle'));
    process.stderr.write(
      shipped === undefined
        ? 'controller: the tsc build (controller/dist), default V8 heap\n'
        : `controller: ${shipped.description}\n`,
    );
    const started = performance.now();
    const controller = await startControllerProcess({
      kubeconfig: plane.kubeconfig,
      namespace: 'ger-system',
      args: ['--log-level', 'warn'],
      // What ships (bundle + the chart's NODE_OPTIONS), unless GER_BENCH_DEV=1 asks for the tsc build.
      ...(shipped !== undefined ? { entry: shipped.entry, nodeArgs: shipped.nodeArgs, env: shipped.env } : {}),
    });
    const timeToReady = performance.now() - started;
    const pid = controller.child.pid ?? 0;
    try {
      // Round one creates the first Jobs; measure the steady rounds after it.
      await sleep(INTERVAL_S * 1000 + 3000);
      git.resetStats();
      const before = (await controller.get('/metrics')).body;
      const cpu0 = cpuSeconds(pid);
      const t0 = performance.now();
      let rss = 0;
      for (let s = 0; s < ROUNDS * INTERVAL_S; s++) {
        await sleep(1000);
        rss = Math.max(rss, rssMiB(pid));
      }
      const elapsed = (performance.now() - t0) / 1000;
      const cpu = (cpuSeconds(pid) - cpu0) / elapsed;
      const metrics = (await controller.get('/metrics')).body;
      const exchanges = git.stats.log.filter((r) => r.method === 'POST').length;
      const lines = [
        `${TRIGGERS} ScheduleTriggers (interval ${INTERVAL_S}s) over ${REPOS} repositories (git http-backend, loopback), ${ROUNDS} steady rounds; controller: ${shipped === undefined ? 'tsc build, default heap' : shipped.description}`,
        '| figure | value | target |',
        '|---|---:|---|',
        `| time to Ready | ${(timeToReady / 1000).toFixed(2)} s | |`,
        `| schedule lateness p50 | <= ${quantile(before, metrics, 'git_events_runner_schedule_lateness_seconds', 0.5)} s | |`,
        `| schedule lateness p99 | <= ${quantile(before, metrics, 'git_events_runner_schedule_lateness_seconds', 0.99)} s | < 1 s |`,
        `| ls-refs exchanges per round | ${(exchanges / ROUNDS).toFixed(1)} (HTTP requests ${(git.stats.requests / ROUNDS).toFixed(1)}) | = ${REPOS} distinct repository+ref pairs |`,
        `| controller CPU | ${(cpu * 100).toFixed(1)} % of one core | < 25 % |`,
        `| controller RSS (max) | ${rss.toFixed(0)} MiB | < 200 MB |`,
        `| controller heap total / external (end) | ${(Number(/^nodejs_heap_size_total_bytes (\S+)$/m.exec(metrics)?.[1] ?? Number.NaN) / 2 ** 20).toFixed(0)} / ${(Number(/^nodejs_external_memory_bytes (\S+)$/m.exec(metrics)?.[1] ?? Number.NaN) / 2 ** 20).toFixed(0)} MiB | |`,
        `| controller heap in use (end) | ${(Number(/^nodejs_heap_size_used_bytes (\S+)$/m.exec(metrics)?.[1] ?? Number.NaN) / 2 ** 20).toFixed(0)} MiB | |`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    } finally {
      await controller.stop('SIGTERM');
    }
  } finally {
    await git.stop();
    await plane.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:scale failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});

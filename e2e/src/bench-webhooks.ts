import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { API_VERSION } from '@git-events-runner/shared';
import { KubeConfig, type V1Job, Watch } from '@kubernetes/client-node';
import autocannon from 'autocannon';
import { stringify } from 'yaml';
import { startControlPlane } from './control-plane.js';
import { startControllerProcess } from './controller-process.js';
import { createGitFixtures } from './git-fixtures.js';
import { startGitHttpServer } from './git-http.js';
import { installCrds, kubectlOk } from './kube.js';
import { rssMiB } from './processes.js';
import { ensureTools } from './tools.js';

// `npm run bench:webhooks`: the webhook server under load with token auth, against the local control plane.
// Reports requests per second, p50/p99 of the 202, p50/p99 from the 202 to the Job seen by a watch, and the
// answers and memory at 5x overload.

const TOKEN = 'bench-token-1';

function pct(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

async function main(): Promise<void> {
  const binDir = await ensureTools();
  const dir = await mkdtemp(join(tmpdir(), 'ger-hooks-'));
  const plane = await startControlPlane({ binDir });
  const git = await startGitHttpServer({ root: join(dir, 'repos') });
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
        o('GitRepo', 'src', { repoUri: git.url('app') }),
        o('Action', 'act', {}),
        o('WebhookTrigger', 'jobs', webhook(false)),
        o('WebhookTrigger', 'quiet', webhook(true)),
      ].join('---\n'),
    );
    const controller = await startControllerProcess({
      kubeconfig: plane.kubeconfig,
      namespace: 'ger-system',
      args: ['--log-level', 'warn'],
    });
    const pid = controller.child.pid ?? 0;
    const base = `http://127.0.0.1:${controller.webhooksPort}`;
    const headers = { 'x-trigger-auth': TOKEN };
    // Warm up: the first check of 'quiet' records the commit, so later ones create no Job.
    for (let i = 0; i < 50; i++) await fetch(`${base}/bench/quiet/src`, { method: 'POST', headers });
    await sleep(1000);

    // Jobs as a watch sees them, with local receive times.
    const seen = new Map<string, number>();
    const watch = await new Watch(kc).watch(
      '/apis/batch/v1/namespaces/bench/jobs',
      {},
      (type: string, job: V1Job) => {
        if (type === 'ADDED' && job.metadata?.name !== undefined && !seen.has(job.metadata.name))
          seen.set(job.metadata.name, performance.now());
      },
      () => {},
    );

    const lines = [
      '| load | req/s | 202 p50 | 202 p99 | 202 -> Job p50 | 202 -> Job p99 | answers | RSS |',
      '|---|---:|---:|---:|---:|---:|---|---:|',
    ];
    const run = async (path: string, rate: number, seconds: number, trackJobs: boolean) => {
      const answered: { id: string; at: number }[] = [];
      const result = await autocannon({
        url: `${base}${path}`,
        method: 'POST',
        headers,
        connections: Math.max(10, Math.ceil(rate / 50)),
        overallRate: rate,
        duration: seconds,
        requests: trackJobs
          ? [
              {
                method: 'POST',
                onResponse: (status: number, body: string) => {
                  if (status === 202)
                    answered.push({ id: (JSON.parse(body) as { task_id: string }).task_id, at: performance.now() });
                },
              },
            ]
          : undefined,
      });
      let toJob = '';
      if (trackJobs) {
        // Checks run after the 202 (at most --webhooks-parallelism at once): wait for all of them.
        const deadline = performance.now() + 60_000;
        for (const a of answered) {
          for (;;) {
            const t = (await (await fetch(`${base}/tasks/${a.id}`, { headers })).json()) as { state?: string };
            if (t.state === 'Succeeded' || t.state === 'Failed' || performance.now() > deadline) break;
            await sleep(100);
          }
        }
        const delays: number[] = [];
        for (const a of answered.slice(0, 400)) {
          const task = (await (await fetch(`${base}/tasks/${a.id}`, { headers })).json()) as { jobs?: string[] };
          const job = task.jobs?.[0];
          const at = job === undefined ? undefined : seen.get(job);
          if (at !== undefined) delays.push(Math.max(0, at - a.at));
        }
        toJob = `${pct(delays, 0.5).toFixed(1)} ms | ${pct(delays, 0.99).toFixed(1)} ms (${delays.length} of ${answered.length} answers, ${seen.size} Jobs seen)`;
      } else toJob = '- | -';
      const codes = Object.entries(result.statusCodeStats ?? {})
        .map(([c, s]) => `${c}: ${s.count ?? 0}`)
        .join(', ');
      lines.push(
        `| ${path} at ${rate}/s | ${result.requests.average.toFixed(0)} | ${result.latency.p50} ms | ${result.latency.p99} ms | ${toJob} | ${codes} | ${rssMiB(pid).toFixed(0)} MiB |`,
      );
    };
    await run('/bench/quiet/src', 100, 10, false);
    await run('/bench/quiet/src', 500, 10, false);
    await run('/bench/jobs/src', 100, 5, true);
    await run('/bench/quiet/src', 2500, 10, false);
    watch.abort();
    process.stdout.write(`webhooks with token auth, one controller, loopback\n${lines.join('\n')}\n`);
    await controller.stop('SIGTERM');
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

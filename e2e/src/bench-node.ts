import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { API_VERSION } from '@git-events-runner/shared';
import { KubeConfig, type V1Job, type V1Pod, Watch } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { startControlPlane } from './control-plane.js';
import { startControllerProcess } from './controller-process.js';
import { createGitFixtures } from './git-fixtures.js';
import { startGitHttpServer } from './git-http.js';
import { ensureImages } from './images.js';
import { installCrds, kubectlOk } from './kube.js';
import { createNodeNetwork, nodeSupport, startNode } from './node.js';
import { type CommitTimeline, summarize } from './node-phases.js';
import { ensureTools } from './tools.js';

// `npm run bench:node`: commits pushed one after another to a repository watched by a WebhookTrigger
// (onChangeOnly), each followed by its push webhook, as a git host sends it. For each commit the bench
// watches the Job and its Pod on a real node (kubelet + containerd, the images built here) and reports
// p50/p99 of: controller (push -> Job created), scheduling, cloner start (sandbox and image), clone,
// worker (clone done -> worker exited), Job status (worker exited -> Job Complete), and the total. Options: --commits N (default 50).

const NS = 'bench';
const TOKEN = 'bench-webhook-token';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { commits: { type: 'string', default: '50' } } });
  const commits = Number(values.commits);
  if (!Number.isInteger(commits) || commits < 1)
    throw new Error(`--commits must be a positive integer, not ${values.commits}`);
  const binDir = await ensureTools();
  const why = nodeSupport(binDir);
  if (why !== undefined) throw new Error(`bench:node needs a real node, which cannot run here: ${why}`);
  const images = await ensureImages(binDir);
  const dir = await mkdtemp(join(tmpdir(), 'ger-bench-node-'));
  const network = await createNodeNetwork();
  const stops: (() => Promise<unknown>)[] = [() => network.remove(), () => rm(dir, { recursive: true, force: true })];
  try {
    const plane = await startControlPlane({ binDir, network });
    stops.push(() => plane.stop());
    const node = await startNode(plane, network, { binDir, images: images.values() });
    stops.push(() => node.stop());
    await installCrds(binDir, plane.kubeconfig);
    const kubectl = (args: string[], input?: string) => kubectlOk(binDir, plane.kubeconfig, args, input);
    await kubectl(['create', 'namespace', 'ger-system']);
    await kubectl(['create', 'namespace', NS]);
    const fixtures = createGitFixtures(join(dir, 'repos'));
    await fixtures.create('app');
    await fixtures.commit(
      'app',
      { 'run.sh': { content: '#!/bin/sh\necho "ran $TRIGGER_SOURCE_COMMIT"\n', executable: true } },
      'init',
    );
    const git = await startGitHttpServer({ root: join(dir, 'repos'), host: network.hostIp });
    stops.push(() => git.stop());
    const obj = (kind: string, name: string, spec: unknown) =>
      stringify({ apiVersion: API_VERSION, kind, metadata: { name, namespace: NS }, spec });
    await kubectl(['-n', NS, 'create', 'secret', 'generic', 'hook', `--from-literal=token=${TOKEN}`]);
    await kubectl(['-n', NS, 'create', 'serviceaccount', 'jobs']);
    await kubectl(['-n', NS, 'create', 'role', 'cloner', '--verb=get', '--resource=gitrepos.git-events-runner.rs']);
    await kubectl(['-n', NS, 'create', 'rolebinding', 'cloner', '--role=cloner', `--serviceaccount=${NS}:jobs`]);
    await kubectl(
      ['apply', '-f', '-'],
      [
        obj('GitRepo', 'app', { repoUri: git.url('app') }),
        obj('Action', 'run', { actionJob: { args: ['./run.sh'], serviceAccount: 'jobs' } }),
        obj('WebhookTrigger', 'push', {
          sources: { kind: 'GitRepo', names: ['app'], watchOn: { onChangeOnly: true, reference: { branch: 'main' } } },
          action: { kind: 'Action', name: 'run' },
          webhook: { multiSource: true, authConfig: { secretRef: { name: 'hook' }, key: 'token' } },
        }),
      ].join('---\n'),
    );
    const controller = await startControllerProcess({ kubeconfig: plane.kubeconfig, namespace: 'ger-system' });
    stops.push(() => controller.stop('SIGTERM'));
    const hook = `http://127.0.0.1:${controller.webhooksPort}/${NS}/push`;

    // Watches of the namespace's Jobs and Pods: the moment each change is seen, per commit.
    const kc = new KubeConfig();
    kc.loadFromFile(plane.kubeconfig);
    const watch = new Watch(kc);
    // The bench fills each commit's timeline in as its watches see the steps.
    const timelines = new Map<string, { -readonly [K in keyof CommitTimeline]: CommitTimeline[K] }>();
    const jobCommit = new Map<string, string>();
    const note = (commit: string | undefined, step: keyof CommitTimeline) => {
      const tl = commit === undefined ? undefined : timelines.get(commit);
      if (tl !== undefined && tl[step] === undefined) tl[step] = performance.now();
    };
    const settle = new Map<string, () => void>();
    const jobs = await watch.watch(
      `/apis/batch/v1/namespaces/${NS}/jobs`,
      {},
      (_type, job: V1Job) => {
        const commit = job.metadata?.annotations?.['git-events-runner.rs/commit'];
        if (commit === undefined) return;
        jobCommit.set(job.metadata?.name ?? '', commit);
        note(commit, 'jobCreated');
        const done = (job.status?.conditions ?? []).find(
          (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
        );
        if (done !== undefined) {
          if (done.type === 'Complete') note(commit, 'jobComplete');
          settle.get(commit)?.();
        }
      },
      () => {},
    );
    const pods = await watch.watch(
      `/api/v1/namespaces/${NS}/pods`,
      {},
      (_type, pod: V1Pod) => {
        const commit = jobCommit.get(pod.metadata?.labels?.['job-name'] ?? '');
        if (pod.spec?.nodeName !== undefined) note(commit, 'scheduled');
        const cloner = pod.status?.initContainerStatuses?.[0]?.state;
        if (cloner?.running !== undefined || cloner?.terminated !== undefined) note(commit, 'clonerRunning');
        if (cloner?.terminated !== undefined) note(commit, 'clonerDone');
        const worker = pod.status?.containerStatuses?.[0]?.state;
        if (worker?.running !== undefined || worker?.terminated !== undefined) note(commit, 'workerRunning');
        if (worker?.terminated !== undefined) note(commit, 'workerDone');
      },
      () => {},
    );
    stops.push(async () => {
      jobs.abort();
      pods.abort();
    });

    process.stderr.write(`[bench:node] ${commits} commits, one at a time\n`);
    let failed = 0;
    for (let i = 0; i < commits; i++) {
      const pushedAt = performance.now();
      const commit = (await fixtures.commit('app', { 'counter.txt': `${i}\n` }, `commit ${i}`)).trim();
      timelines.set(commit, { pushed: pushedAt });
      const finished = new Promise<void>((resolve) => settle.set(commit, resolve));
      const res = await fetch(hook, { method: 'POST', headers: { 'x-trigger-auth': TOKEN } });
      if (res.status !== 202) throw new Error(`webhook answered ${res.status}: ${await res.text()}`);
      const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 120_000).unref());
      if ((await Promise.race([finished, timeout])) === 'timeout')
        throw new Error(`commit ${i}: no finished Job after 120 s`);
      if (timelines.get(commit)?.jobComplete === undefined) failed++;
      process.stderr.write('.');
    }
    process.stderr.write('\n');
    const rows = summarize([...timelines.values()].filter((t) => t.jobComplete !== undefined));
    const ms = (v: number) => (Number.isNaN(v) ? '-' : `${v.toFixed(0)} ms`);
    process.stdout.write(
      [
        `bench:node: ${commits} commits, ${failed} failed Jobs; moments as seen by the bench's watches`,
        '',
        '| phase | span | n | p50 | p99 | share of total (p50) |',
        '| --- | --- | --- | --- | --- | --- |',
        ...rows.map(
          (r) =>
            `| ${r.name} | ${r.what} | ${r.n} | ${ms(r.p50)} | ${ms(r.p99)} | ${(r.shareOfTotal * 100).toFixed(1)} % |`,
        ),
        '',
      ].join('\n'),
    );
    if (failed > 0) process.exitCode = 1;
  } finally {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`[bench:node] ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});

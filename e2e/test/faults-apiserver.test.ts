import { API_VERSION } from '@git-events-runner/shared';
import type { V1Job } from '@kubernetes/client-node';
import t from 'tap';
import { stringify } from 'yaml';
import { appCluster, eventually, startControllerProcess } from '../src/index.js';

// kube-apiserver stopped for 30 s in the middle of a run and started again: the controller recovers by
// itself (same process), resumes schedules, loses no change, duplicates no Job; a webhook answered 202
// before the outage is done, one during it is refused with 503 (it cannot be recorded); /ready reports
// the outage.

const OUTAGE_MS = 30_000;

const plane = await appCluster(t, { 'deploy.sh': 'echo 0\n' }, 'c0');
const { core, kubectl, batch, servers, head: c0 } = plane;

const ns = 'outage';
const TOKEN = 'outage-token-3Kq';
await core.createNamespace({ body: { metadata: { name: ns } } });
await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'tok' }, stringData: { token: TOKEN } } });
const obj = (kind: string, name: string, spec: unknown) =>
  stringify({ apiVersion: API_VERSION, kind, metadata: { name, namespace: ns }, spec });
await kubectl(
  ['apply', '-f', '-'],
  [
    obj('GitRepo', 'src', { repoUri: servers.urls.http('app') }),
    obj('Action', 'act', {}),
    obj('ScheduleTrigger', 'sched', {
      sources: { names: ['src'] },
      schedule: { interval: '2s' },
      action: { kind: 'Action', name: 'act' },
    }),
    obj('WebhookTrigger', 'hook', {
      sources: { names: ['src'], watchOn: { onChangeOnly: false } },
      action: { kind: 'Action', name: 'act' },
      webhook: { multiSource: false, authConfig: { secretRef: { name: 'tok' }, key: 'token' } },
    }),
  ].join('---\n'),
);

const controller = await startControllerProcess({
  kubeconfig: plane.kubeconfig,
  namespace: 'ger-system',
  args: ['--leader-lease-duration', '10', '--leader-lease-grace', '3'],
});
t.teardown(() => controller.stop('SIGKILL'));
const hook = `http://127.0.0.1:${controller.webhooksPort}/${ns}/hook/src`;
const headers = { 'x-trigger-auth': TOKEN };
const taskOf = async (id: string) =>
  (await (await fetch(`http://127.0.0.1:${controller.webhooksPort}/tasks/${id}`, { headers })).json()) as {
    state: string;
    jobs: string[];
    errors: { reason: string; message: string }[];
  };
const scheduled = async () =>
  (await batch.listNamespacedJob({ namespace: ns })).items.filter(
    (j: V1Job) => j.metadata?.annotations?.['git-events-runner.rs/trigger'] === 'sched',
  );

t.test('outage of kube-apiserver: recovery without restart, no lost or duplicated Job', async (t) => {
  const first = await eventually(scheduled, (j) => j.length === 1, 20_000);
  t.equal(first[0]?.metadata?.annotations?.['git-events-runner.rs/commit'], c0, 'the first commit ran');
  await eventually(
    () => fetch(hook, { method: 'POST', headers }).then((r) => r.status),
    (s) => s === 202,
  );
  const before = (await (await fetch(hook, { method: 'POST', headers })).json()) as { task_id: string };
  const beforeTask = await eventually(
    () => taskOf(before.task_id),
    (x) => x.state === 'Succeeded' || x.state === 'Failed',
    10_000,
  );
  t.equal(beforeTask.state, 'Succeeded', 'a webhook answered before the outage is done');
  const pid = controller.child.pid;

  await plane.plane.stopApiServer();
  const stoppedAt = Date.now();
  const ready = await eventually(
    () => controller.get('/ready'),
    (r) => r.status === 503,
    20_000,
  );
  t.equal(ready.status, 503, '/ready reports the outage');
  t.match(ready.body, /not synced/);
  // A webhook during the outage: the cache still knows the trigger, but the request cannot be recorded in
  // its status, so it is refused with 503 and Retry-After (nothing started: a retry is safe) instead of a
  // 202 that a replica restart could lose.
  const sentAt = Date.now();
  const during = await fetch(hook, { method: 'POST', headers });
  t.equal(during.status, 503, 'refused while it cannot be recorded');
  t.equal(during.headers.get('retry-after'), '1', 'with Retry-After');
  t.match(await during.json(), { status: 'error', message: /could not be recorded/ });
  t.ok(Date.now() - sentAt < 10_000, `answered in ${Date.now() - sentAt} ms`);
  // A change lands while the API server is away.
  const c1 = (await servers.fixtures.commit('app', { 'deploy.sh': 'echo 1\n' }, 'c1')).trim();
  const left = OUTAGE_MS - (Date.now() - stoppedAt);
  if (left > 0) await new Promise((r) => setTimeout(r, left));
  await plane.plane.startApiServer();

  const back = await eventually(
    () => controller.get('/ready'),
    (r) => r.status === 200,
    45_000,
  );
  t.equal(back.status, 200, 'ready again without a restart');
  t.equal(controller.child.pid, pid);
  t.equal(controller.child.exitCode, null, 'the same process');
  const jobs = await eventually(scheduled, (j) => j.length >= 2, 30_000);
  const byCommit = new Map<string, number>();
  for (const j of jobs) {
    const c = j.metadata?.annotations?.['git-events-runner.rs/commit'] ?? '';
    byCommit.set(c, (byCommit.get(c) ?? 0) + 1);
  }
  t.same(
    Object.fromEntries(byCommit),
    { [c0]: 1, [c1]: 1 },
    'the change made during the outage ran once; c0 not again',
  );
  const after = (await (await fetch(hook, { method: 'POST', headers })).json()) as { task_id: string };
  const afterTask = await eventually(
    () => taskOf(after.task_id),
    (x) => x.state === 'Succeeded' || x.state === 'Failed',
    15_000,
  );
  t.equal(afterTask.state, 'Succeeded', 'webhooks work again');
  t.equal(afterTask.jobs.length, 1);
});

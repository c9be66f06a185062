import { API_VERSION, JOB_ANNOTATIONS } from '@git-events-runner/shared';
import { BatchV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import t from 'tap';
import { stringify } from 'yaml';
import { startFaultProxy } from '../src/fault-proxy.js';
import { startGitServers } from '../src/git-servers.js';
import { eventually, isolatedCluster, startControllerProcess } from '../src/index.js';

// Webhook checks of one trigger and source run side by side, so their git exchanges can finish out of
// order. Here the first check's exchange is held back by a slow proxy while a second check reads the
// branch, a commit lands, and only then the first reads it: the check started later read the older
// commit. It must not act on it: the trigger's status must not go back to it (which would fire the newer
// commit's Job again once its Job is gone), and each commit gets one Job.

const plane = await isolatedCluster(t);
const { kc, core, kubectl } = plane;
const batch = kc.makeApiClient(BatchV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const servers = await startGitServers({ ssh: false, daemon: false });
t.teardown(() => servers.stop());
await servers.fixtures.create('app');
const c1 = await servers.fixtures.commit('app', { 'a.txt': '1\n' }, 'c1');
const proxy = await startFaultProxy(Number(new URL(servers.urls.http('app')).port));
t.teardown(() => proxy.stop());
const uri = new URL(servers.urls.http('app'));
uri.port = String(proxy.port);

const ns = 'overlap';
await core.createNamespace({ body: { metadata: { name: ns } } });
const obj = (kind: string, name: string, spec: unknown) =>
  stringify({ apiVersion: API_VERSION, kind, metadata: { name, namespace: ns }, spec });
await kubectl(
  ['apply', '-f', '-'],
  [
    obj('GitRepo', 'app', { repoUri: uri.toString() }),
    obj('Action', 'act', {}),
    obj('WebhookTrigger', 'hook', {
      sources: { names: ['app'], watchOn: { onChangeOnly: true, reference: { branch: 'main' } } },
      action: { kind: 'Action', name: 'act' },
      webhook: { multiSource: false },
    }),
  ].join('---\n'),
);
const controller = await startControllerProcess({
  kubeconfig: plane.kubeconfig,
  namespace: 'ger-system',
  args: ['--webhooks-ack', 'immediate'],
});
t.teardown(() => controller.stop('SIGKILL'));
const base = `http://127.0.0.1:${controller.webhooksPort}`;

const hook = async (): Promise<string> => {
  const res = await fetch(`${base}/${ns}/hook/app`, { method: 'POST' });
  const body = (await res.json()) as { task_id?: string };
  if (res.status !== 202 || body.task_id === undefined) throw new Error(`webhook answered ${res.status}`);
  return body.task_id;
};
const task = (id: string) =>
  fetch(`${base}/tasks/${id}`).then((r) => r.json() as Promise<{ state?: string; jobs?: string[] }>);
const finished = (id: string) =>
  eventually(
    () => task(id),
    (s) => s.state === 'Succeeded' || s.state === 'Failed',
    30_000,
  );
const statusCommit = async () => {
  const trigger = (await custom.getNamespacedCustomObject({
    group: 'git-events-runner.rs',
    version: 'v1alpha1',
    namespace: ns,
    plural: 'webhooktriggers',
    name: 'hook',
  })) as { status?: { checkedSources?: Record<string, { commitHash?: string }> } };
  return trigger.status?.checkedSources?.app?.commitHash;
};
const jobCommits = async () =>
  (await batch.listNamespacedJob({ namespace: ns })).items.map(
    (j) => j.metadata?.annotations?.[JOB_ANNOTATIONS.commit] ?? '',
  );

t.test('a check started later that read an older commit asks again instead of going back', async (t) => {
  t.equal((await finished(await hook())).state, 'Succeeded');
  t.equal(await eventually(statusCommit, (c) => c === c1), c1, 'the first check records c1');
  t.same(await jobCommits(), [c1]);

  // The first check's request reaches the git server 1.5 s late; the second one's at once.
  proxy.setDelay(1500);
  const before = proxy.connections();
  const slow = await hook();
  await eventually(
    async () => proxy.connections(),
    (n) => n > before,
  );
  // Its request bytes are in the proxy's hands (the connection is open and the request follows it).
  await new Promise((r) => setTimeout(r, 100));
  proxy.setDelay(0);
  const fast = await hook();
  await eventually(
    async () => proxy.connections(),
    (n) => n > before + 1,
  );
  // The fast check's read (c1) is answered well before the slow one's reaches the server...
  await new Promise((r) => setTimeout(r, 300));
  const c2 = await servers.fixtures.commit('app', { 'a.txt': '2\n' }, 'c2');
  // ...which then reads c2.
  const [slowDone, fastDone] = await Promise.all([finished(slow), finished(fast)]);
  t.equal(slowDone.state, 'Succeeded');
  t.equal(fastDone.state, 'Succeeded');
  t.equal(proxy.connections() - before, 3, 'the later check read c1, differed, and asked again');
  t.same(slowDone.jobs?.length, 1, 'the slow check saw c2: a Job for it');
  t.same(fastDone.jobs, slowDone.jobs, 'the later check acts on c2 too: the same Job');
  await new Promise((r) => setTimeout(r, 1000));
  t.equal(await statusCommit(), c2, 'the status stays at c2');
  t.same((await jobCommits()).sort(), [c1, c2].sort(), 'one Job per commit');

  // A check now finds nothing new.
  t.same((await finished(await hook())).jobs ?? [], []);
  t.same((await jobCommits()).length, 2);
});

import { API_VERSION, JOB_ANNOTATIONS } from '@git-events-runner/shared';
import { CustomObjectsApi } from '@kubernetes/client-node';
import t from 'tap';
import { stringify } from 'yaml';
import { startFaultProxy } from '../src/fault-proxy.js';
import { appCluster, clusterController, eventually } from '../src/index.js';

// The order of changes on one watched branch, through a webhook trigger with onChangeOnly.
//
// Two webhook checks of one trigger and source, the first one's git exchange held back by a slow proxy
// while the second delivery arrives and a commit lands. Checks of one trigger and source overlap (the next
// one may create its Jobs while the previous one writes its status), but their git exchanges do not: the
// second check asks git only once the first has its answer, so it never reads an older commit than the
// first. Were the exchanges to overlap, the second could read the branch before the commit landed and
// the first after it; acting on that older read would put the trigger's status back to it (and fire the
// newer commit's Job again once that Job is gone). The status must end at the new commit, with one Job
// per commit.
//
// Then a deployment reverted by moving the branch back to a commit that ran before (a force-push) while
// that commit's Job still exists (Jobs live for their TTL, 2 hours by default). Job names are
// deterministic so that a run is never started twice; the return to the old commit is a change of its
// own and must run again, as the original (random Job names) did.

const plane = await appCluster(t, { 'a.txt': '1\n' }, 'c1');
const { kc, core, kubectl, batch, servers, head: c1 } = plane;
const custom = kc.makeApiClient(CustomObjectsApi);
const proxy = await startFaultProxy(Number(new URL(servers.urls.http('app')).port));
t.teardown(() => proxy.stop());
const uri = new URL(servers.urls.http('app'));
uri.port = String(proxy.port);

const ns = 'change-order';
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
const { base } = await clusterController(t, plane, ['--webhooks-ack', 'immediate']);

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
const jobs = async () =>
  (await batch.listNamespacedJob({ namespace: ns })).items
    .map((j) => ({
      name: j.metadata?.name ?? '',
      commit: j.metadata?.annotations?.[JOB_ANNOTATIONS.commit] ?? '',
      runKey: j.metadata?.annotations?.[JOB_ANNOTATIONS.runKey] ?? '',
      created: j.metadata?.creationTimestamp?.getTime() ?? 0,
    }))
    .sort((a, b) => a.created - b.created || a.name.localeCompare(b.name));
const jobCommits = async () => (await jobs()).map((j) => j.commit);
// One delivery, answered when its check has ended: the Jobs it names.
const deliver = async (): Promise<string[]> => {
  const done = await finished(await hook());
  if (done.state !== 'Succeeded') throw new Error(`check ${done.state}`);
  return done.jobs ?? [];
};
// A Job is told apart from a later change by its creation time, with a margin for the clocks of the
// controller and the API server (RECURRENCE_MARGIN_MS, 5 s): changes here come further apart than that.
const apart = () => new Promise((r) => setTimeout(r, 6000));
let c2 = '';

t.test('a check started later never acts on an older commit than the check before it', async (t) => {
  t.equal((await finished(await hook())).state, 'Succeeded');
  t.equal(await eventually(statusCommit, (c) => c === c1), c1, 'the first check records c1');
  t.same(await jobCommits(), [c1]);
  // (So that the revert below tells c1's Job from c2's change.)
  await apart();

  // The first check's request reaches the git server 1.5 s late.
  proxy.setDelay(1500);
  const before = proxy.connections();
  const requestsBefore = servers.http.stats.requests;
  const slow = await hook();
  await eventually(
    async () => proxy.connections(),
    (n) => n > before,
  );
  // Its request bytes are in the proxy's hands (the connection is open and the request follows it).
  await new Promise((r) => setTimeout(r, 100));
  proxy.setDelay(0);
  // The second delivery arrives while the first exchange is held back, before the commit lands.
  const fast = await hook();
  await new Promise((r) => setTimeout(r, 300));
  // (A second exchange now would need a second connection: the first one is busy.)
  t.equal(proxy.connections() - before, 1, 'the second check waits for the first exchange');
  c2 = await servers.fixtures.commit('app', { 'a.txt': '2\n' }, 'c2');
  const [slowDone, fastDone] = await Promise.all([finished(slow), finished(fast)]);
  t.equal(slowDone.state, 'Succeeded');
  t.equal(fastDone.state, 'Succeeded');
  // Counted at the git server: the second exchange may ride on the first one's kept-alive connection.
  t.equal(servers.http.stats.requests - requestsBefore, 2, 'one exchange each');
  t.same(slowDone.jobs?.length, 1, 'the first check read c2: a Job for it');
  t.same(fastDone.jobs, slowDone.jobs, 'the second check read c2 too: the same Job');
  await new Promise((r) => setTimeout(r, 1000));
  t.equal(await statusCommit(), c2, 'the status stays at c2');
  t.same((await jobCommits()).sort(), [c1, c2].sort(), 'one Job per commit');

  // A check now finds nothing new.
  t.same((await finished(await hook())).jobs ?? [], []);
  t.same((await jobCommits()).length, 2);
});

t.test('a branch moved back to a commit whose Job still exists runs that commit again, once', async (t) => {
  const [first, second] = await jobs();
  t.same([first?.commit, second?.commit], [c1, c2], 'c1 and c2 ran (above)');
  await apart();

  // The revert: main back to c1, whose Job is still there.
  await servers.fixtures.setRef('app', 'refs/heads/main', c1);
  const [third] = await deliver();
  t.ok(third, 'the return to c1 runs');
  t.not(third, first?.name, 'in a Job of its own, not the first run of c1');
  const all = await jobs();
  t.same(
    all.map((j) => j.commit),
    [c1, c2, c1],
  );
  t.equal(all[2]?.name, third);
  t.match(all[2]?.runKey, new RegExp(`^${c1}@\\d{4}-\\d\\d-\\d\\dT`), 'keyed by the change it follows');
  t.equal(await eventually(statusCommit, (c) => c === c1), c1);

  // The same state checked again (a redelivery, another replica): nothing new.
  t.same(await deliver(), [], 'an unchanged commit starts nothing');
  t.equal((await jobs()).length, 3);

  // Forward again to c2, whose Job is also still there: it runs again too.
  await apart();
  await servers.fixtures.setRef('app', 'refs/heads/main', c2);
  const [fourth] = await deliver();
  t.ok(fourth);
  t.not(fourth, second?.name);
  t.same(
    (await jobs()).map((j) => j.commit),
    [c1, c2, c1, c2],
  );
});

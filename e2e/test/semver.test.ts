import { API_VERSION, GROUP, type TriggerStatus, VERSION } from '@git-events-runner/shared';
import { CustomObjectsApi, type V1Job } from '@kubernetes/client-node';
import t, { type Test } from 'tap';
import { stringify } from 'yaml';
import { appCluster, clusterController, eventually } from '../src/index.js';

// watchOn.reference.semver against a real git server: the newest tag in the range (read with the same
// one ls-refs exchange) is the watched commit. A new tag in range fires, one out of range or older than
// the newest does not, a pre-release does not unless the range names one; the status shows the tag, and
// the Job names it (ref type tag) and clones its commit.

const plane = await appCluster(t, { 'a.txt': '1\n' }, 'c1');
const { core, kubectl, batch, servers, kc, head: c1 } = plane;
const custom = kc.makeApiClient(CustomObjectsApi);
const fx = servers.fixtures;
const ns = 'semver';
await core.createNamespace({ body: { metadata: { name: ns } } });
const obj = (kind: string, name: string, spec: unknown) =>
  stringify({ apiVersion: API_VERSION, kind, metadata: { name, namespace: ns }, spec });
await kubectl(
  ['apply', '-f', '-'],
  [
    obj('GitRepo', 'app', { repoUri: servers.urls.http('app') }),
    obj('Action', 'act', {}),
    obj('WebhookTrigger', 'releases', {
      sources: { names: ['app'], watchOn: { onChangeOnly: true, reference: { semver: '>=1.2.0 <2.0.0' } } },
      action: { kind: 'Action', name: 'act' },
      webhook: { multiSource: false },
    }),
  ].join('---\n'),
);
const { base } = await clusterController(t, plane, []);

/** Fires the trigger and waits for its check; returns the Jobs of the trigger afterwards. */
const fire = async (): Promise<V1Job[]> => {
  const res = await fetch(`${base}/${ns}/releases/app`, { method: 'POST' });
  const { task_id: id } = (await res.json()) as { task_id: string };
  const task = await eventually(
    () => fetch(`${base}/tasks/${id}`).then((r) => r.json() as Promise<{ state?: string; errors?: unknown[] }>),
    (s) => s.state === 'Succeeded' || s.state === 'Failed',
    30_000,
  );
  if (task.state !== 'Succeeded') throw new Error(`check failed: ${JSON.stringify(task)}`);
  return (await batch.listNamespacedJob({ namespace: ns })).items;
};
const status = async () =>
  (
    (await custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: 'webhooktriggers',
      name: 'releases',
    })) as { status?: TriggerStatus }
  ).status?.checkedSources?.app;
// A webhook check records the status after its task ends (the answer does not wait for the write).
const statusShows = async (t: Test, want: { commitHash: string; resolvedTag: string }, what = 'the status') =>
  t.match(
    await eventually(status, (s) => s?.commitHash === want.commitHash && s?.resolvedTag === want.resolvedTag),
    want,
    what,
  );
const jobOf = (jobs: V1Job[], commit: string) =>
  jobs.find((j) => j.metadata?.annotations?.['git-events-runner.rs/commit'] === commit);
const env = (job: V1Job | undefined) =>
  Object.fromEntries((job?.spec?.template.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value]));

t.test('no tag in range: the check fails with a clear reason, no Job', async (t) => {
  await fx.lightweightTag('app', 'v0.9.0', c1);
  const res = await fetch(`${base}/${ns}/releases/app`, { method: 'POST' });
  const { task_id: id } = (await res.json()) as { task_id: string };
  const task = await eventually(
    () =>
      fetch(`${base}/tasks/${id}`).then(
        (r) => r.json() as Promise<{ state?: string; errors?: { reason: string; message: string }[] }>,
      ),
    (s) => s.state === 'Succeeded' || s.state === 'Failed',
    30_000,
  );
  t.match(task, { state: 'Failed', errors: [{ reason: 'RefNotFound', message: /semver range ">=1\.2\.0 <2\.0\.0"/ }] });
  t.same((await batch.listNamespacedJob({ namespace: ns })).items, []);
});

t.test('the newest tag in range fires; out of range, older or pre-release tags do not', async (t) => {
  await fx.lightweightTag('app', 'v1.2.0', c1);
  let jobs = await fire();
  t.equal(jobs.length, 1, 'v1.2.0: one Job');
  await statusShows(t, { commitHash: c1, resolvedTag: 'v1.2.0' }, 'the status shows the tag');
  const first = jobOf(jobs, c1);
  t.match(env(first), { ACTION_JOB_TRIGGER_SOURCE_REF_TYPE: 'tag', ACTION_JOB_TRIGGER_SOURCE_REF_NAME: 'v1.2.0' });
  t.match(first?.spec?.template.spec?.initContainers?.[0]?.args, [
    'clone',
    '--kind',
    'GitRepo',
    '--source',
    'app',
    '--destination',
    String,
    '--commit',
    c1,
  ]);

  const c2 = (await fx.commit('app', { 'a.txt': '2\n' }, 'c2')).trim();
  // An annotated tag: its commit (peeled) is the one watched.
  await fx.annotatedTag('app', '1.3.0', c2, 'release 1.3.0');
  jobs = await fire();
  t.ok(jobOf(jobs, c2), '1.3.0 (annotated, no v): a Job for its commit');
  await statusShows(t, { commitHash: c2, resolvedTag: '1.3.0' });

  const c3 = (await fx.commit('app', { 'a.txt': '3\n' }, 'c3')).trim();
  await fx.lightweightTag('app', 'v2.0.0', c3);
  await fx.lightweightTag('app', 'v1.2.9', c3);
  await fx.lightweightTag('app', 'v1.9.0-rc.1', c3);
  jobs = await fire();
  t.equal(jobs.length, 2, 'v2.0.0 (out of range), v1.2.9 (older than 1.3.0) and a pre-release: no Job');
  await statusShows(t, { commitHash: c2, resolvedTag: '1.3.0' }, 'still 1.3.0');

  await fx.lightweightTag('app', 'v1.4.0', c3);
  jobs = await fire();
  t.equal(jobs.length, 3, 'v1.4.0: a Job');
  t.ok(jobOf(jobs, c3), 'for its commit');
  await statusShows(t, { commitHash: c3, resolvedTag: 'v1.4.0' });
});

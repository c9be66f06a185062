import { API_VERSION } from '@git-events-runner/shared';
import t from 'tap';
import { stringify } from 'yaml';
import { appCluster, clusterController, eventually } from '../src/index.js';

// concurrencyPolicy under a burst of webhooks: Forbid and Replace promise one Job at a time per trigger
// and source, however many deliveries arrive and however they are batched into checks. (A check that
// decides before the watch has shown it the Job the one before created must still count that Job:
// RecentJobs, unit-tested in controller/test/recent-jobs.test.ts. On loopback the watch usually wins
// that race, so this file does not depend on losing it.)

const plane = await appCluster(t, { 'a.txt': '1\n' }, 'c1');
const { core, kubectl, batch, servers } = plane;

const ns = 'policy-burst';
await core.createNamespace({ body: { metadata: { name: ns } } });
const obj = (kind: string, name: string, spec: unknown) =>
  stringify({ apiVersion: API_VERSION, kind, metadata: { name, namespace: ns }, spec });
const trigger = (policy: 'Forbid' | 'Replace') => ({
  concurrencyPolicy: policy,
  sources: { names: ['app'], watchOn: { onChangeOnly: false, reference: { branch: 'main' } } },
  action: { kind: 'Action', name: 'act' },
  webhook: { multiSource: false },
});
await kubectl(
  ['apply', '-f', '-'],
  [
    obj('GitRepo', 'app', { repoUri: servers.urls.http('app') }),
    obj('Action', 'act', {}),
    obj('WebhookTrigger', 'forbid', trigger('Forbid')),
    obj('WebhookTrigger', 'replace', trigger('Replace')),
  ].join('---\n'),
);
const { base } = await clusterController(t, plane, ['--webhooks-ack', 'immediate']);

// `n` deliveries at once, then until every check has ended.
const burst = async (name: string, n: number) => {
  const ids = await Promise.all(
    Array.from({ length: n }, async () => {
      const res = await fetch(`${base}/${ns}/${name}/app`, { method: 'POST' });
      const body = (await res.json()) as { task_id?: string };
      if (res.status !== 202 || body.task_id === undefined) throw new Error(`webhook answered ${res.status}`);
      return body.task_id;
    }),
  );
  for (const id of ids)
    await eventually(
      () => fetch(`${base}/tasks/${id}`).then((r) => r.json() as Promise<{ state?: string }>),
      (s) => s.state === 'Succeeded' || s.state === 'Failed',
      30_000,
    );
};
const jobsOf = async (name: string) =>
  (await batch.listNamespacedJob({ namespace: ns })).items.filter(
    (j) =>
      j.metadata?.labels?.['git-events-runner.rs/trigger-name'] === name && j.metadata.deletionTimestamp === undefined,
  );

t.test('Forbid: one Job for a burst, while it is active', async (t) => {
  // Rounds of deliveries spread over several checks (each round's first request starts a check, the
  // rest join the next one, which decides as the first one's Job is being created).
  for (let round = 0; round < 5; round++) await burst('forbid', 20);
  const jobs = await jobsOf('forbid');
  t.equal(jobs.length, 1, `one Job (got ${jobs.map((j) => j.metadata?.name).join(', ')})`);
});

t.test('Replace: one Job left after a burst', async (t) => {
  for (let round = 0; round < 5; round++) await burst('replace', 20);
  // Replaced Jobs are deleted in the background: wait for the deletions to be visible.
  const jobs = await eventually(
    () => jobsOf('replace'),
    (j) => j.length <= 1,
    10_000,
  );
  t.equal(jobs.length, 1, `one Job (got ${jobs.map((j) => j.metadata?.name).join(', ')})`);
});

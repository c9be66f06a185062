import t from 'tap';
import { appCluster, clusterController, eventually } from '../src/index.js';
import { policyTriggers } from '../src/policy-triggers.js';

// concurrencyPolicy under a burst of webhooks: Forbid and Replace promise one Job at a time per trigger
// and source, however many deliveries arrive and however they are batched into checks. (A check that
// decides before the watch has shown it the Job the one before created collides with it on the name:
// chained Jobs, controller/src/jobs/chain.ts; across replicas: policy-replicas.test.ts.)

const plane = await appCluster(t, { 'a.txt': '1\n' }, 'c1');
const ns = 'policy-burst';
const { burst: deliver, jobsOf } = await policyTriggers(plane, ns);
const { base } = await clusterController(t, plane, ['--webhooks-ack', 'immediate']);
// `n` deliveries at once, then until every check has ended.
const burst = (name: 'forbid' | 'replace', n: number) =>
  deliver(
    name,
    Array.from({ length: n }, () => base),
  );

t.test('Forbid: one Job for a burst, while it is active', async (t) => {
  // Rounds of deliveries spread over several checks (each round's first request starts a check, the
  // rest join the next one, which decides as the first one's Job is being created).
  for (let round = 0; round < 5; round++) await burst('forbid', 20);
  const jobs = await jobsOf('forbid');
  t.equal(jobs.length, 1, `one Job (got ${jobs.map((j) => j.metadata?.name).join(', ')})`);
  // A delivery while that Job is active starts nothing, and its task says which Job held it back.
  const res = await fetch(`${base}/${ns}/forbid/app`, { method: 'POST' });
  const { task_id: id } = (await res.json()) as { task_id: string };
  const task = await eventually(
    () =>
      fetch(`${base}/tasks/${id}`).then(
        (r) => r.json() as Promise<{ state?: string; jobs?: string[]; held?: unknown }>,
      ),
    (s) => s.state === 'Succeeded' || s.state === 'Failed',
    30_000,
  );
  t.match(task, { state: 'Succeeded', jobs: [], held: [{ source: 'app', job: jobs[0]?.metadata?.name }] });
  t.equal((await jobsOf('forbid')).length, 1, 'still one Job');
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

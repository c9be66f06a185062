import type { V1Job } from '@kubernetes/client-node';
import t from 'tap';
import { appCluster, clusterController, completedJobStatus, eventually } from '../src/index.js';
import { policyTriggers } from '../src/policy-triggers.js';

// concurrencyPolicy across replicas: two, then three controller replicas get the same trigger's webhook
// at the same moment (each delivery is a run of its own: onChangeOnly false), round after round (1,000
// rounds per policy: half with two replicas, half with three). Each
// replica decides from its own cache, milliseconds apart; the policy must still hold cluster-wide,
// counted from the API server after every burst:
// - Forbid: never two active Jobs; each round's Job is completed before the next, so every round ends
//   with exactly one Job made in it.
// - Replace: exactly one Job left after every burst (the replaced ones are deleted).
// Before Jobs were chained by name (controller/src/jobs/chain.ts), replicas deciding together each
// created a Job and this file failed within a few rounds.

// Rounds per policy, split between the two and three replica runs.
const ROUNDS = Number(process.env.GER_POLICY_ROUNDS ?? 1000);
t.setTimeout(20 * 60_000);

const plane = await appCluster(t, { 'a.txt': '1\n' }, 'c1');
const { batch } = plane;
const ns = 'policy-replicas';
const { burst, jobsOf } = await policyTriggers(plane, ns);
const replicas = [
  (await clusterController(t, plane, ['--webhooks-ack', 'immediate'])).base,
  (await clusterController(t, plane, ['--webhooks-ack', 'immediate'])).base,
  (await clusterController(t, plane, ['--webhooks-ack', 'immediate'])).base,
];

const done = (j: V1Job) => (j.status?.succeeded ?? 0) > 0;
/** Marks a Job complete through its status (no kubelet here), once the queue has admitted it. */
const complete = async (job: V1Job) => {
  const name = job.metadata?.name ?? '';
  const admitted = await eventually(
    () => batch.readNamespacedJob({ name, namespace: ns }),
    (j) => j.spec?.suspend !== true,
    30_000,
    5,
  );
  await batch.replaceNamespacedJobStatus({
    name,
    namespace: ns,
    body: { ...admitted, status: completedJobStatus(new Date().toISOString()) },
  });
};

for (const count of [2, 3]) {
  const to = replicas.slice(0, count);
  const rounds = Math.ceil(ROUNDS / 2);
  t.test(`Forbid with ${count} replicas, ${rounds} rounds: never two active Jobs, one per round`, async (t) => {
    let twoActive = 0;
    let roundsWithout = 0;
    const before = (await jobsOf('forbid')).length;
    for (let round = 0; round < rounds; round++) {
      // A replica whose cache has not seen the last round's completion yet holds its delivery back
      // (rightly): deliver again until the round's Job exists, at most a few times.
      let active: V1Job[] = [];
      for (let attempt = 0; attempt < 20 && active.length === 0; attempt++) {
        await burst('forbid', to);
        active = (await jobsOf('forbid')).filter((j) => !done(j));
        if (active.length > 1) twoActive++;
      }
      if (active.length === 0) roundsWithout++;
      for (const job of active) await complete(job);
    }
    const made = (await jobsOf('forbid')).length - before;
    t.equal(twoActive, 0, 'no burst left two active Jobs');
    t.equal(roundsWithout, 0, 'every round started its Job');
    t.equal(made, rounds, `exactly ${rounds} Jobs, one per round`);
  });

  t.test(`Replace with ${count} replicas, ${rounds} rounds: one Job left after every burst`, async (t) => {
    let notOne = 0;
    const seen: number[] = [];
    for (let round = 0; round < rounds; round++) {
      await burst('replace', to);
      const left = await jobsOf('replace');
      if (left.length !== 1) {
        notOne++;
        if (seen.length < 10) seen.push(left.length);
      }
    }
    t.equal(notOne, 0, `after every burst one Job (other counts seen: ${seen.join(', ')})`);
  });
}

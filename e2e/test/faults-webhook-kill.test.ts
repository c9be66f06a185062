import { API_VERSION, JOB_ANNOTATIONS, type WebhookJournalEntry } from '@git-events-runner/shared';
import { BatchV1Api, type V1Job } from '@kubernetes/client-node';
import t, { type Test } from 'tap';
import { stringify } from 'yaml';
import { startProxiedGit } from '../src/fault-proxy.js';
import { type ControllerProcess, eventually, isolatedCluster, startControllerProcess } from '../src/index.js';

// A replica killed with SIGKILL after answering webhooks 202 and before their checks ran (the git server
// stalls them): the requests are listed in the trigger's status before the 202, so the leader checks them
// again under the same task ids and run keys. Every accepted request gets exactly its Job, a change
// announced only by a lost request still runs, and GET /tasks/{id} on the leader tells how it went.
// Round 1 kills a replica that is not the leader; round 2 kills the leader itself.

const LEASE_S = 6;
const REPLAY_AFTER_S = 5;
const HOOKS = 8;

const plane = await isolatedCluster(t);
const { kc, core, kubectl } = plane;
const batch = kc.makeApiClient(BatchV1Api);
const { servers, proxy, viaProxy } = await startProxiedGit(t);

const ns = 'hook-kill';
const TOKEN = 'hook-kill-token-5813';
await core.createNamespace({ body: { metadata: { name: ns } } });
await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'tok' }, stringData: { token: TOKEN } } });
await servers.fixtures.create('repo');
let head = (await servers.fixtures.commit('repo', { 'a.txt': '0\n' }, 'c0')).trim();
const obj = (kind: string, name: string, spec: unknown) =>
  stringify({ apiVersion: API_VERSION, kind, metadata: { name, namespace: ns }, spec });
const auth = { secretRef: { name: 'tok' }, key: 'token' };
await kubectl(
  ['apply', '--server-side', '-f', '-'],
  [
    obj('Action', 'act', {}),
    obj('GitRepo', 'repo', { repoUri: viaProxy('repo') }),
    // One Job per request.
    obj('WebhookTrigger', 'every', {
      sources: { names: ['repo'], watchOn: { onChangeOnly: false } },
      action: { kind: 'Action', name: 'act' },
      webhook: { authConfig: auth },
    }),
    // One Job per commit.
    obj('WebhookTrigger', 'changes', {
      sources: { names: ['repo'] },
      action: { kind: 'Action', name: 'act' },
      webhook: { authConfig: auth },
    }),
  ].join('---\n'),
);

const args = [
  '--leader-lease-duration',
  String(LEASE_S),
  '--leader-lease-grace',
  '2',
  '--webhooks-replay-after',
  String(REPLAY_AFTER_S),
];
const start = () => startControllerProcess({ kubeconfig: plane.kubeconfig, namespace: 'ger-system', args });
const replicas: ControllerProcess[] = [await start(), await start()];
t.teardown(async () => {
  for (const r of replicas) await r.stop('SIGKILL');
});
const isLeader = async (c: ControllerProcess) => /^git_events_runner_leader 1$/m.test((await c.get('/metrics')).body);
const leaderOf = async (candidates: ControllerProcess[]) => {
  const flags = await eventually(
    () => Promise.all(candidates.map(isLeader)),
    (l) => l.filter(Boolean).length === 1,
    30_000,
  );
  return candidates[flags.indexOf(true)] as ControllerProcess;
};
const jobsOf = async (trigger: string) =>
  (await batch.listNamespacedJob({ namespace: ns })).items.filter(
    (j: V1Job) => j.metadata?.annotations?.['git-events-runner.rs/trigger'] === trigger,
  );
// The webhook journal: one ConfigMap in the controller's namespace, one key per task.
const pendingOf = async (trigger: string): Promise<WebhookJournalEntry[]> => {
  const cm = await core
    .readNamespacedConfigMap({ namespace: 'ger-system', name: 'git-events-runner-config-journal' })
    .catch(() => undefined);
  return Object.values(cm?.data ?? {})
    .map((v) => JSON.parse(v) as WebhookJournalEntry)
    .filter((e) => e.trigger === trigger && e.namespace === ns);
};
const post = async (replica: ControllerProcess, trigger: string) => {
  const res = await fetch(`http://127.0.0.1:${replica.webhooksPort}/${ns}/${trigger}/repo`, {
    method: 'POST',
    headers: { 'x-trigger-auth': TOKEN },
  });
  const body = (await res.json()) as { task_id?: string };
  return { status: res.status, task: body.task_id ?? '' };
};
const task = async (replica: ControllerProcess, id: string) => {
  const res = await fetch(`http://127.0.0.1:${replica.webhooksPort}/tasks/${id}`, {
    headers: { 'x-trigger-auth': TOKEN },
  });
  return res.status === 200 ? ((await res.json()) as { state: string; jobs: string[] }) : undefined;
};
const replays = async (replica: ControllerProcess) => {
  const m = /^git_events_runner_webhook_replays_total\{[^}]*trigger_name="every"[^}]*\} (\d+)$/m.exec(
    (await replica.get('/metrics')).body,
  );
  return Number(m?.[1] ?? 0);
};

/**
 * Sends HOOKS requests for `every` and one for `changes` (after a new commit) to `victim` while git
 * stalls, checks they are listed as pending, kills the victim with SIGKILL and lets git answer again.
 */
async function acceptThenKill(t: Test, victim: ControllerProcess): Promise<{ every: string[]; changes: string }> {
  await proxy.setMode('stall');
  head = (await servers.fixtures.commit('repo', { 'a.txt': `${Date.now()}\n` }, 'next')).trim();
  const every: string[] = [];
  for (let i = 0; i < HOOKS; i++) {
    const r = await post(victim, 'every');
    t.equal(r.status, 202, 'accepted');
    every.push(r.task);
  }
  const changes = await post(victim, 'changes');
  t.equal(changes.status, 202, 'accepted');
  // Answered 202 means recorded: the journal lists every request before its check has run.
  const listed = new Set((await pendingOf('every')).map((p) => p.task));
  t.same(
    every.filter((id) => !listed.has(id)),
    [],
    'each request answered 202 is listed in the journal already',
  );
  t.ok((await pendingOf('changes')).some((p) => p.task === changes.task));
  t.equal((await jobsOf('every')).length, allEvery.length, 'no new Job yet: the checks are stalled');
  const replicasListed = new Set((await pendingOf('every')).map((p) => p.replica));
  t.equal(replicasListed.size, 1, 'the entries name the replica that accepted them');
  await victim.stop('SIGKILL');
  await proxy.setMode('pass');
  return { every, changes: changes.task };
}

async function verifyReplayed(
  t: Test,
  leader: ControllerProcess,
  accepted: { every: string[]; changes: string },
  allEvery: string[],
) {
  const jobs = await eventually(
    () => jobsOf('every'),
    (j) => j.length >= allEvery.length,
    LEASE_S * 1000 + REPLAY_AFTER_S * 1000 + 30_000,
  );
  const runKeys = jobs.map((j) => j.metadata?.annotations?.[JOB_ANNOTATIONS.runKey]).sort();
  t.same(runKeys, allEvery.map((id) => `request:${id}`).sort(), 'exactly one Job per accepted request, none lost');
  for (const id of accepted.every) {
    const seen = await eventually(
      () => task(leader, id),
      (v) => v?.state === 'Succeeded',
      10_000,
    );
    t.equal(seen?.jobs.length, 1, `GET /tasks/${id.slice(0, 8)} on the leader names its Job`);
  }
  const changeJobs = await eventually(
    () => jobsOf('changes'),
    (j) => j.some((x) => x.metadata?.annotations?.[JOB_ANNOTATIONS.commit] === head),
    15_000,
  );
  t.equal(
    changeJobs.filter((x) => x.metadata?.annotations?.[JOB_ANNOTATIONS.commit] === head).length,
    1,
    'the change announced only by the lost request runs once',
  );
  t.same(
    await eventually(
      async () => [...(await pendingOf('every')), ...(await pendingOf('changes'))],
      (p) => p.length === 0,
      15_000,
    ),
    [],
    'nothing left pending',
  );
  t.ok((await replays(leader)) >= accepted.every.length, 'the replays are counted');
}

const allEvery: string[] = [];

t.test('a replica that is not the leader dies after 202: the leader replays its requests', async (t) => {
  const leader = await leaderOf(replicas);
  const victim = replicas.find((r) => r !== leader) as ControllerProcess;
  const accepted = await acceptThenKill(t, victim);
  allEvery.push(...accepted.every);
  await verifyReplayed(t, leader, accepted, allEvery);
  // A while later: still exactly those Jobs (the replays did not run twice).
  await new Promise((r) => setTimeout(r, REPLAY_AFTER_S * 1000));
  t.equal((await jobsOf('every')).length, allEvery.length, 'no second Job appears later');
});

t.test('the leader dies after 202: the next leader replays its requests', async (t) => {
  const survivor = replicas.find((r) => r.child.exitCode === null && r.child.signalCode === null);
  if (survivor === undefined) throw new Error('no replica left');
  replicas.push(await start());
  const leader = await leaderOf(replicas.filter((r) => r.child.signalCode === null && r.child.exitCode === null));
  t.equal(leader, survivor, 'the older replica leads');
  const accepted = await acceptThenKill(t, leader);
  allEvery.push(...accepted.every);
  const next = replicas.at(-1) as ControllerProcess;
  await leaderOf([next]);
  await verifyReplayed(t, next, accepted, allEvery);
});

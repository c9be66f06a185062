import { API_VERSION } from '@git-events-runner/shared';
import { BatchV1Api, type V1Job } from '@kubernetes/client-node';
import t from 'tap';
import { stringify } from 'yaml';
import { startGitServers } from '../src/git-servers.js';
import { type ControllerProcess, eventually, isolatedCluster, startControllerProcess } from '../src/index.js';

// Leader loss under load: two replicas, 200 ScheduleTriggers over 20 repositories, commits landing all the
// time, and the leader killed with SIGKILL at random moments. Every commit on a watched ref must get exactly
// one Job per trigger (onChangeOnly: true), judged from the Jobs themselves, and each failover must finish
// within the lease duration plus one interval.

const REPOS = 20;
const TRIGGERS = 200;
// Failover must finish within LEASE_S + INTERVAL_S; a 5 s interval also keeps 200 triggers' status writes
// light on a loaded 2-core CI machine.
const INTERVAL_S = 5;
const LEASE_S = 6;
const KILLS = 3;

const plane = await isolatedCluster(t);
const { kc, core, kubectl } = plane;
const batch = kc.makeApiClient(BatchV1Api);
const servers = await startGitServers({ ssh: false, daemon: false });
t.teardown(() => servers.stop());

const ns = 'leader-loss';
await core.createNamespace({ body: { metadata: { name: ns } } });
/** Every commit made on each repository's main branch, in order. */
const commits = new Map<string, string[]>();
for (let i = 0; i < REPOS; i++) {
  await servers.fixtures.create(`r${i}`);
  commits.set(`r${i}`, [(await servers.fixtures.commit(`r${i}`, { 'n.txt': '0\n' }, 'c0')).trim()]);
}
const obj = (kind: string, name: string, spec: unknown) =>
  stringify({ apiVersion: API_VERSION, kind, metadata: { name, namespace: ns }, spec });
const docs = [obj('Action', 'act', {})];
for (let i = 0; i < REPOS; i++) docs.push(obj('GitRepo', `r${i}`, { repoUri: servers.urls.http(`r${i}`) }));
for (let i = 0; i < TRIGGERS; i++) {
  docs.push(
    obj('ScheduleTrigger', `t${i}`, {
      sources: { names: [`r${i % REPOS}`] },
      schedule: { interval: `${INTERVAL_S}s` },
      action: { kind: 'Action', name: 'act' },
    }),
  );
}
await kubectl(['apply', '--server-side', '-f', '-'], docs.join('---\n'));

const args = ['--leader-lease-duration', String(LEASE_S), '--leader-lease-grace', '2', '--log-level', 'warn'];
const replicas: ControllerProcess[] = [];
const start = async () => {
  const c = await startControllerProcess({ kubeconfig: plane.kubeconfig, namespace: 'ger-system', args });
  replicas.push(c);
  return c;
};
t.teardown(async () => {
  for (const r of replicas) await r.stop('SIGKILL');
});
const isLeader = async (c: ControllerProcess) => /^git_events_runner_leader 1$/m.test((await c.get('/metrics')).body);
const leaderOf = async (pair: ControllerProcess[]) => {
  const flags = await Promise.all(pair.map(isLeader));
  const leaders = pair.filter((_, i) => flags[i]);
  return leaders.length === 1 ? leaders[0] : undefined;
};

let pair = [await start(), await start()];

// Commits land on one repository after another, one every 1.5 s: each repository changes every 30 s,
// longer than a failover plus an interval, so every commit is there to be seen by some check.
let committing = true;
const committer = (async () => {
  let n = 0;
  while (committing) {
    const repo = `r${n % REPOS}`;
    n++;
    const id = (await servers.fixtures.commit(repo, { 'n.txt': `${n}\n` }, `c${n}`)).trim();
    commits.get(repo)?.push(id);
    await new Promise((r) => setTimeout(r, 1500));
  }
})();

t.test('SIGKILL of the leader at random moments: failover within lease + interval', async (t) => {
  for (let round = 0; round < KILLS; round++) {
    const leader = await eventually(
      () => leaderOf(pair),
      (l) => l !== undefined,
      (LEASE_S + INTERVAL_S) * 1000 + 5000,
    );
    if (leader === undefined) {
      t.fail(`round ${round}: no single leader`);
      return;
    }
    // A random moment: 2-8 s into this leader's term, while checks and Job creations are under way.
    await new Promise((r) => setTimeout(r, 2000 + Math.random() * 6000));
    const killedAt = Date.now();
    await leader.stop('SIGKILL');
    const survivor = pair.find((c) => c !== leader);
    if (survivor === undefined) throw new Error('no survivor');
    const took = await eventually(
      async () => ((await isLeader(survivor)) ? Date.now() - killedAt : undefined),
      (v) => v !== undefined,
      (LEASE_S + INTERVAL_S) * 1000 + 10_000,
    );
    t.ok(
      took !== undefined && took <= (LEASE_S + INTERVAL_S) * 1000,
      `round ${round}: the survivor leads ${took} ms after the kill (lease ${LEASE_S} s + interval ${INTERVAL_S} s)`,
    );
    // A new replica joins, as a Deployment would start one.
    pair = [survivor, await start()];
  }
});

t.test('every commit got exactly one Job per trigger, and no Job is for anything else', async (t) => {
  committing = false;
  await committer;
  const expected = new Set<string>();
  for (let i = 0; i < TRIGGERS; i++) for (const c of commits.get(`r${i % REPOS}`) ?? []) expected.add(`t${i}@${c}`);
  const key = (j: V1Job) =>
    `${j.metadata?.annotations?.['git-events-runner.rs/trigger']}@${j.metadata?.annotations?.['git-events-runner.rs/commit']}`;
  const list = async () => (await batch.listNamespacedJob({ namespace: ns })).items;
  // The last commits need one more check by the current leader.
  const jobs = await eventually(
    list,
    (items) => new Set(items.map(key)).size >= expected.size,
    (LEASE_S + INTERVAL_S * 4) * 1000,
  );
  const counts = new Map<string, number>();
  for (const j of jobs) counts.set(key(j), (counts.get(key(j)) ?? 0) + 1);
  const missing = [...expected].filter((k) => !counts.has(k));
  const unexpected = [...counts.keys()].filter((k) => !expected.has(k));
  const duplicated = [...counts].filter(([, n]) => n > 1).map(([k]) => k);
  t.same(missing, [], `no commit lost (${expected.size} expected trigger@commit pairs)`);
  t.same(unexpected, [], 'no Job for a commit that was not made');
  t.same(duplicated, [], 'no trigger@commit pair has two Jobs');
  t.equal(jobs.length, expected.size, 'Jobs = commits x triggers of their repository');
});

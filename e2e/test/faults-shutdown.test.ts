import { API_VERSION } from '@git-events-runner/shared';
import { BatchV1Api, CoordinationV1Api, type V1Job } from '@kubernetes/client-node';
import t from 'tap';
import { stringify } from 'yaml';
import { startProxiedGit } from '../src/fault-proxy.js';
import { type ControllerProcess, eventually, isolatedCluster, startControllerProcess } from '../src/index.js';

// SIGTERM to the leader while checks are under way (a slow git server) and Jobs are being created, and
// while webhook checks wait: it exits 0 within the shutdown timeout, releases the lease (the other replica
// leads well before the lease would expire), every webhook answered 202 ends done, and the successor
// neither loses nor duplicates anything: exactly one Job per trigger and commit, every status current.

const REPOS = 5;
const TRIGGERS = 50;
const LEASE_S = 15;

const plane = await isolatedCluster(t);
const { kc, core, kubectl } = plane;
const batch = kc.makeApiClient(BatchV1Api);
const leases = kc.makeApiClient(CoordinationV1Api);
const { servers, proxy, viaProxy } = await startProxiedGit(t);

const ns = 'shutdown';
const TOKEN = 'shutdown-tok-71';
await core.createNamespace({ body: { metadata: { name: ns } } });
await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'tok' }, stringData: { token: TOKEN } } });
const commits = new Map<string, string[]>();
for (let i = 0; i < REPOS; i++) {
  await servers.fixtures.create(`r${i}`);
  commits.set(`r${i}`, [(await servers.fixtures.commit(`r${i}`, { 'a.txt': '0\n' }, 'c0')).trim()]);
}
const obj = (kind: string, name: string, spec: unknown) =>
  stringify({ apiVersion: API_VERSION, kind, metadata: { name, namespace: ns }, spec });
const docs = [
  obj('Action', 'act', {}),
  obj('WebhookTrigger', 'hook', {
    sources: { names: ['r0'], watchOn: { onChangeOnly: false } },
    action: { kind: 'Action', name: 'act' },
    webhook: { multiSource: false, authConfig: { secretRef: { name: 'tok' }, key: 'token' } },
  }),
];
for (let i = 0; i < REPOS; i++) docs.push(obj('GitRepo', `r${i}`, { repoUri: viaProxy(`r${i}`) }));
for (let i = 0; i < TRIGGERS; i++) {
  docs.push(
    obj('ScheduleTrigger', `t${i}`, {
      sources: { names: [`r${i % REPOS}`] },
      schedule: { interval: '2s' },
      action: { kind: 'Action', name: 'act' },
    }),
  );
}
await kubectl(['apply', '--server-side', '-f', '-'], docs.join('---\n'));

const args = [
  '--leader-lease-duration',
  String(LEASE_S),
  '--leader-lease-grace',
  '3',
  '--shutdown-timeout-seconds',
  '20',
];
const a = await startControllerProcess({ kubeconfig: plane.kubeconfig, namespace: 'ger-system', args });
const b = await startControllerProcess({ kubeconfig: plane.kubeconfig, namespace: 'ger-system', args });
t.teardown(async () => {
  await a.stop('SIGKILL');
  await b.stop('SIGKILL');
});
const isLeader = async (c: ControllerProcess) => /^git_events_runner_leader 1$/m.test((await c.get('/metrics')).body);
const scheduledJobs = async () =>
  (await batch.listNamespacedJob({ namespace: ns })).items.filter(
    (j: V1Job) => j.metadata?.annotations?.['git-events-runner.rs/trigger'] !== 'hook',
  );

t.test('SIGTERM mid-check: clean exit, lease released, nothing lost or duplicated', async (t) => {
  const [la, lb] = await eventually(
    () => Promise.all([isLeader(a), isLeader(b)]),
    (l) => l.filter(Boolean).length === 1,
    30_000,
  );
  const [leader, other] = la === true ? [a, b] : [b, a];
  t.ok(la !== lb, 'one leader');
  await eventually(scheduledJobs, (j) => j.length === TRIGGERS, 30_000);

  // The git server becomes slow, changes land on every repository, and checks pile up in flight.
  proxy.setDelay(1500);
  for (const [repo, list] of commits) list.push((await servers.fixtures.commit(repo, { 'a.txt': '1\n' }, 'c1')).trim());
  // Webhooks to the leader: answered 202 now, checked in the background (slowly).
  const hookUrl = `http://127.0.0.1:${leader.webhooksPort}/${ns}/hook/r0`;
  const accepted: string[] = [];
  for (let i = 0; i < 5; i++) {
    const res = await fetch(hookUrl, { method: 'POST', headers: { 'x-trigger-auth': TOKEN } });
    t.equal(res.status, 202);
    accepted.push(((await res.json()) as { task_id: string }).task_id);
  }
  await new Promise((r) => setTimeout(r, 2500));
  const before = await scheduledJobs();
  t.ok(
    before.length < 2 * TRIGGERS,
    `SIGTERM while checks are under way (${before.length - TRIGGERS} of ${TRIGGERS} new Jobs so far)`,
  );
  const termAt = Date.now();
  const code = await leader.stop('SIGTERM');
  const exitMs = Date.now() - termAt;
  t.equal(code, 0, `exit code 0 after ${exitMs} ms`);
  t.ok(exitMs < 20_000 + 5000, 'within the shutdown timeout');
  const logs = leader.logs();
  t.match(logs, /"msg":"stopped"/, 'it logged a complete shutdown');
  t.notMatch(logs, /"level":(50|60)/, 'no error or fatal log line');
  // Onchange-only false: one Job per accepted webhook, all created before the process exited.
  const hookJobs = (await batch.listNamespacedJob({ namespace: ns })).items.filter(
    (j: V1Job) => j.metadata?.annotations?.['git-events-runner.rs/trigger'] === 'hook',
  );
  t.equal(hookJobs.length, accepted.length, 'every webhook answered 202 got its Job before the exit');

  const lease = await leases.readNamespacedLease({ name: 'git-events-runner-leader-lock', namespace: 'ger-system' });
  t.not(lease.spec?.holderIdentity, undefined);
  const took = await eventually(
    async () => ((await isLeader(other)) ? Date.now() - termAt : undefined),
    (v) => v !== undefined,
    LEASE_S * 1000 + 10_000,
  );
  t.ok(
    took !== undefined && took < LEASE_S * 1000,
    `the other replica leads ${took} ms after SIGTERM (released, not expired)`,
  );
  proxy.setDelay(0);

  const expected = new Set<string>();
  for (let i = 0; i < TRIGGERS; i++) for (const c of commits.get(`r${i % REPOS}`) ?? []) expected.add(`t${i}@${c}`);
  const jobs = await eventually(scheduledJobs, (j) => j.length >= expected.size, 40_000);
  const counts = new Map<string, number>();
  for (const j of jobs) {
    const k = `${j.metadata?.annotations?.['git-events-runner.rs/trigger']}@${j.metadata?.annotations?.['git-events-runner.rs/commit']}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  t.same(
    [...expected].filter((k) => !counts.has(k)),
    [],
    'no change lost',
  );
  t.same(
    [...counts].filter(([k, n]) => n > 1 || !expected.has(k)),
    [],
    'no duplicate, nothing unexpected',
  );
  // Every status names the latest commit and a Job that exists: nothing half-written.
  const names = new Set(jobs.map((j) => j.metadata?.name));
  const stale = await eventually(
    async () => {
      const list = JSON.parse(await kubectl(['-n', ns, 'get', 'scheduletriggers', '-o', 'json'])) as {
        items: {
          metadata: { name: string };
          spec: { sources: { names: string[] } };
          status?: { checkedSources?: Record<string, { commitHash?: string; lastJob?: { name: string } }> };
        }[];
      };
      return list.items.filter((tr) => {
        const repo = tr.spec.sources.names[0] ?? '';
        const entry = tr.status?.checkedSources?.[repo];
        return entry?.commitHash !== commits.get(repo)?.at(-1) || !names.has(entry?.lastJob?.name);
      });
    },
    (s) => s.length === 0,
    20_000,
  );
  t.same(
    stale.map((s) => s.metadata.name),
    [],
    'every status records the latest commit and an existing Job',
  );
});

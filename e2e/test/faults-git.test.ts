import { API_VERSION } from '@git-events-runner/shared';
import { BatchV1Api, EventsV1Api, type V1Job } from '@kubernetes/client-node';
import t from 'tap';
import { stringify } from 'yaml';
import { type FaultMode, type FaultProxy, startFaultProxy } from '../src/fault-proxy.js';
import { startGitServers, startGitSshServer } from '../src/git-servers.js';
import { eventually, isolatedCluster, startControllerProcess } from '../src/index.js';

// Git servers failing while the controller runs: down (connection refused), resetting connections,
// stalled past the timeout, answering HTTP 500, and an SSH server whose host key changed. For each: the
// trigger's Ready condition and an Event say what is wrong within one interval (plus the git timeout),
// failed checks back off, no Job fires on a failed check, the process does not crash, and once the fault
// is gone the pending change runs by itself.

const INTERVAL_S = 1;
const GIT_TIMEOUT_S = 2;

const plane = await isolatedCluster(t);
const { kc, core, kubectl } = plane;
const batch = kc.makeApiClient(BatchV1Api);
const events = kc.makeApiClient(EventsV1Api);
const servers = await startGitServers({ ssh: true, daemon: false });
t.teardown(() => servers.stop());
const ssh = servers.ssh;
if (ssh === undefined) throw new Error('no sshd');
// Another sshd for the same repositories, with host keys of its own: the proxy switching to it is a
// server whose host key changed.
const impostor = await startGitSshServer({ root: servers.root });
t.teardown(() => impostor.stop());

const HTTP_FAULTS = ['refuse', 'reset', 'stall', 'http500'] as const satisfies readonly FaultMode[];
const proxies = new Map<string, FaultProxy>();
const httpPort = Number(new URL(servers.urls.http('x')).port);
for (const fault of HTTP_FAULTS) {
  await servers.fixtures.create(fault);
  await servers.fixtures.commit(fault, { 'a.txt': '0\n' }, 'c0');
  const proxy = await startFaultProxy(httpPort);
  t.teardown(() => proxy.stop());
  proxies.set(fault, proxy);
}
await servers.fixtures.create('hostkey');
await servers.fixtures.commit('hostkey', { 'a.txt': '0\n' }, 'c0');
const sshProxy = await startFaultProxy(ssh.port);
t.teardown(() => sshProxy.stop());
proxies.set('hostkey', sshProxy);

const ns = 'git-faults';
await core.createNamespace({ body: { metadata: { name: ns } } });
// known_hosts for the address the controller dials (the proxy), with the real server's keys.
const knownHosts = ssh.knownHosts.replace(/^\[127\.0\.0\.1\]:\d+/gm, `[127.0.0.1]:${sshProxy.port}`);
await core.createNamespacedSecret({
  namespace: ns,
  body: {
    metadata: { name: 'ssh' },
    stringData: { 'ssh-privatekey': ssh.keys.ed25519.privateKey, known_hosts: knownHosts },
  },
});
const obj = (kind: string, name: string, spec: unknown) =>
  stringify({ apiVersion: API_VERSION, kind, metadata: { name, namespace: ns }, spec });
const uriOf = (name: string, proxy: FaultProxy) => {
  if (name === 'hostkey') return ssh.url('hostkey').replace(`:${ssh.port}/`, `:${proxy.port}/`);
  const u = new URL(servers.urls.http(name));
  u.port = String(proxy.port);
  return u.toString();
};
const docs = [obj('Action', 'act', {})];
for (const [name, proxy] of proxies) {
  docs.push(
    obj('GitRepo', name, {
      repoUri: uriOf(name, proxy),
      ...(name === 'hostkey' ? { authConfig: { type: 'ssh', secretRef: { name: 'ssh' } } } : {}),
    }),
    obj('ScheduleTrigger', name, {
      sources: { names: [name] },
      schedule: { interval: `${INTERVAL_S}s` },
      action: { kind: 'Action', name: 'act' },
    }),
  );
}
await kubectl(['apply', '-f', '-'], docs.join('---\n'));
const controller = await startControllerProcess({
  kubeconfig: plane.kubeconfig,
  namespace: 'ger-system',
  args: ['--git-timeout-seconds', String(GIT_TIMEOUT_S)],
});
t.teardown(() => controller.stop('SIGKILL'));

interface Trigger {
  status?: {
    conditions?: { type: string; status: string; reason: string; message: string }[];
    checkedSources?: Record<string, { commitHash?: string; lastError?: { reason: string; message: string } }>;
  };
}
const custom = async (name: string) =>
  (await kubectl(['-n', ns, 'get', 'scheduletrigger', name, '-o', 'json']).then((s) => JSON.parse(s) as Trigger))
    .status;
const ready = async (name: string) => (await custom(name))?.conditions?.find((c) => c.type === 'Ready');
const jobsOf = async (name: string) =>
  (await batch.listNamespacedJob({ namespace: ns })).items.filter(
    (j: V1Job) => j.metadata?.annotations?.['git-events-runner.rs/trigger'] === name,
  );
const failedChecks = async (name: string) =>
  Number(
    new RegExp(
      `^git_events_runner_trigger_checks_total\\{[^}]*trigger_name="${name}"[^}]*result="failed"[^}]*\\} (\\d+)$`,
      'm',
    ).exec((await controller.get('/metrics')).body)?.[1] ?? Number.NaN,
  );

const EXPECT: Record<string, { reason: RegExp; message: RegExp }> = {
  refuse: { reason: /^Unreachable$/, message: /refused|unreachable|connect/i },
  reset: { reason: /^(Unreachable|Protocol)$/, message: /reset|closed|hang up|socket/i },
  stall: { reason: /^Timeout$/, message: /timed out|timeout/i },
  http500: { reason: /^(Protocol|Unreachable|NotFound)$/, message: /500/ },
  hostkey: { reason: /^HostKeyMismatch$/, message: /host key/i },
};

t.test('faults are reported, back off, fire no Job, and heal by themselves', async (t) => {
  // Healthy first: every trigger ran its first commit.
  for (const name of proxies.keys()) {
    await eventually(
      () => jobsOf(name),
      (j) => j.length === 1,
      20_000,
    );
    t.equal((await ready(name))?.status, 'True', `${name}: Ready before the fault`);
  }
  const pid = controller.child.pid;
  await Promise.all(
    [...proxies].map(async ([name, proxy]) => {
      // A change lands, and the server breaks before any check could see it.
      const head = (await servers.fixtures.commit(name, { 'a.txt': '1\n' }, 'c1')).trim();
      const faultAt = Date.now();
      if (name === 'hostkey') proxy.setTarget(impostor.port);
      else await proxy.setMode(name as FaultMode);
      const failed = await eventually(
        () => ready(name),
        (c) => c?.status === 'False',
        (INTERVAL_S + GIT_TIMEOUT_S) * 1000 + 6000,
      );
      const took = Date.now() - faultAt;
      t.equal(failed?.status, 'False', `${name}: Ready is False ${took} ms after the fault`);
      t.equal(failed?.reason, 'CheckFailed', `${name}: reason CheckFailed`);
      const lastError = (await custom(name))?.checkedSources?.[name]?.lastError;
      t.match(lastError?.reason, EXPECT[name]?.reason, `${name}: source error ${lastError?.reason}`);
      t.match(lastError?.message, EXPECT[name]?.message, `${name}: says what is wrong: ${lastError?.message}`);
      const event = await eventually(
        async () =>
          (await events.listNamespacedEvent({ namespace: ns })).items.find(
            (e) => e.regarding?.name === name && e.reason === 'CheckFailed',
          ),
        (e) => e !== undefined,
        5000,
      );
      t.match(event?.note, EXPECT[name]?.message, `${name}: a Warning Event says it too`);
      t.equal(event?.type, 'Warning');

      // Backoff: failed checks in 10 s. Without it a 1 s interval gives ~10 (fast failures) or ~3-4
      // (timeouts); with it (1, 2, 4, 8 s) at most 4, plus one that was under way.
      const before = await failedChecks(name);
      await new Promise((r) => setTimeout(r, 10_000));
      const during = (await failedChecks(name)) - before;
      t.ok(during >= 1 && during <= 5, `${name}: ${during} failed checks in 10 s (backing off, still trying)`);
      t.equal((await jobsOf(name)).length, 1, `${name}: no Job fired on a failed check`);

      if (name === 'hostkey') proxy.setTarget(ssh.port);
      else await proxy.setMode('pass');
      // Recovery: the next check (backoff at most 16 intervals) sees the pending change and runs it.
      const jobs = await eventually(
        () => jobsOf(name),
        (j) => j.length === 2,
        30_000,
      );
      t.ok(
        jobs.some((j) => j.metadata?.annotations?.['git-events-runner.rs/commit'] === head),
        `${name}: the change made during the fault ran once the server was back`,
      );
      t.equal((await ready(name))?.status, 'True', `${name}: Ready again`);
    }),
  );
  t.equal(controller.child.pid, pid);
  t.equal(controller.child.exitCode, null, 'no crash');
  t.equal((await controller.get('/alive')).status, 200);
});

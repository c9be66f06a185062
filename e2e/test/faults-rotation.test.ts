import { API_VERSION } from '@git-events-runner/shared';
import { BatchV1Api, PatchStrategy, setHeaderOptions, type V1Job } from '@kubernetes/client-node';
import t from 'tap';
import { stringify } from 'yaml';
import { startGitServers } from '../src/git-servers.js';
import { eventually, isolatedCluster, startControllerProcess } from '../src/index.js';

// Git credentials rotated while the controller runs: the server changes the password, checks fail
// (AuthFailed, no Job); the Secret gets the new password and the next check uses it, without a restart.
// (Webhook token rotation: webhooks.test.ts; TLS certificate rotation: webhooks-tls.test.ts.)

const plane = await isolatedCluster(t);
const { kc, core, kubectl } = plane;
const batch = kc.makeApiClient(BatchV1Api);
const servers = await startGitServers({ ssh: false, daemon: false });
t.teardown(() => servers.stop());
const OLD = { username: 'deployer', password: 'old-pass-5d1e9a' };
const NEW = { username: 'deployer', password: 'new-pass-c07b44' };
servers.http.setAuth({ basic: OLD });
await servers.fixtures.create('private');
await servers.fixtures.commit('private', { 'a.txt': '0\n' }, 'c0');
servers.http.setPublic('private', false);

const ns = 'rotation';
await core.createNamespace({ body: { metadata: { name: ns } } });
await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'creds' }, stringData: OLD } });
const obj = (kind: string, name: string, spec: unknown) =>
  stringify({ apiVersion: API_VERSION, kind, metadata: { name, namespace: ns }, spec });
await kubectl(
  ['apply', '-f', '-'],
  [
    obj('GitRepo', 'src', {
      repoUri: servers.urls.http('private'),
      authConfig: { type: 'basic', secretRef: { name: 'creds' } },
    }),
    obj('Action', 'act', {}),
    obj('ScheduleTrigger', 'trig', {
      sources: { names: ['src'] },
      schedule: { interval: '1s' },
      action: { kind: 'Action', name: 'act' },
    }),
  ].join('---\n'),
);
const controller = await startControllerProcess({ kubeconfig: plane.kubeconfig, namespace: 'ger-system' });
t.teardown(() => controller.stop('SIGKILL'));

const jobs = async () =>
  (await batch.listNamespacedJob({ namespace: ns })).items.filter(
    (j: V1Job) => j.metadata?.annotations?.['git-events-runner.rs/trigger'] === 'trig',
  );
const sourceError = async () =>
  (
    JSON.parse(await kubectl(['-n', ns, 'get', 'scheduletrigger', 'trig', '-o', 'json'])) as {
      status?: { checkedSources?: Record<string, { lastError?: { reason: string } }> };
    }
  ).status?.checkedSources?.src?.lastError?.reason;

t.test('rotated git credentials take effect without a restart; the old ones stop working', async (t) => {
  await eventually(jobs, (j) => j.length === 1, 20_000);
  const pid = controller.child.pid;
  // The server rotates first: the old password stops working, and a change waits.
  servers.http.setAuth({ basic: NEW });
  const head = (await servers.fixtures.commit('private', { 'a.txt': '1\n' }, 'c1')).trim();
  t.equal(
    await eventually(sourceError, (r) => r === 'AuthFailed', 15_000),
    'AuthFailed',
    'the old password is refused',
  );
  t.equal((await jobs()).length, 1, 'no Job while the check fails');
  // The Secret follows: the watched Secret is used by the next check.
  await core.patchNamespacedSecret(
    { namespace: ns, name: 'creds', body: { stringData: { password: NEW.password } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  const after = await eventually(jobs, (j) => j.length === 2, 40_000);
  t.ok(
    after.some((j) => j.metadata?.annotations?.['git-events-runner.rs/commit'] === head),
    'the change runs with the new password',
  );
  t.equal(await sourceError(), undefined, 'the error is gone');
  t.equal(controller.child.pid, pid, 'no restart');
  t.equal(controller.child.exitCode, null);
});

import { API_VERSION, GROUP, VERSION } from '@git-events-runner/shared';
import { BatchV1Api, CoreV1Api, CustomObjectsApi, EventsV1Api, KubeConfig, type V1Job } from '@kubernetes/client-node';
import t from 'tap';
import { stringify } from 'yaml';
import { startGitServers } from '../src/git-servers.js';
import {
  type ControllerProcess,
  eventually,
  installCrds,
  kubectlOk,
  startControllerProcess,
  startControlPlane,
  testCluster,
} from '../src/index.js';

// The controller process against its own control plane (so no other test's triggers are checked) and a
// real git server. Jobs never run here (no kubelet): the tests complete them through the status subresource.

const shared = testCluster();
const plane = await startControlPlane({ binDir: shared.binDir });
t.teardown(() => plane.stop());
await installCrds(plane.binDir, plane.kubeconfig);
const kc = new KubeConfig();
kc.loadFromFile(plane.kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
const batch = kc.makeApiClient(BatchV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const events = kc.makeApiClient(EventsV1Api);
const kubectl = (args: string[], input?: string) => kubectlOk(plane.binDir, plane.kubeconfig, args, input);

const servers = await startGitServers({ ssh: false, daemon: false });
t.teardown(() => servers.stop());
const fx = servers.fixtures;

await core.createNamespace({ body: { metadata: { name: 'ger-system' } } });
const controller: ControllerProcess = await startControllerProcess({
  kubeconfig: plane.kubeconfig,
  namespace: 'ger-system',
  args: ['--log-level', 'debug'],
});
t.teardown(() => controller.stop('SIGKILL'));

let nsCount = 0;
async function namespace(): Promise<string> {
  const name = `ctl-${nsCount++}`;
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

const obj = (kind: string, namespace: string | undefined, name: string, spec: unknown) =>
  stringify({
    apiVersion: API_VERSION,
    kind,
    metadata: namespace === undefined ? { name } : { name, namespace },
    spec,
  });

async function jobs(ns: string): Promise<V1Job[]> {
  return (await batch.listNamespacedJob({ namespace: ns })).items.sort(
    (a, b) =>
      new Date(a.metadata?.creationTimestamp ?? 0).getTime() - new Date(b.metadata?.creationTimestamp ?? 0).getTime(),
  );
}

type TriggerStatus = {
  state?: string;
  lastRun?: string;
  checkedSources?: Record<
    string,
    { commitHash?: string; changed?: string; lastJob?: { name: string; phase: string }; lastError?: { reason: string } }
  >;
  conditions?: { type: string; status: string; reason: string; message: string }[];
};
async function status(ns: string, name: string, plural = 'scheduletriggers'): Promise<TriggerStatus> {
  const o = (await custom.getNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: ns,
    plural,
    name,
  })) as { status?: TriggerStatus };
  return o.status ?? {};
}

async function complete(job: V1Job): Promise<void> {
  const now = new Date().toISOString();
  await batch.replaceNamespacedJobStatus({
    name: job.metadata?.name ?? '',
    namespace: job.metadata?.namespace ?? '',
    body: {
      ...job,
      status: {
        startTime: now as unknown as Date,
        completionTime: now as unknown as Date,
        succeeded: 1,
        conditions: [
          { type: 'SuccessCriteriaMet', status: 'True', lastTransitionTime: now as unknown as Date },
          { type: 'Complete', status: 'True', lastTransitionTime: now as unknown as Date },
        ],
      },
    },
  });
}

async function repo(name: string): Promise<string> {
  await fx.create(name);
  return fx.commit(
    name,
    { 'deploy.sh': { content: '#!/bin/sh\necho ok\n', executable: true }, 'chart/values.yaml': 'a: 1\n' },
    'first',
  );
}

t.test('first check creates the Job, a new commit a second one, no change none', async (t) => {
  const ns = await namespace();
  const first = await repo('basic');
  await kubectl(
    ['apply', '-f', '-'],
    [
      obj('GitRepo', ns, 'src', { repoUri: servers.urls.http('basic') }),
      obj('Action', ns, 'act', { actionJob: { args: ['./deploy.sh'], serviceAccount: 'runner' } }),
      obj('ScheduleTrigger', ns, 'trig', {
        sources: { names: ['src'] },
        schedule: { interval: '1s' },
        action: { kind: 'Action', name: 'act' },
      }),
    ].join('---\n'),
  );
  const created = await eventually(
    () => jobs(ns),
    (j) => j.length === 1,
    20_000,
  );
  t.equal(created.length, 1, 'one Job for the first check');
  const job = created[0]!;
  const init = job.spec?.template.spec?.initContainers?.[0];
  t.match(init?.args?.join(' '), `--kind GitRepo --source src --destination /action_workdir --commit ${first}`);
  const worker = job.spec?.template.spec?.containers[0];
  t.same(worker?.args, ['./deploy.sh']);
  t.equal(worker?.workingDir, '/action_workdir');
  t.equal(job.spec?.template.spec?.serviceAccountName, 'runner');
  t.equal(worker?.env?.find((e) => e.name === 'ACTION_JOB_TRIGGER_SOURCE_COMMIT')?.value, first);
  t.equal(job.spec?.backoffLimit, 0);
  t.equal(job.metadata?.labels?.['git-events-runner.rs/trigger-name'], 'trig');
  const admitted = await eventually(
    () => jobs(ns),
    (j) => j[0]?.spec?.suspend === false,
  );
  t.equal(admitted[0]?.spec?.suspend, false, 'admitted by the queue');
  const s = await eventually(
    () => status(ns, 'trig'),
    (x) => x.checkedSources?.src?.commitHash === first,
  );
  t.equal(s.checkedSources?.src?.commitHash, first);
  t.equal(s.checkedSources?.src?.lastJob?.name, job.metadata?.name);
  t.match(s.lastRun, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  t.equal(s.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
  // Several more checks pass with no change: still one Job.
  await new Promise((r) => setTimeout(r, 3000));
  t.equal((await jobs(ns)).length, 1, 'no change, no Job');
  const second = await fx.commit('basic', { 'chart/values.yaml': 'a: 2\n' }, 'second');
  const two = await eventually(
    () => jobs(ns),
    (j) => j.length === 2,
    20_000,
  );
  t.equal(two.length, 2, 'a new commit creates a second Job');
  t.match(two[1]?.spec?.template.spec?.initContainers?.[0]?.args?.join(' '), `--commit ${second}`);
  const reasons = (await events.listNamespacedEvent({ namespace: ns })).items.map((e) => e.reason);
  t.ok(
    reasons.includes('JobCreated'),
    `JobCreated Events: ${reasons.join(',')} ${controller
      .logs()
      .split('\n')
      .filter((l) => l.includes('Event'))
      .slice(0, 3)
      .join('\n')}`,
  );
});

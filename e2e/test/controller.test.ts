import { createServer } from 'node:http';
import { API_VERSION, GROUP, VERSION } from '@git-events-runner/shared';
import { BatchV1Api, CustomObjectsApi, EventsV1Api, type V1Job } from '@kubernetes/client-node';
import t from 'tap';
import { stringify } from 'yaml';
import { startGitHttpServer, startGitServers } from '../src/git-servers.js';
import { type ControllerProcess, eventually, isolatedCluster, startControllerProcess } from '../src/index.js';

// The controller process against its own control plane (so no other test's triggers are checked) and a
// real git server. Jobs never run here (no kubelet): the tests complete them through the status subresource.

const plane = await isolatedCluster(t);
const { kc, core, kubectl } = plane;
const batch = kc.makeApiClient(BatchV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const events = kc.makeApiClient(EventsV1Api);

const servers = await startGitServers({ ssh: false, daemon: false });
t.teardown(() => servers.stop());
const fx = servers.fixtures;

// An OTLP/HTTP collector on loopback: the controller exports its traces here.
const spans: string[] = [];
const collector = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8').on('data', (d: string) => {
    body += d;
  });
  req.on('end', () => {
    if (req.url === '/v1/traces') spans.push(body);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});
await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
t.teardown(() => new Promise<void>((resolve) => collector.close(() => resolve())));
const collectorAddress = collector.address();
const otelEnv = {
  OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${typeof collectorAddress === 'object' && collectorAddress !== null ? collectorAddress.port : 0}`,
  OTEL_BSP_SCHEDULE_DELAY: '200',
};
let controller: ControllerProcess = await startControllerProcess({
  kubeconfig: plane.kubeconfig,
  namespace: 'ger-system',
  args: ['--log-level', 'debug'],
  env: otelEnv,
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

async function condition(ns: string, name: string, plural = 'scheduletriggers') {
  return (await status(ns, name, plural)).conditions?.find((c) => c.type === 'Ready');
}
async function eventReasons(ns: string): Promise<string[]> {
  return (await events.listNamespacedEvent({ namespace: ns })).items.map((e) => e.reason ?? '');
}
// The HELP line mentions "1" too: match the sample line itself.
const isLeader = (metrics: string) => /^git_events_runner_leader 1$/m.test(metrics);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('onChangeOnly false fires every interval, each run its own Job', async (t) => {
  const ns = await namespace();
  await repo('always');
  await kubectl(
    ['apply', '-f', '-'],
    [
      obj('GitRepo', ns, 'src', { repoUri: servers.urls.http('always') }),
      obj('Action', ns, 'act', {}),
      obj('ScheduleTrigger', ns, 'trig', {
        sources: { names: ['src'], watchOn: { onChangeOnly: false } },
        schedule: { interval: '1s' },
        action: { kind: 'Action', name: 'act' },
      }),
    ].join('---\n'),
  );
  const list = await eventually(
    () => jobs(ns),
    (j) => j.length >= 3,
    20_000,
  );
  t.ok(list.length >= 3, `${list.length} Jobs`);
  t.equal(new Set(list.map((j) => j.metadata?.name)).size, list.length, 'distinct names');
  await kubectl(['-n', ns, 'delete', 'scheduletrigger', 'trig']);
  await sleep(1500);
  const after = (await jobs(ns)).length;
  await sleep(2500);
  t.equal((await jobs(ns)).length, after, 'deleting the trigger stops its schedule');
});

t.test(
  'missing Action or source: condition and Event, and the pending change fires once the Action exists',
  async (t) => {
    const ns = await namespace();
    await repo('missing');
    await kubectl(
      ['apply', '-f', '-'],
      [
        obj('GitRepo', ns, 'src', { repoUri: servers.urls.http('missing') }),
        obj('ScheduleTrigger', ns, 'noact', {
          sources: { names: ['src'] },
          schedule: { interval: '1s' },
          action: { kind: 'Action', name: 'later' },
        }),
        obj('ScheduleTrigger', ns, 'nosrc', {
          sources: { names: ['ghost'] },
          schedule: { interval: '1s' },
          action: { kind: 'Action', name: 'later' },
        }),
      ].join('---\n'),
    );
    const c1 = await eventually(
      () => condition(ns, 'noact'),
      (c) => c?.reason === 'ActionNotFound',
      15_000,
    );
    t.equal(c1?.status, 'False');
    t.match(c1?.message, /Action later not found/);
    const c2 = await eventually(
      () => condition(ns, 'nosrc'),
      (c) => c?.reason === 'SourceNotFound',
      15_000,
    );
    t.match(c2?.message, /GitRepo ghost not found/);
    t.ok(
      (
        await eventually(
          () => eventReasons(ns),
          (r) => r.includes('CheckFailed'),
        )
      ).includes('CheckFailed'),
      'CheckFailed Event',
    );
    t.equal((await jobs(ns)).length, 0);
    await kubectl(['apply', '-f', '-'], obj('Action', ns, 'later', {}));
    const created = await eventually(
      () => jobs(ns),
      (j) => j.length === 1,
      15_000,
    );
    t.equal(created.length, 1, 'the pending change fired');
    t.equal(
      (
        await eventually(
          () => condition(ns, 'noact'),
          (c) => c?.reason === 'Checked',
        )
      )?.status,
      'True',
    );
  },
);

t.test('an invalid schedule sets WrongConfig with a condition and an Event', async (t) => {
  const ns = await namespace();
  await kubectl(
    ['apply', '-f', '-'],
    obj('ScheduleTrigger', ns, 'bad', {
      sources: { names: ['x'] },
      schedule: { cron: '61 * * * *' },
      action: { kind: 'Action', name: 'a' },
    }),
  );
  const s = await eventually(
    () => status(ns, 'bad'),
    (x) => x.state === 'WrongConfig',
    15_000,
  );
  t.equal(s.state, 'WrongConfig');
  const c = s.conditions?.find((x) => x.type === 'Ready');
  t.equal(c?.reason, 'InvalidSchedule');
  t.match(c?.message, /invalid schedule/);
  t.ok(
    (
      await eventually(
        () => eventReasons(ns),
        (r) => r.includes('InvalidConfiguration'),
      )
    ).includes('InvalidConfiguration'),
  );
  await kubectl([
    '-n',
    ns,
    'patch',
    'scheduletrigger',
    'bad',
    '--type=merge',
    '-p',
    '{"spec":{"schedule":{"cron":"0 * * * *"}}}',
  ]);
  t.not(
    (
      await eventually(
        () => condition(ns, 'bad'),
        (x) => x?.reason !== 'InvalidSchedule',
      )
    )?.reason,
    'InvalidSchedule',
    'fixing the schedule clears it',
  );
});

t.test('suspend stops checks; the run-now annotation requests one', async (t) => {
  const ns = await namespace();
  await repo('suspend');
  await kubectl(
    ['apply', '-f', '-'],
    [
      obj('GitRepo', ns, 'src', { repoUri: servers.urls.http('suspend') }),
      obj('Action', ns, 'act', {}),
      obj('ScheduleTrigger', ns, 'trig', {
        suspend: true,
        sources: { names: ['src'], watchOn: { onChangeOnly: false } },
        schedule: { interval: '1h' },
        action: { kind: 'Action', name: 'act' },
      }),
    ].join('---\n'),
  );
  t.equal(
    (
      await eventually(
        () => condition(ns, 'trig'),
        (c) => c?.reason === 'Suspended',
        15_000,
      )
    )?.status,
    'False',
  );
  await sleep(2000);
  t.equal((await jobs(ns)).length, 0, 'no check while suspended');
  await kubectl(['-n', ns, 'patch', 'scheduletrigger', 'trig', '--type=merge', '-p', '{"spec":{"suspend":false}}']);
  t.equal(
    (
      await eventually(
        () => jobs(ns),
        (j) => j.length === 1,
        15_000,
      )
    ).length,
    1,
    'first check after resuming',
  );
  await sleep(1500);
  t.equal((await jobs(ns)).length, 1, 'next check is an hour away');
  await kubectl([
    '-n',
    ns,
    'annotate',
    'scheduletrigger',
    'trig',
    `git-events-runner.rs/run-requested-at=${new Date().toISOString()}`,
  ]);
  t.equal(
    (
      await eventually(
        () => jobs(ns),
        (j) => j.length === 2,
        15_000,
      )
    ).length,
    2,
    'run now',
  );
  const annotations = JSON.parse(
    (await kubectl(['-n', ns, 'get', 'scheduletrigger', 'trig', '-o', 'jsonpath={.metadata.annotations}'])) || '{}',
  ) as Record<string, string>;
  t.equal(annotations['git-events-runner.rs/run-requested-at'], undefined, 'the request is cleared once handled');
});

t.test('tags, commits, file globs, ClusterGitRepo, ClusterAction with sourceOverride', async (t) => {
  const ns = await namespace();
  const c1 = await repo('refs');
  await fx.annotatedTag('refs', 'v1', undefined, 'v1');
  await kubectl(
    ['apply', '-f', '-'],
    [
      obj('ClusterGitRepo', undefined, `${ns}-repo`, { repoUri: servers.urls.http('refs') }),
      obj('ClusterAction', undefined, `${ns}-act`, {
        sourceOverride: { kind: 'ClusterGitRepo', name: `${ns}-repo`, reference: { branch: 'main' } },
      }),
      obj('Action', ns, 'act', {}),
      obj('ScheduleTrigger', ns, 'tag', {
        sources: {
          kind: 'ClusterGitRepo',
          names: [`${ns}-repo`],
          watchOn: { onChangeOnly: true, reference: { tag: 'v1' } },
        },
        schedule: { interval: '1s' },
        action: { kind: 'ClusterAction', name: `${ns}-act` },
      }),
      obj('ScheduleTrigger', ns, 'commit', {
        sources: {
          kind: 'ClusterGitRepo',
          names: [`${ns}-repo`],
          watchOn: { onChangeOnly: true, reference: { commit: c1 } },
        },
        schedule: { interval: '1s' },
        action: { kind: 'Action', name: 'act' },
      }),
      obj('ScheduleTrigger', ns, 'files', {
        sources: { kind: 'ClusterGitRepo', names: [`${ns}-repo`], watchOn: { onChangeOnly: true, files: ['chart/'] } },
        schedule: { interval: '1s' },
        action: { kind: 'Action', name: 'act' },
      }),
    ].join('---\n'),
  );
  const byTrigger = async () => {
    const all = await jobs(ns);
    const of = (name: string) => all.filter((j) => j.metadata?.labels?.['git-events-runner.rs/trigger-name'] === name);
    return { tag: of('tag'), commit: of('commit'), files: of('files') };
  };
  const first = await eventually(
    byTrigger,
    (x) => x.tag.length === 1 && x.commit.length === 1 && x.files.length === 1,
    20_000,
  );
  const tagJob = first.tag[0]!;
  t.match(
    tagJob.spec?.template.spec?.initContainers?.[0]?.args?.join(' '),
    '--kind ClusterGitRepo',
    'ClusterAction clones its override',
  );
  t.match(tagJob.spec?.template.spec?.initContainers?.[0]?.args?.join(' '), '--branch main');
  const env = Object.fromEntries((tagJob.spec?.template.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
  t.equal(env.ACTION_JOB_TRIGGER_SOURCE_COMMIT, c1, 'the annotated tag is peeled to its commit');
  t.equal(env.ACTION_JOB_TRIGGER_SOURCE_REF_TYPE, 'tag');
  t.equal(env.ACTION_JOB_ACTION_SOURCE_KIND, 'ClusterGitRepo');
  await fx.commit('refs', { 'README.md': 'outside\n' }, 'outside the filter');
  await sleep(3000);
  const mid = await byTrigger();
  t.equal(mid.files.length, 1, 'a change outside the files filter fires nothing');
  t.equal(mid.commit.length, 1, 'a commit reference never changes');
  t.equal(mid.tag.length, 1, 'the tag did not move');
  await fx.commit('refs', { 'chart/values.yaml': 'a: 9\n' }, 'inside the filter');
  t.equal(
    (await eventually(byTrigger, (x) => x.files.length === 2, 20_000)).files.length,
    2,
    'a change inside the filter fires',
  );
});

t.test('maxRunningJobs: Jobs wait suspended until capacity frees; reload from the ConfigMap', async (t) => {
  const ns = await namespace();
  await repo('queue');
  await core.createNamespacedConfigMap({
    namespace: 'ger-system',
    body: { metadata: { name: 'git-events-runner-config' }, data: { runtimeConfig: 'action:\n  maxRunningJobs: 1\n' } },
  });
  // Deleting the ConfigMap keeps the last configuration (as the original): restore the default limit instead.
  t.teardown(() =>
    core
      .replaceNamespacedConfigMap({
        namespace: 'ger-system',
        name: 'git-events-runner-config',
        body: {
          metadata: { name: 'git-events-runner-config' },
          data: { runtimeConfig: 'action:\n  maxRunningJobs: 16\n' },
        },
      })
      .then(() => undefined),
  );
  await eventually(
    async () => controller.logs().includes('runtime configuration loaded'),
    (x) => x,
  );
  // A bad document keeps the previous configuration and says why.
  await core.replaceNamespacedConfigMap({
    namespace: 'ger-system',
    name: 'git-events-runner-config',
    body: {
      metadata: { name: 'git-events-runner-config' },
      data: { runtimeConfig: 'action:\n  maxRunningJobs: many\n' },
    },
  });
  const why = await eventually(
    async () => controller.logs(),
    (l) => l.includes('invalid runtime configuration'),
  );
  t.match(why, /action\.maxRunningJobs/, 'the log names the field');
  t.match(
    (await controller.get('/metrics')).body,
    /^git_events_runner_jobs_queue_limit 1$/m,
    'the previous limit stays',
  );
  // Finish every earlier Job so only this test's count.
  for (const j of (await batch.listJobForAllNamespaces({})).items)
    if ((j.status?.succeeded ?? 0) === 0) await complete(j);
  await kubectl(
    ['apply', '-f', '-'],
    [
      obj('GitRepo', ns, 'src', { repoUri: servers.urls.http('queue') }),
      obj('Action', ns, 'act', {}),
      obj('ScheduleTrigger', ns, 'a', {
        sources: { names: ['src'] },
        schedule: { interval: '1h' },
        action: { kind: 'Action', name: 'act' },
      }),
      obj('ScheduleTrigger', ns, 'b', {
        sources: { names: ['src'] },
        schedule: { interval: '1h' },
        action: { kind: 'Action', name: 'act' },
      }),
    ].join('---\n'),
  );
  const both = await eventually(
    () => jobs(ns),
    (j) => j.length === 2 && j.filter((x) => x.spec?.suspend === false).length === 1,
    20_000,
  );
  t.equal(both.filter((x) => x.spec?.suspend === false).length, 1, 'one admitted');
  t.equal(both.filter((x) => x.spec?.suspend === true).length, 1, 'one waiting, suspended');
  await sleep(1500);
  t.equal((await jobs(ns)).filter((x) => x.spec?.suspend === false).length, 1, 'still one');
  const running = both.find((x) => x.spec?.suspend === false)!;
  await complete(await batch.readNamespacedJob({ name: running.metadata?.name ?? '', namespace: ns }));
  const after = await eventually(
    () => jobs(ns),
    (j) => j.every((x) => x.spec?.suspend === false),
    15_000,
  );
  t.ok(
    after.every((x) => x.spec?.suspend === false),
    'the waiting Job is admitted when the first completes',
  );
  const trig = running.metadata?.labels?.['git-events-runner.rs/trigger-name'] ?? '';
  const s = await eventually(
    () => status(ns, trig),
    (x) => x.checkedSources?.src?.lastJob?.phase === 'Succeeded',
    15_000,
  );
  t.equal(s.checkedSources?.src?.lastJob?.phase, 'Succeeded', 'the Job outcome is on the trigger');
  t.ok(
    (
      await eventually(
        () => eventReasons(ns),
        (r) => r.includes('JobSucceeded'),
      )
    ).includes('JobSucceeded'),
  );
  // One Job is running and capacity is 1: a Job whose Action allows one second of waiting expires.
  await kubectl(
    ['apply', '-f', '-'],
    [
      obj('Action', ns, 'impatient', { actionJob: { jobWaitingTimeoutSeconds: 1 } }),
      obj('ScheduleTrigger', ns, 'c', {
        sources: { names: ['src'] },
        schedule: { interval: '1h' },
        action: { kind: 'Action', name: 'impatient' },
      }),
    ].join('---\n'),
  );
  const expired = await eventually(
    () => status(ns, 'c'),
    (x) => x.checkedSources?.src?.lastJob?.phase === 'Expired',
    20_000,
  );
  t.equal(expired.checkedSources?.src?.lastJob?.phase, 'Expired', 'a Job waiting past its timeout expires');
  t.notOk(
    (await jobs(ns)).some((j) => j.metadata?.name === expired.checkedSources?.src?.lastJob?.name),
    'and is deleted',
  );
});

t.test('concurrencyPolicy Forbid and Replace', async (t) => {
  const ns = await namespace();
  await repo('policy');
  await kubectl(
    ['apply', '-f', '-'],
    [
      obj('GitRepo', ns, 'src', { repoUri: servers.urls.http('policy') }),
      obj('Action', ns, 'act', {}),
      obj('ScheduleTrigger', ns, 'forbid', {
        concurrencyPolicy: 'Forbid',
        sources: { names: ['src'], watchOn: { onChangeOnly: false } },
        schedule: { interval: '1s' },
        action: { kind: 'Action', name: 'act' },
      }),
      obj('ScheduleTrigger', ns, 'replace', {
        concurrencyPolicy: 'Replace',
        sources: { names: ['src'], watchOn: { onChangeOnly: false } },
        schedule: { interval: '1s' },
        action: { kind: 'Action', name: 'act' },
      }),
    ].join('---\n'),
  );
  const of = async (name: string) =>
    (await jobs(ns)).filter((j) => j.metadata?.labels?.['git-events-runner.rs/trigger-name'] === name);
  const firstReplace = (
    await eventually(
      () => of('replace'),
      (j) => j.length === 1,
      15_000,
    )
  )[0]?.metadata?.name;
  const forbid = await eventually(
    () => of('forbid'),
    (j) => j.length === 1,
    15_000,
  );
  await sleep(3500);
  t.equal((await of('forbid')).length, 1, 'Forbid: no second Job while the first is active');
  const replaced = await of('replace');
  t.equal(replaced.length, 1, 'Replace: one Job at a time');
  t.not(replaced[0]?.metadata?.name, firstReplace, 'Replace: the active Job was replaced');
  await complete(await batch.readNamespacedJob({ name: forbid[0]?.metadata?.name ?? '', namespace: ns }));
  t.equal(
    (
      await eventually(
        () => of('forbid'),
        (j) => j.length === 2,
        15_000,
      )
    ).length,
    2,
    'Forbid: the next run starts once the Job ended',
  );
  await kubectl(['-n', ns, 'delete', 'scheduletriggers', '--all']);
});

t.test('a schedule edit reschedules at once', async (t) => {
  const ns = await namespace();
  await repo('edit');
  await kubectl(
    ['apply', '-f', '-'],
    [
      obj('GitRepo', ns, 'src', { repoUri: servers.urls.http('edit') }),
      obj('Action', ns, 'act', {}),
      obj('ScheduleTrigger', ns, 'trig', {
        sources: { names: ['src'], watchOn: { onChangeOnly: false } },
        schedule: { interval: '1h' },
        action: { kind: 'Action', name: 'act' },
      }),
    ].join('---\n'),
  );
  await eventually(
    () => jobs(ns),
    (j) => j.length === 1,
    15_000,
  );
  await sleep(1500);
  t.equal((await jobs(ns)).length, 1);
  await kubectl([
    '-n',
    ns,
    'patch',
    'scheduletrigger',
    'trig',
    '--type=merge',
    '-p',
    '{"spec":{"schedule":{"interval":"1s"}}}',
  ]);
  t.ok(
    (
      await eventually(
        () => jobs(ns),
        (j) => j.length >= 3,
        15_000,
      )
    ).length >= 3,
    'checks every second after the edit',
  );
  await kubectl(['-n', ns, 'delete', 'scheduletrigger', 'trig']);
});

t.test('credentials never appear in logs, status, Events, metrics or traces', async (t) => {
  const ns = await namespace();
  const password = 'pw-Zq8mXv41-distinct';
  const privateServer = await startGitHttpServer({
    root: servers.root,
    auth: { basic: { username: 'bot', password } },
  });
  t.teardown(() => privateServer.stop());
  await repo('secret-repo');
  await core.createNamespacedSecret({
    namespace: ns,
    body: { metadata: { name: 'auth' }, stringData: { username: 'bot', password } },
  });
  await kubectl(
    ['apply', '-f', '-'],
    [
      obj('GitRepo', ns, 'src', {
        repoUri: privateServer.url('secret-repo'),
        authConfig: { type: 'basic', secretRef: { name: 'auth' } },
      }),
      obj('GitRepo', ns, 'wrong', {
        repoUri: privateServer.url('secret-repo'),
        authConfig: { type: 'token', secretRef: { name: 'auth' }, keys: { token: 'password' } },
      }),
      obj('Action', ns, 'act', {}),
      obj('ScheduleTrigger', ns, 'trig', {
        sources: { names: ['src', 'wrong'] },
        schedule: { interval: '1s' },
        action: { kind: 'Action', name: 'act' },
      }),
    ].join('---\n'),
  );
  await eventually(
    () => jobs(ns),
    (j) => j.length === 1,
    15_000,
  );
  const s = await eventually(
    () => status(ns, 'trig'),
    (x) => x.checkedSources?.wrong?.lastError !== undefined,
  );
  t.equal(s.checkedSources?.wrong?.lastError?.reason, 'AuthFailed', 'the wrong credentials fail as AuthFailed');
  const everything = [
    controller.logs(),
    JSON.stringify(s),
    JSON.stringify((await events.listNamespacedEvent({ namespace: ns })).items),
    (await controller.get('/metrics')).body,
    spans.join('\n'),
  ].join('\n');
  t.notOk(everything.includes(password), 'the password is nowhere');
  t.notOk(everything.includes(Buffer.from(`bot:${password}`).toString('base64')), 'nor its Basic encoding');
  await kubectl(['-n', ns, 'delete', 'scheduletrigger', 'trig']);
});

t.test('traces are exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set', async (t) => {
  const exported = await eventually(
    async () => spans.join('\n'),
    (x) => x.includes('trigger.check'),
    15_000,
  );
  t.match(exported, 'trigger.check', 'check spans arrive at the collector');
  t.match(exported, 'git-events-runner', 'with the service name');
});

t.test('metrics and probes', async (t) => {
  const metrics = await controller.get('/metrics');
  t.equal(metrics.status, 200);
  for (const name of [
    'git_events_runner_trigger_checks_total',
    'git_events_runner_jobs_queue_limit',
    'git_events_runner_jobs_queue_completed_total',
  ]) {
    t.match(metrics.body, new RegExp(`^${name}`, 'm'), `${name} has samples`);
  }
  t.ok(isLeader(metrics.body), 'this replica leads');
  // Every Job completed so far (all by this controller's lifetime) is counted exactly once.
  const succeeded = (await batch.listJobForAllNamespaces({})).items.filter(
    (j) => (j.status?.succeeded ?? 0) > 0,
  ).length;
  t.ok(succeeded > 0);
  t.match(
    metrics.body,
    new RegExp(`^git_events_runner_jobs_queue_completed_total\\{status="Succeed"\\} ${succeeded}$`, 'm'),
    `${succeeded} Jobs counted once each`,
  );
  t.match(
    metrics.body,
    /^git_events_runner_jobs_queue_completed_total\{status="Expired"\} 1$/m,
    'the expired Job counted once as Expired',
  );
  // Jobs created are counted per trigger: every Job in the cluster is in its trigger's count (Replace and
  // expiry deleted some, so counts may be higher).
  const all = (await batch.listJobForAllNamespaces({})).items;
  const series = [
    ...metrics.body.matchAll(
      /^git_events_runner_jobs_created_total\{namespace="([^"]*)",trigger_kind="[^"]*",trigger_name="([^"]*)"\} (\d+)$/gm,
    ),
  ];
  t.ok(series.length > 0, 'jobs_created_total has series');
  const short = series.filter(([, namespace, trigger, n]) => {
    const existing = all.filter(
      (j) =>
        j.metadata?.namespace === namespace && j.metadata?.annotations?.['git-events-runner.rs/trigger'] === trigger,
    ).length;
    return Number(n) < existing;
  });
  t.same(short, [], 'no trigger has more Jobs than jobs_created_total counted for it');
  t.equal((await controller.get('/alive')).status, 200);
  t.equal((await controller.get('/ready')).status, 200);
});

t.test('restart: no immediate re-run, no duplicate Job; SIGTERM exits 0 and releases the lease', async (t) => {
  const ns = await namespace();
  await repo('restart');
  await kubectl(
    ['apply', '-f', '-'],
    [
      obj('GitRepo', ns, 'src', { repoUri: servers.urls.http('restart') }),
      obj('Action', ns, 'act', {}),
      obj('ScheduleTrigger', ns, 'trig', {
        sources: { names: ['src'], watchOn: { onChangeOnly: false } },
        schedule: { interval: '1h' },
        action: { kind: 'Action', name: 'act' },
      }),
    ].join('---\n'),
  );
  await eventually(
    () => jobs(ns),
    (j) => j.length === 1,
    15_000,
  );
  // The status (lastRun) is written after the Job is created: wait for it, or the restart below would
  // be compared with a status still being written.
  const before = await eventually(
    () => status(ns, 'trig'),
    (x) => x.lastRun !== undefined && x.lastRun !== 'Never',
    15_000,
  );
  t.equal(await controller.stop('SIGTERM'), 0, 'exit code 0');
  const lease = JSON.parse(
    await kubectl(['-n', 'ger-system', 'get', 'lease', 'git-events-runner-leader-lock', '-o', 'json']),
  ) as { spec: { holderIdentity?: string } };
  t.equal(lease.spec.holderIdentity ?? '', '', 'lease released');
  controller = await startControllerProcess({ kubeconfig: plane.kubeconfig, namespace: 'ger-system' });
  await eventually(
    () => controller.get('/metrics'),
    (m) => isLeader(m.body),
    15_000,
  );
  await sleep(3000);
  t.equal((await jobs(ns)).length, 1, 'no immediate re-run after restart');
  t.equal((await status(ns, 'trig')).lastRun, before.lastRun, 'lastRun honoured');
});

t.test('two controllers: one leader; killing it hands over within the lease duration', async (t) => {
  await controller.stop('SIGTERM');
  const args = ['--leader-lease-duration', '4', '--leader-lease-grace', '1'];
  const a = await startControllerProcess({ kubeconfig: plane.kubeconfig, namespace: 'ger-system', args });
  const b = await startControllerProcess({ kubeconfig: plane.kubeconfig, namespace: 'ger-system', args });
  t.teardown(() => b.stop('SIGKILL'));
  const leaders = async () => {
    const [ma, mb] = await Promise.all([a.get('/metrics'), b.get('/metrics')]);
    return [isLeader(ma.body), isLeader(mb.body)];
  };
  const first = await eventually(leaders, (l) => l.filter(Boolean).length === 1, 15_000);
  t.equal(first.filter(Boolean).length, 1, 'exactly one leader');
  const [leader, follower] = first[0] ? [a, b] : [b, a];
  await sleep(2000);
  t.same((await leaders()).filter(Boolean).length, 1, 'still one leader');
  const killedAt = Date.now();
  await leader.stop('SIGKILL');
  await eventually(
    () => follower.get('/metrics'),
    (m) => isLeader(m.body),
    15_000,
  );
  const took = Date.now() - killedAt;
  t.ok(took < 4000 + 3000, `took over in ${took} ms (lease 4 s)`);
  const ns = await namespace();
  await repo('failover');
  await kubectl(
    ['apply', '-f', '-'],
    [
      obj('GitRepo', ns, 'src', { repoUri: servers.urls.http('failover') }),
      obj('Action', ns, 'act', {}),
      obj('ScheduleTrigger', ns, 'trig', {
        sources: { names: ['src'] },
        schedule: { interval: '1s' },
        action: { kind: 'Action', name: 'act' },
      }),
    ].join('---\n'),
  );
  t.equal(
    (
      await eventually(
        () => jobs(ns),
        (j) => j.length === 1,
        15_000,
      )
    ).length,
    1,
    'the new leader runs schedules',
  );
  controller = follower;
});

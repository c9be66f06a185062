import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_VERSION, GROUP, VERSION } from '@git-events-runner/shared';
import {
  AdmissionregistrationV1Api,
  AppsV1Api,
  AuthorizationV1Api,
  BatchV1Api,
  CoordinationV1Api,
  CustomObjectsApi,
  EventsV1Api,
  type V1Job,
} from '@kubernetes/client-node';
import t, { type Test } from 'tap';
import { stringify } from 'yaml';
import { startGitServers } from '../src/git-servers.js';
import { admissionCli, eventually, isolatedCluster, repoRoot, run, startControllerProcess } from '../src/index.js';
import { freePort } from '../src/processes.js';

// The chart's RBAC against what the code does. The chart is installed into a control plane of this
// file's own; SubjectAccessReviews ask the API server what each service account may and may not do;
// then the built controller runs with a token of the chart's controller service account (TokenRequest)
// and the chart's own arguments through a scenario that makes every kind of API call it has, the
// cloner with a token of the action Job service account, and the admission server with its own token,
// the chart's arguments, certificate and policy. A missing right would show as a 403.

const plane = await isolatedCluster(t);
const { kc, core } = plane;
const authz = kc.makeApiClient(AuthorizationV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const batch = kc.makeApiClient(BatchV1Api);
const events = kc.makeApiClient(EventsV1Api);
const work = await mkdtemp(join(tmpdir(), 'chart-rbac-'));
t.teardown(() => rm(work, { recursive: true, force: true }));

const NS = 'ger-system';
const FULL = 'ger-git-events-runner';
const TEAM = 'team-a';
const SHARED = 'shared-secrets';
const OUTSIDE = 'outside';
for (const ns of [TEAM, SHARED, OUTSIDE]) await core.createNamespace({ body: { metadata: { name: ns } } });

const values = join(work, 'values.yaml');
await writeFile(
  values,
  stringify({
    controller: { replicas: 1 },
    rbac: { triggerNamespaces: [TEAM], secretNamespaces: [SHARED] },
    // One Job runs at a time and the others expire after 3 s: the queue admits and deletes Jobs.
    runtimeConfig: { action: { maxRunningJobs: 1, jobWaitingTimeoutSeconds: 3 } },
    admission: { config: { allowClusterActions: false, minInterval: '1s' } },
  }),
);
const helm = await run(
  join(plane.binDir, 'helm'),
  ['install', 'ger', join(repoRoot(), 'charts', 'git-events-runner'), '-n', NS, '-f', values],
  {
    env: {
      ...process.env,
      KUBECONFIG: plane.kubeconfig,
      HELM_CONFIG_HOME: join(work, 'helm'),
      HELM_CACHE_HOME: join(work, 'helm'),
      HELM_DATA_HOME: join(work, 'helm'),
    },
  },
);
if (helm.code !== 0) throw new Error(`helm install failed: ${helm.stderr}`);
// The CA the API server would trust the admission server with, before the configurations go: no
// admission server can run here (no kubelet), so they would refuse the scenario's objects.
const admissionCa = Buffer.from(
  (
    await kc
      .makeApiClient(AdmissionregistrationV1Api)
      .readValidatingWebhookConfiguration({ name: `${FULL}-validating` })
  ).webhooks?.[0]?.clientConfig.caBundle ?? '',
  'base64',
).toString('utf8');
await plane.kubectl([
  'delete',
  `validatingwebhookconfiguration/${FULL}-validating`,
  `mutatingwebhookconfiguration/${FULL}-mutating`,
]);

const sa = (namespace: string, name: string) => ({
  user: `system:serviceaccount:${namespace}:${name}`,
  groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
});
const CONTROLLER = sa(NS, `${FULL}-controller`);
const ADMISSION = sa(NS, `${FULL}-admission`);
const JOB = sa(TEAM, `${FULL}-action-job`);

/** `verb group/resource[/subresource] [namespace] [name]`, namespace "-" for a cluster-wide request. */
type Check = string;
async function allowed(subject: { user: string; groups: string[] }, check: Check): Promise<boolean> {
  const [verb, gr, namespace, name] = check.split(' ') as [string, string, string?, string?];
  const [group, resource, subresource] = gr.includes('/') ? (gr.split('/') as [string, string, string?]) : ['', gr];
  const review = await authz.createSubjectAccessReview({
    body: {
      spec: {
        ...subject,
        resourceAttributes: {
          verb,
          group,
          resource,
          ...(subresource !== undefined ? { subresource } : {}),
          ...(namespace !== undefined && namespace !== '-' ? { namespace } : {}),
          ...(name !== undefined ? { name } : {}),
        },
      },
    },
  });
  return review.status?.allowed === true;
}

async function expectRights(t: Test, subject: { user: string; groups: string[] }, allow: Check[], deny: Check[]) {
  for (const c of allow) t.ok(await allowed(subject, c), `${subject.user.split(':').at(-1)} may ${c}`);
  for (const c of deny) t.notOk(await allowed(subject, c), `${subject.user.split(':').at(-1)} may not ${c}`);
}

const g = GROUP;
const SIX = ['gitrepos', 'clustergitrepos', 'scheduletriggers', 'webhooktriggers', 'actions', 'clusteractions'];

t.test('the controller may make every call of its code, and no other', async (t) => {
  const inTriggerNamespaces = (ns: string) => [
    `get ${g}/scheduletriggers ${ns}`,
    `get ${g}/webhooktriggers ${ns}`,
    `patch ${g}/scheduletriggers ${ns}`,
    `update ${g}/scheduletriggers/status ${ns}`,
    `update ${g}/webhooktriggers/status ${ns}`,
    `create batch/jobs ${ns}`,
    `patch batch/jobs ${ns}`,
    `delete batch/jobs ${ns}`,
    `create events.k8s.io/events ${ns}`,
    `get /secrets ${ns}`,
    `list /secrets ${ns}`,
    `watch /secrets ${ns}`,
  ];
  await expectRights(
    t,
    CONTROLLER,
    [
      ...SIX.flatMap((r) => [`list ${g}/${r} -`, `watch ${g}/${r} -`]),
      'list batch/jobs -',
      'watch batch/jobs -',
      ...inTriggerNamespaces(TEAM),
      ...inTriggerNamespaces(NS),
      `get /secrets ${SHARED}`,
      `list /secrets ${SHARED}`,
      `watch /secrets ${SHARED}`,
      `list /configmaps ${NS} ${FULL}-config`,
      `watch /configmaps ${NS} ${FULL}-config`,
      `get /configmaps ${NS} ${FULL}-config-journal`,
      `patch /configmaps ${NS} ${FULL}-config-journal`,
      `create /configmaps ${NS}`,
      `get coordination.k8s.io/leases ${NS} ${FULL}-leader-lock`,
      `update coordination.k8s.io/leases ${NS} ${FULL}-leader-lock`,
      `create coordination.k8s.io/leases ${NS}`,
    ],
    [
      `create /secrets ${TEAM}`,
      `update /secrets ${TEAM}`,
      `patch /secrets ${TEAM}`,
      `delete /secrets ${TEAM}`,
      `get /secrets ${OUTSIDE}`,
      'list /secrets -',
      `create batch/jobs ${OUTSIDE}`,
      'delete batch/jobs -',
      `deletecollection batch/jobs ${TEAM}`,
      `update batch/jobs ${TEAM}`,
      `create /pods ${TEAM}`,
      `create /pods/exec ${TEAM}`,
      `delete ${g}/scheduletriggers ${TEAM}`,
      `update ${g}/scheduletriggers ${TEAM}`,
      `update ${g}/gitrepos ${TEAM}`,
      `create ${g}/actions ${TEAM}`,
      `patch ${g}/scheduletriggers ${OUTSIDE}`,
      `update ${g}/webhooktriggers/status ${OUTSIDE}`,
      `create events.k8s.io/events ${OUTSIDE}`,
      `get /configmaps ${NS} ${FULL}-config`,
      `update /configmaps ${NS} ${FULL}-config`,
      `patch /configmaps ${NS} ${FULL}-config`,
      `delete /configmaps ${NS} ${FULL}-config-journal`,
      `patch /configmaps ${NS} another`,
      `create /configmaps ${TEAM}`,
      `list /configmaps ${NS}`,
      `list /configmaps ${NS} another`,
      `update coordination.k8s.io/leases ${NS} another-lock`,
      `delete coordination.k8s.io/leases ${NS} ${FULL}-leader-lock`,
      `create coordination.k8s.io/leases ${TEAM}`,
      'create apiextensions.k8s.io/customresourcedefinitions -',
      'create rbac.authorization.k8s.io/rolebindings team-a',
      `create /serviceaccounts/token ${TEAM} default`,
      'create authorization.k8s.io/subjectaccessreviews -',
    ],
  );
});

t.test('the admission server may review access and get the six kinds, nothing else', async (t) => {
  await expectRights(
    t,
    ADMISSION,
    ['create authorization.k8s.io/subjectaccessreviews -', ...SIX.map((r) => `get ${g}/${r} ${TEAM}`)],
    [
      // It reads the objects a request references, one by one: never a list or a watch.
      ...SIX.flatMap((r) => [`list ${g}/${r} -`, `watch ${g}/${r} ${TEAM}`]),
      `get /secrets ${TEAM}`,
      `list /secrets ${NS}`,
      `create batch/jobs ${TEAM}`,
      `update ${g}/scheduletriggers ${TEAM}`,
      `update ${g}/scheduletriggers/status ${TEAM}`,
      `create events.k8s.io/events ${TEAM}`,
      `create coordination.k8s.io/leases ${NS}`,
    ],
  );
});

t.test('the action Job service account may read what the cloner reads, nothing else', async (t) => {
  await expectRights(
    t,
    JOB,
    [`get ${g}/gitrepos ${TEAM}`, `get /secrets ${TEAM}`, `get /secrets ${SHARED}`, `get ${g}/clustergitrepos -`],
    [
      `get ${g}/gitrepos ${OUTSIDE}`,
      `get /secrets ${OUTSIDE}`,
      `list /secrets ${TEAM}`,
      `list ${g}/gitrepos ${TEAM}`,
      `list ${g}/clustergitrepos -`,
      `get ${g}/scheduletriggers ${TEAM}`,
      `create batch/jobs ${TEAM}`,
      `update ${g}/gitrepos ${TEAM}`,
    ],
  );
});

/** A kubeconfig authenticating with a token of a service account (TokenRequest API). */
async function serviceAccountKubeconfig(namespace: string, name: string): Promise<string> {
  const token = await core.createNamespacedServiceAccountToken({
    namespace,
    name,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new Error('admin kubeconfig has no cluster');
  const file = join(work, `${namespace}-${name}.kubeconfig`);
  await writeFile(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'local', cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData } }],
      users: [{ name, user: { token: token.status?.token } }],
      contexts: [{ name, context: { cluster: 'local', user: name, namespace } }],
      'current-context': name,
    }),
    { mode: 0o600 },
  );
  return file;
}

const BASIC = { username: 'rbac-user', password: 'rbac-pa55-w0rd' };
const TOKEN = 'hook-t0ken-rbac';
const servers = await startGitServers({ auth: { basic: BASIC }, ssh: false, daemon: false });
t.teardown(() => servers.stop());
await servers.fixtures.create('app');
const head = await servers.fixtures.commit('app', { 'deploy.sh': 'echo deployed\n' }, 'first');

const obj = (kind: string, namespace: string | undefined, name: string, spec: unknown, extra: object = {}) =>
  stringify({
    apiVersion: API_VERSION,
    kind,
    metadata: { name, ...(namespace === undefined ? {} : { namespace }), ...extra },
    spec,
  });
const secret = (namespace: string, name: string, data: Record<string, string>) =>
  stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, stringData: data });

t.test('the controller runs as its service account with the chart’s arguments: no 403', async (t) => {
  const deployment = await kc
    .makeApiClient(AppsV1Api)
    .readNamespacedDeployment({ namespace: NS, name: `${FULL}-controller` });
  const chartArgs = deployment.spec?.template.spec?.containers[0]?.args ?? [];
  t.equal(chartArgs[0], 'run');
  // The chart's flags, except the ports (free ones here) and the clone folder (a temporary one).
  const args = chartArgs
    .slice(1)
    .filter((a) => !a.startsWith('--webhooks-port=') && !a.startsWith('--utility-port='))
    .map((a) => (a.startsWith('--source-clone-folder=') ? `--source-clone-folder=${join(work, 'clones')}` : a));
  t.ok(args.includes(`--config-map-name=${FULL}-config`) && args.includes(`--leader-lease-name=${FULL}-leader-lock`));

  await plane.kubectl(
    ['apply', '-f', '-'],
    [
      secret(TEAM, 'git-auth', BASIC),
      secret(TEAM, 'hook-auth', { token: TOKEN }),
      secret(SHARED, 'git-auth', BASIC),
      obj('GitRepo', TEAM, 'src', {
        repoUri: servers.urls.http('app'),
        authConfig: { type: 'basic', secretRef: { name: 'git-auth' } },
      }),
      obj('ClusterGitRepo', undefined, 'shared', {
        repoUri: servers.urls.http('app'),
        authConfig: { type: 'basic', secretRef: { name: 'git-auth', namespace: SHARED } },
      }),
      obj('Action', TEAM, 'act', {}),
      // A new Job every run: one is admitted, the others wait and expire (deleted by the queue).
      obj('ScheduleTrigger', TEAM, 'every', {
        sources: { names: ['src'], watchOn: { onChangeOnly: false, reference: { branch: 'main' } } },
        schedule: { interval: '2s' },
        action: { kind: 'Action', name: 'act' },
      }),
      // A requested run: the annotation is removed afterwards (patch).
      obj(
        'ScheduleTrigger',
        TEAM,
        'cluster-source',
        {
          sources: { kind: 'ClusterGitRepo', names: ['shared'] },
          schedule: { interval: '1h' },
          action: { kind: 'Action', name: 'act' },
        },
        { annotations: { 'git-events-runner.rs/run-requested-at': 'now' } },
      ),
      obj('WebhookTrigger', TEAM, 'hook', {
        sources: { names: ['src'], watchOn: { onChangeOnly: false, reference: { branch: 'main' } } },
        action: { kind: 'Action', name: 'act' },
        webhook: { multiSource: false, authConfig: { secretRef: { name: 'hook-auth' }, key: 'token' } },
      }),
    ].join('---\n'),
  );

  const kubeconfig = await serviceAccountKubeconfig(NS, `${FULL}-controller`);
  const controller = await startControllerProcess({ kubeconfig, namespace: NS, args });
  t.teardown(() => controller.stop('SIGKILL'));

  const status = async (name: string, plural = 'scheduletriggers') =>
    (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: TEAM, plural, name })) as {
      metadata: { annotations?: Record<string, string> };
      status?: { checkedSources?: Record<string, { commitHash?: string }> };
    };
  const checked = await eventually(
    () => status('every'),
    (o) => o.status?.checkedSources?.src?.commitHash === head,
    20_000,
  );
  t.equal(checked.status?.checkedSources?.src?.commitHash, head, 'GitRepo checked with its Secret; status written');
  const clusterSource = await eventually(
    () => status('cluster-source'),
    (o) =>
      o.status?.checkedSources?.shared?.commitHash === head &&
      o.metadata.annotations?.['git-events-runner.rs/run-requested-at'] === undefined,
    20_000,
  );
  t.equal(
    clusterSource.status?.checkedSources?.shared?.commitHash,
    head,
    'ClusterGitRepo checked with its Secret in another namespace',
  );
  t.notOk(clusterSource.metadata.annotations?.['git-events-runner.rs/run-requested-at'], 'run request removed');

  const hook = await new Promise<number>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: controller.webhooksPort,
        path: `/${TEAM}/hook/src`,
        method: 'POST',
        headers: { 'x-trigger-auth': TOKEN },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end();
  });
  t.equal(hook, 202, 'webhook accepted with the token from its Secret');

  const jobs = await eventually(
    async () => (await batch.listNamespacedJob({ namespace: TEAM })).items,
    (items: V1Job[]) =>
      items.some((j) => j.spec?.suspend === false) &&
      items.some((j) => j.metadata?.labels?.['git-events-runner.rs/trigger-kind'] === 'WebhookTrigger'),
    20_000,
  );
  t.ok(
    jobs.some((j) => j.spec?.suspend === false),
    'a Job admitted by the queue',
  );
  t.ok(
    jobs.every((j) => j.spec?.template.spec?.serviceAccountName === `${FULL}-action-job`),
    'Jobs run as the chart’s action Job service account (the chart’s runtime ConfigMap was read)',
  );
  const reasons = await eventually(
    async () => (await events.listNamespacedEvent({ namespace: TEAM })).items.map((e) => e.reason ?? ''),
    (r) => r.includes('JobCreated') && r.includes('JobExpired'),
    20_000,
  );
  t.ok(reasons.includes('JobCreated'), 'Events published');
  t.ok(reasons.includes('JobExpired'), 'an expired Job deleted by the queue');

  t.equal(await controller.stop('SIGTERM'), 0, 'stops cleanly');
  const lease = await kc
    .makeApiClient(CoordinationV1Api)
    .readNamespacedLease({ namespace: NS, name: `${FULL}-leader-lock` });
  t.equal(lease.spec?.holderIdentity, '', 'the lease was created, renewed and released');

  const logs = controller.logs();
  t.match(logs, /became leader/);
  t.match(logs, /runtime configuration loaded/);
  t.notMatch(logs, /forbidden|\b403\b/i, 'no request was refused');
  // A watch may fail while the fresh API server warms its caches (429), never for want of a right.
  const refusedWatches = logs
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg?: string; status?: number })
    .filter((l) => l.msg?.startsWith('watch failed') === true && (l.status === 401 || l.status === 403));
  t.same(refusedWatches, [], 'no watch refused');
});

t.test('the cloner runs as the action Job service account', async (t) => {
  const kubeconfig = await serviceAccountKubeconfig(TEAM, `${FULL}-action-job`);
  const cli = join(repoRoot(), 'controller', 'dist', 'src', 'cli.js');
  for (const [kind, source] of [
    ['GitRepo', 'src'],
    ['ClusterGitRepo', 'shared'],
  ] as const) {
    const destination = join(work, `clone-${kind}`);
    const result = await run(
      process.execPath,
      [cli, 'clone', '--kind', kind, '--source', source, '--commit', head, '--destination', destination, '-n', TEAM],
      { env: { ...process.env, KUBECONFIG: kubeconfig } },
    );
    t.equal(result.code, 0, `${kind}: ${result.stderr}`);
    t.same(await readdir(destination), ['deploy.sh'], `${kind} cloned with the Job's rights`);
  }
});

t.test(
  'the admission server runs as its service account with the chart’s arguments and certificate',
  { skip: existsSync(admissionCli()) ? false : 'admission/dist/src/cli.js is not built yet' },
  async (t) => {
    const deployment = await kc
      .makeApiClient(AppsV1Api)
      .readNamespacedDeployment({ namespace: NS, name: `${FULL}-admission` });
    const chartArgs = deployment.spec?.template.spec?.containers[0]?.args ?? [];
    t.equal(chartArgs[0], 'serve');
    // The chart's Secret, written where the mounted volume would be.
    const tls = await core.readNamespacedSecret({ namespace: NS, name: `${FULL}-admission-tls` });
    const files: Record<string, string> = {};
    for (const key of ['tls.crt', 'tls.key']) {
      files[key] = join(work, `admission-${key}`);
      await writeFile(files[key], Buffer.from(tls.data?.[key] ?? '', 'base64'), { mode: 0o600 });
    }
    // ...and the chart's policy file, which the server must accept.
    const policy = await core.readNamespacedConfigMap({ namespace: NS, name: `${FULL}-admission` });
    files.policy = join(work, 'admission-policy.yaml');
    await writeFile(files.policy, policy.data?.['policy.yaml'] ?? '');
    const port = await freePort();
    const args = chartArgs.map((a) =>
      a.startsWith('--port=')
        ? `--port=${port}`
        : a.startsWith('--tls-cert-path=')
          ? `--tls-cert-path=${files['tls.crt']}`
          : a.startsWith('--tls-key-path=')
            ? `--tls-key-path=${files['tls.key']}`
            : a.startsWith('--config=')
              ? `--config=${files.policy}`
              : a,
    );
    const kubeconfig = await serviceAccountKubeconfig(NS, `${FULL}-admission`);
    const child = spawn(process.execPath, [admissionCli(), ...args], {
      env: { ...process.env, KUBECONFIG: kubeconfig, GER_LISTEN_HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let logs = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      logs += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      logs += d;
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    t.teardown(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });

    // Trusting only the webhook configuration's caBundle, under the Service's DNS name: what the API
    // server does.
    const post = (path: string, body: unknown) =>
      new Promise<{ status: number; body: string }>((resolve) => {
        const req = httpsRequest(
          {
            host: '127.0.0.1',
            port,
            path,
            method: 'POST',
            ca: admissionCa,
            servername: `${FULL}-admission.${NS}.svc`,
            agent: false,
            timeout: 5000,
            headers: { 'content-type': 'application/json' },
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8').on('data', (d: string) => {
              text += d;
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          },
        );
        req.on('error', () => resolve({ status: 0, body: '' }));
        req.on('timeout', () => req.destroy());
        req.end(JSON.stringify(body));
      });
    const review = (userInfo: { username: string; groups: string[] }) => ({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: randomUUID(),
        kind: { group: GROUP, version: VERSION, kind: 'GitRepo' },
        resource: { group: GROUP, version: VERSION, resource: 'gitrepos' },
        namespace: TEAM,
        name: 'with-secret',
        operation: 'CREATE',
        userInfo,
        dryRun: false,
        object: {
          apiVersion: API_VERSION,
          kind: 'GitRepo',
          metadata: { name: 'with-secret', namespace: TEAM },
          spec: {
            repoUri: 'https://git.example.com/app.git',
            authConfig: { type: 'basic', secretRef: { name: 'git-auth' } },
          },
        },
      },
    });
    type Answer = { response?: { allowed?: boolean; status?: { code?: number; message?: string } } };
    const admin = await eventually(
      () => post('/validate', review({ username: 'admin', groups: ['system:masters', 'system:authenticated'] })),
      (r) => r.status === 200,
      20_000,
    );
    t.equal(admin.status, 200, 'TLS accepted under the Service name with the chart’s CA bundle');
    t.equal((JSON.parse(admin.body) as Answer).response?.allowed, true, 'a user who may read the Secret is admitted');
    const other = await post('/validate', review({ username: 'mallory', groups: ['system:authenticated'] }));
    const answer = (JSON.parse(other.body) as Answer).response;
    t.equal(answer?.allowed, false, 'a user who may not read the Secret is refused');
    t.equal(answer?.status?.code, 403, 'because of a SubjectAccessReview, which the service account may create');
    child.kill('SIGTERM');
    t.equal(await exited, 0);
    t.notMatch(logs, /forbidden|\b403\b|API server answered 40[13]/i, 'no request of its own was refused');
  },
);

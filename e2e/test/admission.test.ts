import { dirname } from 'node:path';
import { API_VERSION } from '@git-events-runner/shared';
import t from 'tap';
import { stringify } from 'yaml';
import {
  isolatedCluster,
  kubectl,
  mintAdmissionKubeconfig,
  mintKubeconfig,
  startAdmissionProcess,
} from '../src/index.js';

// kube-apiserver calls the admission server for real: `kubectl apply` (the kubectl built here) as an admin
// and as a limited user. The webhooks fail closed, so this file has a control plane of its own.

const plane = await isolatedCluster(t);
const cluster = { binDir: plane.binDir, kubeconfig: plane.kubeconfig };
const server = await startAdmissionProcess(t, {
  kubeconfig: await mintAdmissionKubeconfig(cluster),
  policy: [
    'minInterval: 30s',
    'shortInterval: 5m',
    'actionServiceAccounts: [default, deployer]',
    'allowClusterActions: false',
  ].join('\n'),
});

const admin = plane.kubeconfig;
const alice = await mintKubeconfig(dirname(plane.kubeconfig), 'alice', ['tenants']);
const docs = (...objects: unknown[]) => objects.map((o) => stringify(o)).join('---\n');
await plane.kubectl(
  ['apply', '-f', '-'],
  docs(
    ...['team-a', 'team-b'].map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })),
    ...[
      ['team-a', 'repo-creds'],
      ['team-a', 'deploy-key'],
      ['team-b', 'other-creds'],
      ['team-b', 'corp-ca'],
    ].map(([namespace, name]) => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace },
      stringData: { token: 'not-a-real-token' },
    })),
    // alice edits every git-events kind anywhere, but may read only the Secret team-a/repo-creds.
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'git-events-editor' },
      rules: [
        {
          apiGroups: ['git-events-runner.rs'],
          resources: [
            'gitrepos',
            'clustergitrepos',
            'scheduletriggers',
            'webhooktriggers',
            'actions',
            'clusteractions',
          ],
          verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
        },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'alice-git-events-editor' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'git-events-editor' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'alice' }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'read-repo-creds', namespace: 'team-a' },
      rules: [{ apiGroups: [''], resources: ['secrets'], resourceNames: ['repo-creds'], verbs: ['get'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'alice-read-repo-creds', namespace: 'team-a' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-repo-creds' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'alice' }],
    },
  ),
);
await server.register(cluster);

const obj = (kind: string, name: string, spec: unknown, namespace?: string) => ({
  apiVersion: API_VERSION,
  kind,
  metadata: { name, ...(namespace !== undefined ? { namespace } : {}) },
  spec,
});
const apply = (kubeconfig: string, ...objects: unknown[]) =>
  kubectl(plane.binDir, kubeconfig, ['apply', '-f', '-'], docs(...objects));
const json = async (args: string[]) =>
  // biome-ignore lint/suspicious/noExplicitAny: objects read back from the API server
  JSON.parse(await plane.kubectl(['get', '-o', 'json', ...args])) as any;
const https = 'https://git.example.com/team/repo.git';
const token = (name: string, namespace?: string) => ({
  type: 'token',
  secretRef: { name, ...(namespace !== undefined ? { namespace } : {}) },
});
const DENIED = 'admission webhook "validate.git-events-runner.rs" denied the request';

t.test('ClusterGitRepo: a Secret the user may read is allowed; one they may not, denied naming it', async (t) => {
  const readable = await apply(
    alice,
    obj('ClusterGitRepo', 'alice-ok', { repoUri: https, authConfig: token('repo-creds', 'team-a') }),
  );
  t.equal(readable.code, 0, readable.stderr);

  const foreign = await apply(
    alice,
    obj('ClusterGitRepo', 'alice-steal', { repoUri: https, authConfig: token('other-creds', 'team-b') }),
  );
  t.not(foreign.code, 0);
  t.match(foreign.stderr, DENIED);
  t.match(foreign.stderr, 'spec.authConfig.secretRef: user "alice" may not get Secret team-b/other-creds');

  const ca = await apply(
    alice,
    obj('ClusterGitRepo', 'alice-ca', {
      repoUri: https,
      authConfig: token('repo-creds', 'team-a'),
      tlsConfig: { caCert: { secretRef: { name: 'corp-ca', namespace: 'team-b' } } },
    }),
  );
  t.not(ca.code, 0);
  t.match(ca.stderr, 'spec.tlsConfig.caCert.secretRef: user "alice" may not get Secret team-b/corp-ca');

  const everywhere = await apply(
    alice,
    obj('ClusterGitRepo', 'alice-any', { repoUri: https, authConfig: token('repo-creds') }),
  );
  t.not(everywhere.code, 0, 'no namespace: the Secret of that name in every namespace');
  t.match(everywhere.stderr, 'user "alice" may not get Secrets named "repo-creds" in every namespace');

  const byAdmin = await apply(
    admin,
    obj('ClusterGitRepo', 'shared', { repoUri: https, authConfig: token('other-creds', 'team-b') }),
  );
  t.equal(byAdmin.code, 0, byAdmin.stderr);
  t.equal(
    await plane.kubectl(['get', 'clustergitrepo', 'alice-steal', '--ignore-not-found', '-o', 'name']),
    '',
    'nothing was created',
  );
});

t.test("ClusterGitRepo updates: moving someone else's credentials needs read access to them", async (t) => {
  const moved = await kubectl(plane.binDir, alice, [
    'patch',
    'clustergitrepo',
    'shared',
    '--type=merge',
    '-p',
    JSON.stringify({ spec: { repoUri: 'https://attacker.example.com/r.git' } }),
  ]);
  t.not(moved.code, 0);
  t.match(moved.stderr, 'may not get Secret team-b/other-creds');
  const labelled = await kubectl(plane.binDir, alice, ['label', 'clustergitrepo', 'shared', 'team=platform']);
  t.equal(labelled.code, 0, `a metadata change is not a Secret use: ${labelled.stderr}`);
  t.equal((await json(['clustergitrepo', 'shared'])).spec.repoUri, https);
});

t.test('GitRepo: a foreign secretRef.namespace is denied; Secrets in its namespace need read access', async (t) => {
  const foreign = await apply(
    admin,
    obj('GitRepo', 'foreign', { repoUri: https, authConfig: token('other-creds', 'team-b') }, 'team-a'),
  );
  t.not(foreign.code, 0, 'even for an admin: the controller would silently read team-a/other-creds instead');
  t.match(
    foreign.stderr,
    'spec.authConfig.secretRef.namespace: a GitRepo reads Secrets only in its own namespace (team-a), so "team-b" would be ignored',
  );
  const ok = await apply(alice, obj('GitRepo', 'mine', { repoUri: https, authConfig: token('repo-creds') }, 'team-a'));
  t.equal(ok.code, 0, ok.stderr);
  const unreadable = await apply(
    alice,
    obj('GitRepo', 'not-mine', { repoUri: https, authConfig: token('deploy-key') }, 'team-a'),
  );
  t.not(unreadable.code, 0);
  t.match(unreadable.stderr, 'user "alice" may not get Secret team-a/deploy-key');
});

t.test('every bad schedule, scheme and auth combination is denied naming the field', async (t) => {
  const trigger = (schedule: unknown) =>
    obj(
      'ScheduleTrigger',
      'bad',
      { sources: { names: ['repo'] }, schedule, action: { kind: 'Action', name: 'act' } },
      'team-a',
    );
  const repo = (spec: unknown) => obj('GitRepo', 'bad', spec, 'team-a');
  // Denied by the CRD's schema before the webhook is asked, or by the webhook: either way the field is named.
  const cases: [string, unknown, string][] = [
    ['interval grammar', trigger({ interval: '5 parsecs' }), 'spec.schedule.interval'],
    [
      'interval over 100 years',
      trigger({ interval: '101y' }),
      'spec.schedule.interval: invalid interval "101y": longer than 100 years',
    ],
    ['interval below the minimum', trigger({ interval: '10s' }), `spec.schedule.interval: "10s" is shorter than 30s`],
    ['cron grammar', trigger({ cron: '61 * * * *' }), 'spec.schedule.cron: invalid cron expression "61 * * * *"'],
    [
      'cron field count',
      trigger({ cron: '* * * *' }),
      'spec.schedule.cron: invalid cron expression "* * * *": expected 5, 6 or 7 fields',
    ],
    [
      'cron without future',
      trigger({ cron: '0 0 30 2 *' }),
      'spec.schedule.cron: cron expression "0 0 30 2 *" (UTC) has no future fire time',
    ],
    [
      'cron too often',
      trigger({ cron: '*/10 * * * * *' }),
      'spec.schedule.cron: "*/10 * * * * *" fires 10s apart, more often than 30s',
    ],
    [
      'TZ= prefix zone',
      trigger({ cron: 'TZ=Mars/Olympus 0 * * * *' }),
      'spec.schedule.cron: invalid time zone "Mars/Olympus"',
    ],
    [
      'timeZone',
      trigger({ cron: '0 * * * *', timeZone: 'Europe/Atlantis' }),
      'spec.schedule.timeZone: invalid time zone "Europe/Atlantis"',
    ],
    [
      'interval and cron',
      trigger({ interval: '5m', cron: '0 * * * *' }),
      'exactly one of interval or cron must be set',
    ],
    ['unknown scheme', repo({ repoUri: 'ftp://git.example.com/r.git' }), 'spec.repoUri'],
    [
      'ssh keys over https',
      repo({ repoUri: https, authConfig: { type: 'ssh', secretRef: { name: 'repo-creds' } } }),
      'authConfig.type does not fit repoUri',
    ],
    [
      'token over ssh',
      repo({ repoUri: 'ssh://git@git.example.com/r.git', authConfig: token('repo-creds') }),
      'authConfig.type does not fit repoUri',
    ],
    [
      'credentials over git://',
      repo({ repoUri: 'git://git.example.com/r.git', authConfig: token('repo-creds') }),
      'authConfig.type does not fit repoUri',
    ],
    [
      'unknown auth type',
      repo({ repoUri: https, authConfig: { type: 'kerberos', secretRef: { name: 'x' } } }),
      'spec.authConfig.type',
    ],
    [
      'webhook header',
      obj(
        'WebhookTrigger',
        'bad',
        {
          sources: { names: ['repo'] },
          action: { kind: 'Action', name: 'act' },
          webhook: { authConfig: { secretRef: { name: 'hook' }, key: 'token', header: 'x trigger' } },
        },
        'team-a',
      ),
      'spec.webhook.authConfig.header: "x trigger" is not an HTTP header name',
    ],
    [
      'ClusterAction source override',
      obj('ClusterAction', 'bad', { sourceOverride: { kind: 'GitRepo', name: 'r', reference: { branch: 'main' } } }),
      'spec.sourceOverride.kind',
    ],
  ];
  for (const [name, object, field] of cases) {
    const result = await apply(admin, object);
    t.not(result.code, 0, name);
    t.match(result.stderr, field, `${name}: ${result.stderr.trim()}`);
  }
});

t.test('policy: service accounts of namespaced Actions; ClusterActions from namespaced triggers', async (t) => {
  const sa = await apply(
    alice,
    obj('Action', 'escalate', { actionJob: { serviceAccount: 'cluster-admin' } }, 'team-a'),
  );
  t.not(sa.code, 0);
  t.match(
    sa.stderr,
    `spec.actionJob.serviceAccount: "cluster-admin" is not a service account this cluster's admission policy lets namespaced Actions use (actionServiceAccounts: default, deployer)`,
  );
  const ok = await apply(alice, obj('Action', 'act', { actionJob: { serviceAccount: 'deployer' } }, 'team-a'));
  t.equal(ok.code, 0, ok.stderr);
  const cluster = await apply(
    alice,
    obj(
      'ScheduleTrigger',
      'uses-cluster-action',
      { sources: { names: ['mine'] }, schedule: { interval: '5m' }, action: { kind: 'ClusterAction', name: 'deploy' } },
      'team-a',
    ),
  );
  t.not(cluster.code, 0);
  t.match(
    cluster.stderr,
    "spec.action.kind: this cluster's admission policy does not let namespaced triggers run ClusterActions",
  );
});

t.test('warnings are shown by kubectl', async (t) => {
  const warned = async (object: unknown, warning: string) => {
    const result = await apply(admin, object);
    t.equal(result.code, 0, result.stderr);
    t.match(result.stderr, `Warning: ${warning}`, warning);
  };
  await warned(
    obj(
      'GitRepo',
      'plain-http',
      { repoUri: 'http://git.example.com/r.git', authConfig: { type: 'basic', secretRef: { name: 'repo-creds' } } },
      'team-a',
    ),
    'spec.authConfig: credentials (type basic) go over plain http:// to git.example.com',
  );
  await warned(
    obj('GitRepo', 'no-verify', { repoUri: https, tlsConfig: { noVerifySsl: true } }, 'team-a'),
    'spec.tlsConfig.noVerifySsl: the certificate of git.example.com is not verified',
  );
  await warned(
    obj(
      'GitRepo',
      'no-host-key',
      {
        repoUri: 'git@git.example.com:team/r.git',
        authConfig: { type: 'ssh', secretRef: { name: 'deploy-key' }, insecureIgnoreHostKey: true },
      },
      'team-a',
    ),
    'spec.authConfig.insecureIgnoreHostKey: SSH host keys of git.example.com are not checked',
  );
  await warned(
    obj(
      'ScheduleTrigger',
      'always',
      {
        sources: { names: ['mine'], watchOn: { onChangeOnly: false } },
        schedule: { interval: '1m' },
        action: { kind: 'Action', name: 'act' },
      },
      'team-a',
    ),
    'spec.sources.watchOn.onChangeOnly: false with interval 1m: the action runs every 1m whether or not the sources changed',
  );
  await warned(
    obj(
      'ScheduleTrigger',
      'dangling',
      { sources: { names: ['ghost'] }, schedule: { interval: '5m' }, action: { kind: 'Action', name: 'nowhere' } },
      'team-a',
    ),
    'spec.sources.names[0]: GitRepo team-a/ghost does not exist (yet)',
  );
  await warned(
    obj(
      'WebhookTrigger',
      'open',
      { sources: { names: ['mine'] }, action: { kind: 'Action', name: 'act' }, webhook: { multiSource: true } },
      'team-a',
    ),
    "spec.webhook.authConfig: not set: anyone who can reach the controller's webhook port can start this trigger's checks",
  );
  await warned(
    obj('ClusterGitRepo', 'per-namespace', { repoUri: https, authConfig: token('repo-creds') }),
    'spec.authConfig.secretRef: names no namespace: each trigger using this ClusterGitRepo reads Secret "repo-creds" in its own namespace',
  );
  const quiet = await apply(
    alice,
    obj(
      'ScheduleTrigger',
      'quiet',
      { sources: { names: ['mine'] }, schedule: { interval: '10m' }, action: { kind: 'Action', name: 'act' } },
      'team-a',
    ),
  );
  t.equal(quiet.code, 0, quiet.stderr);
  t.notMatch(quiet.stderr, /Warning/, 'nothing risky, references exist: no warning');
});

t.test('defaults and interval normalisation are visible on read-back; a no-op update changes nothing', async (t) => {
  const trigger = (interval: string) =>
    obj(
      'ScheduleTrigger',
      'normalised',
      { sources: { names: ['mine'] }, schedule: { interval }, action: { kind: 'Action', name: 'act' } },
      'team-a',
    );
  const created = await apply(alice, trigger('90s'));
  t.equal(created.code, 0, created.stderr);
  const first = await json(['scheduletrigger', 'normalised', '-n', 'team-a']);
  t.equal(first.spec.schedule.interval, '1m30s');
  t.same(first.spec.sources.watchOn, { onChangeOnly: true, reference: { branch: 'main' } });
  t.equal(first.spec.sources.kind, 'GitRepo');

  // Updates the mutating webhook patched so far (the metric appears with the first one).
  const patchedUpdates = async () =>
    Number(
      (await server.request('GET', '/metrics')).body.match(
        /git_events_admission_requests_total\{webhook="mutate",kind="ScheduleTrigger",operation="UPDATE",result="patched"\} (\d+)/,
      )?.[1] ?? 0,
    );
  const patchedBefore = await patchedUpdates();
  for (const spelling of ['90s', '1m 30s', '1m30s']) {
    const again = await apply(alice, trigger(spelling));
    t.equal(again.code, 0, again.stderr);
    const now = await json(['scheduletrigger', 'normalised', '-n', 'team-a']);
    t.equal(now.spec.schedule.interval, '1m30s', spelling);
    t.equal(now.metadata.generation, first.metadata.generation, `${spelling}: no new generation, so no reschedule`);
    // The same manifest again writes nothing at all; another spelling rewrites kubectl's last-applied annotation.
    if (spelling === '90s')
      t.equal(now.metadata.resourceVersion, first.metadata.resourceVersion, 'nothing was written');
  }
  const label = await kubectl(plane.binDir, alice, ['label', '-n', 'team-a', 'scheduletrigger', 'normalised', 'x=y']);
  t.equal(label.code, 0, label.stderr);
  const metrics = (await server.request('GET', '/metrics')).body;
  t.match(
    metrics,
    /git_events_admission_requests_total\{webhook="mutate",kind="ScheduleTrigger",operation="UPDATE",result="allowed"\} [1-9]/,
  );
  t.equal(
    await patchedUpdates(),
    patchedBefore + 2,
    'only the two non-canonical spellings were patched; the canonical one and the label were not',
  );
  const changed = await apply(alice, trigger('120s'));
  t.equal(changed.code, 0, changed.stderr);
  const after = await json(['scheduletrigger', 'normalised', '-n', 'team-a']);
  t.equal(after.spec.schedule.interval, '2m');
  t.equal(after.metadata.generation, first.metadata.generation + 1, 'a real change is one new generation');

  const hook = await apply(
    alice,
    obj(
      'WebhookTrigger',
      'defaulted',
      {
        sources: { names: ['mine'] },
        action: { kind: 'Action', name: 'act' },
        webhook: { authConfig: { secretRef: { name: 'hook' }, key: 'token' } },
      },
      'team-a',
    ),
  );
  t.equal(hook.code, 0, hook.stderr);
  const webhook = (await json(['webhooktrigger', 'defaulted', '-n', 'team-a'])).spec.webhook;
  t.same(webhook, {
    multiSource: false,
    authConfig: { secretRef: { name: 'hook' }, key: 'token', header: 'x-trigger-auth' },
  });
  const keys = (await json(['gitrepo', 'mine', '-n', 'team-a'])).spec.authConfig.keys;
  t.same(keys, {
    username: 'username',
    password: 'password',
    token: 'token',
    privateKey: 'ssh-privatekey',
    passphrase: 'passphrase',
    knownHosts: 'known_hosts',
  });
});

// Last: it stops the server.
t.test(
  'server down: failurePolicy Fail refuses writes of these kinds; other kinds and status are unaffected',
  async (t) => {
    t.equal(await server.stop('SIGTERM'), 0);
    const refused = await apply(admin, obj('GitRepo', 'while-down', { repoUri: https }, 'team-a'));
    t.not(refused.code, 0);
    t.match(refused.stderr, /failed calling webhook "(mutate|validate)\.git-events-runner\.rs"/);
    const configMap = await apply(admin, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'unaffected', namespace: 'team-a' },
      data: { a: 'b' },
    });
    t.equal(configMap.code, 0, configMap.stderr);
    const status = await kubectl(plane.binDir, admin, [
      'patch',
      '-n',
      'team-a',
      'scheduletrigger',
      'normalised',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { state: 'Idle', lastRun: 'Never' } }),
    ]);
    t.equal(status.code, 0, `the controller's status writes do not go through the webhooks: ${status.stderr}`);
    t.equal((await json(['scheduletrigger', 'normalised', '-n', 'team-a'])).status.state, 'Idle', 'reads work');
  },
);

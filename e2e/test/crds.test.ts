import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { API_VERSION, GROUP, KINDS, VERSION, validateSpec } from '@git-events-runner/shared';
import { INVALID_CASES } from '@git-events-runner/shared/testing';
import { CustomObjectsApi } from '@kubernetes/client-node';
import t from 'tap';
import { parse, stringify } from 'yaml';
import { repoRoot, testCluster, testNamespace } from '../src/index.js';

const cluster = testCluster();
const seedDir = join(repoRoot(), 'examples', 'seed');
const seedDocument = join(repoRoot(), '..', 'shared', 'seed', 'git-events-runner-overview.txt');

// biome-ignore lint/suspicious/noExplicitAny: specs read back from the API server
type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; spec: any };

function plural(kind: string): string {
  const def = KINDS.find((k) => k.kind === kind);
  if (def === undefined) throw new Error(kind);
  return def.plural;
}

t.test(
  'examples/seed holds the seed document examples verbatim',
  { skip: existsSync(seedDocument) ? false : `${seedDocument} is not beside the repository` },
  async (t) => {
    const seed = await readFile(seedDocument, 'utf8');
    const files = (await readdir(seedDir)).filter((f) => f.endsWith('.yaml'));
    t.equal(files.length, 4);
    for (const file of files) {
      const text = await readFile(join(seedDir, file), 'utf8');
      t.ok(seed.includes(text.trimEnd()), `${file} appears in the seed document unchanged`);
    }
  },
);

t.test('each seed example applies as written and reads back with the documented defaults', async (t) => {
  // The examples name namespace "default" and must apply unchanged, so this test owns that namespace's objects.
  const apply = await cluster.kubectl(['apply', '-f', seedDir]);
  t.equal(apply.code, 0, apply.stderr);
  t.match(apply.stdout, /gitrepo.git-events-runner.rs\/cool-project-repo (created|unchanged|configured)/);
  const api = cluster.kc.makeApiClient(CustomObjectsApi);
  const get = async (kind: string, name: string) =>
    (await api.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: 'default',
      plural: plural(kind),
      name,
    })) as Obj;
  const repo = await get('GitRepo', 'cool-project-repo');
  t.same(repo.spec.authConfig, {
    type: 'basic',
    secretRef: { name: 'cool-project-auth' },
    keys: {
      username: 'username',
      password: 'password',
      token: 'token',
      privateKey: 'ssh-privatekey',
      passphrase: 'passphrase',
      knownHosts: 'known_hosts',
    },
  });
  const schedule = await get('ScheduleTrigger', 'cool-trigger');
  t.same(schedule.spec.sources, {
    kind: 'GitRepo',
    names: ['cool-project-repo'],
    watchOn: { onChangeOnly: true, reference: { branch: 'main' } },
  });
  t.same(schedule.spec.schedule, { interval: '5m' });
  const action = await get('Action', 'run-deploy-sh');
  t.same(action.spec.actionJob, {
    args: ['./deploy.sh', './chart/'],
    serviceAccount: 'git-events-runner-jobs',
    enableClonerDebug: false,
    preserveGitFolder: false,
  });
  const webhook = await get('WebhookTrigger', 'coll-trigger');
  t.same(webhook.spec.webhook, {
    multiSource: true,
    authConfig: { secretRef: { name: 'webhook-auth' }, key: 'token' },
  });
  t.same(webhook.spec.sources.watchOn, { onChangeOnly: false, reference: { branch: 'main' } });
});

t.test(
  'the API server rejects every one-of and pattern violation, naming the field, as the runtime validator does',
  async (t) => {
    const ns = await testNamespace(cluster, 'crd');
    for (const [i, c] of INVALID_CASES.entries()) {
      const def = KINDS.find((k) => k.kind === c.kind)!;
      const obj = {
        apiVersion: API_VERSION,
        kind: c.kind,
        metadata: { name: `bad-${i}`, ...(def.scope === 'Namespaced' ? { namespace: ns } : {}) },
        spec: c.spec,
      };
      const result = await cluster.kubectl(['create', '-f', '-'], stringify(obj));
      t.not(result.code, 0, `${c.name}: rejected`);
      const named = result.stderr.includes(`${c.field}: `) || result.stderr.includes(`${c.field}[`);
      t.ok(named, `${c.name}: the error names ${c.field}: ${result.stderr.trim()}`);
      t.match(result.stderr, c.message, `${c.name}: message`);
      t.ok(validateSpec(c.kind, c.spec).length > 0, `${c.name}: the runtime validator agrees`);
    }
  },
);

t.test('status is written through the status subresource and shown by kubectl get', async (t) => {
  const ns = await testNamespace(cluster, 'status');
  const trigger = parse(await readFile(join(seedDir, 'scheduletrigger.yaml'), 'utf8')) as Obj;
  trigger.metadata.namespace = ns;
  await cluster.kubectlOk(['create', '-f', '-'], stringify(trigger));
  // A status in the main resource is ignored: only the subresource writes it.
  await cluster.kubectlOk([
    '-n',
    ns,
    'patch',
    'scheduletrigger',
    'cool-trigger',
    '--type=merge',
    '-p',
    '{"status":{"state":"Running"}}',
  ]);
  t.equal(
    (
      await cluster.kubectlOk(['-n', ns, 'get', 'scheduletrigger', 'cool-trigger', '-o', 'jsonpath={.status.state}'])
    ).trim(),
    '',
  );
  const status = {
    status: {
      state: 'Idle',
      lastRun: '2026-01-02T03:04:05Z',
      observedGeneration: 1,
      checkedSources: {
        'cool-project-repo': {
          commitHash: '0123456789abcdef0123456789abcdef01234567',
          changed: '2026-01-02T03:04:05Z',
        },
      },
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'Scheduled',
          message: 'next check in 5m',
          lastTransitionTime: '2026-01-02T03:04:05Z',
          observedGeneration: 1,
        },
      ],
    },
  };
  await cluster.kubectlOk([
    '-n',
    ns,
    'patch',
    'scheduletrigger',
    'cool-trigger',
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify(status),
  ]);
  const back = JSON.parse(
    await cluster.kubectlOk(['-n', ns, 'get', 'scheduletrigger', 'cool-trigger', '-o', 'json']),
  ) as { status: unknown };
  t.same(back.status, status.status);

  const table = await cluster.kubectlOk(['-n', ns, 'get', 'scheduletriggers']);
  const [header, row] = table.trim().split('\n');
  t.match(header, /^NAME\s+STATE\s+READY\s+LAST RUN\s+AGE$/);
  t.match(row, /^cool-trigger\s+Idle\s+True\s+\S+\s+\S+$/);
  const wide = await cluster.kubectlOk(['-n', ns, 'get', 'scheduletriggers', '-o', 'wide']);
  t.match(wide.split('\n')[0], /INTERVAL\s+CRON\s+ACTION\s+REASON/);
  t.match(wide.split('\n')[1], /^cool-trigger\s+Idle\s+True\s+\S+\s+5m\s+run-deploy-sh\s+Scheduled\s+\S+$/);

  // The status schema is enforced too.
  const bad = await cluster.kubectl([
    '-n',
    ns,
    'patch',
    'scheduletrigger',
    'cool-trigger',
    '--subresource=status',
    '--type=merge',
    '-p',
    '{"status":{"state":"Sleeping"}}',
  ]);
  t.not(bad.code, 0);
  t.match(bad.stderr, /status.state: Unsupported value: "Sleeping"/);
});

t.test('kubectl get git-events lists every kind, and short names work', async (t) => {
  const ns = await testNamespace(cluster, 'category');
  const objects = [
    { kind: 'GitRepo', name: 'r', spec: { repoUri: 'git://127.0.0.1/r.git' } },
    { kind: 'ClusterGitRepo', name: `${ns}-cr`, spec: { repoUri: 'https://example.invalid/r.git' } },
    {
      kind: 'ScheduleTrigger',
      name: 's',
      spec: { sources: { names: ['r'] }, schedule: { cron: '0 * * * *' }, action: { kind: 'Action', name: 'a' } },
    },
    {
      kind: 'WebhookTrigger',
      name: 'w',
      spec: { sources: { names: ['r'] }, webhook: { multiSource: false }, action: { kind: 'Action', name: 'a' } },
    },
    { kind: 'Action', name: 'a', spec: {} },
    { kind: 'ClusterAction', name: `${ns}-ca`, spec: { actionJob: { actionImage: 'busybox' } } },
  ];
  const docs = objects.map(({ kind, name, spec }) => {
    const def = KINDS.find((k) => k.kind === kind)!;
    return stringify({
      apiVersion: API_VERSION,
      kind,
      metadata: { name, ...(def.scope === 'Namespaced' ? { namespace: ns } : {}) },
      spec,
    });
  });
  await cluster.kubectlOk(['apply', '-f', '-'], docs.join('---\n'));
  const listed = await cluster.kubectlOk(['-n', ns, 'get', 'git-events', '-o', 'name']);
  for (const { kind, name } of objects)
    t.match(listed, `${kind.toLowerCase()}.git-events-runner.rs/${name}`, `${kind} is listed`);
  for (const def of KINDS) {
    const r = await cluster.kubectl(['-n', ns, 'get', def.shortNames[0], '-o', 'name']);
    t.equal(r.code, 0, `${def.shortNames[0]} resolves: ${r.stderr}`);
  }
  t.match(await cluster.kubectlOk(['-n', ns, 'get', 'gitrepos']), /r\s+git:\/\/127.0.0.1\/r.git/);
});

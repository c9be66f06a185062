import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_VERSION } from '@git-events-runner/shared';
import t from 'tap';
import { stringify } from 'yaml';
import { startGitServers } from '../src/git-servers.js';
import { eventually, repoRoot, run, testCluster, testNamespace } from '../src/index.js';

// `git-events-runner clone` run as a process, as the Job's init container would, with a kubeconfig for a
// user that may only get the sources and the Secrets it needs.

const cluster = testCluster();
const BASIC = { username: 'cloner', password: 'cl0ner-pa55-q7' };
const servers = await startGitServers({ auth: { basic: BASIC }, daemon: false });
t.teardown(() => servers.stop());
const ssh = servers.ssh!;
const scratch = await mkdtemp(join(tmpdir(), 'cloner-'));
t.teardown(() => rm(scratch, { recursive: true, force: true }));
await servers.fixtures.create('app');
const head = await servers.fixtures.commit(
  'app',
  { 'deploy.sh': { content: '#!/bin/sh\necho deployed\n', executable: true }, 'chart/values.yaml': 'x: 1\n' },
  'app',
);
await servers.fixtures.annotatedTag('app', 'v2');

const ns = await testNamespace(cluster, 'cloner');
const secret = (name: string, data: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: ns },
  stringData: data,
});
const source = (kind: string, name: string, spec: unknown) => ({
  apiVersion: API_VERSION,
  kind,
  metadata: kind === 'GitRepo' ? { name, namespace: ns } : { name },
  spec,
});
const cluserRepo = `${ns}-shared`;
await cluster.kubectlOk(
  ['apply', '-f', '-'],
  [
    secret('https-auth', BASIC),
    secret('https-ca', { 'ca.crt': servers.https.caCert }),
    secret('ssh-auth', { 'ssh-privatekey': ssh.keys.ed25519.privateKey, known_hosts: ssh.knownHosts }),
    secret('locked-auth', BASIC),
    source('GitRepo', 'web', {
      repoUri: servers.urls.https('app'),
      authConfig: { type: 'basic', secretRef: { name: 'https-auth' } },
      tlsConfig: { caCert: { secretRef: { name: 'https-ca' } } },
    }),
    source('GitRepo', 'secure', {
      repoUri: servers.urls.ssh('app'),
      authConfig: { type: 'ssh', secretRef: { name: 'ssh-auth' } },
    }),
    source('GitRepo', 'locked', {
      repoUri: servers.urls.http('app'),
      authConfig: { type: 'basic', secretRef: { name: 'locked-auth' } },
    }),
    source('ClusterGitRepo', cluserRepo, {
      repoUri: servers.urls.ssh('app'),
      authConfig: { type: 'ssh', secretRef: { name: 'ssh-auth', namespace: ns } },
    }),
  ]
    .map((o) => stringify(o))
    .join('---\n'),
);
// The Job's rights: get the sources and exactly the Secrets they use.
await cluster.kubectlOk([
  '-n',
  ns,
  'create',
  'role',
  'cloner',
  '--verb=get',
  '--resource=gitrepos.git-events-runner.rs',
]);
await cluster.kubectlOk([
  '-n',
  ns,
  'create',
  'role',
  'cloner-secrets',
  '--verb=get',
  '--resource=secrets',
  '--resource-name=https-auth',
  '--resource-name=https-ca',
  '--resource-name=ssh-auth',
]);
await cluster.kubectlOk([
  'create',
  'clusterrole',
  `${ns}-cloner`,
  '--verb=get',
  '--resource=clustergitrepos.git-events-runner.rs',
]);
await cluster.kubectlOk(['-n', ns, 'create', 'rolebinding', 'cloner', '--role=cloner', '--user=job-cloner']);
await cluster.kubectlOk([
  '-n',
  ns,
  'create',
  'rolebinding',
  'cloner-secrets',
  '--role=cloner-secrets',
  '--user=job-cloner',
]);
await cluster.kubectlOk([
  'create',
  'clusterrolebinding',
  `${ns}-cloner`,
  `--clusterrole=${ns}-cloner`,
  '--user=job-cloner',
]);
const kubeconfig = await cluster.mintKubeconfig('job-cloner');

const cli = join(repoRoot(), 'controller', 'dist', 'src', 'cli.js');
let dirs = 0;
const clone = (args: string[]) => {
  const destination = join(scratch, `out${dirs++}`);
  return run(process.execPath, [cli, 'clone', '-n', ns, '-d', destination, ...args], {
    env: { ...process.env, KUBECONFIG: kubeconfig },
  }).then((r) => ({ ...r, destination }));
};

t.test('https source with basic auth and a CA: files checked out, .git removed', async (t) => {
  const r = await eventually(
    () => clone(['-k', 'GitRepo', '-s', 'web', '-b', 'main']),
    (x) => x.code === 0,
  );
  t.equal(r.code, 0, r.stderr);
  t.equal(await readFile(join(r.destination, 'deploy.sh'), 'utf8'), '#!/bin/sh\necho deployed\n');
  t.not((await run('test', ['-d', join(r.destination, '.git')])).code, 0, 'no .git');
});

t.test('ssh source, annotated tag, --preserve-git-folder: HEAD at the commit, clean status', async (t) => {
  const r = await clone(['-k', 'GitRepo', '-s', 'secure', '-t', 'v2', '-p', '--debug']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, `checked out ${head}`);
  t.equal((await run('git', ['-C', r.destination, 'rev-parse', 'HEAD'])).stdout.trim(), head);
  t.equal((await run('git', ['-C', r.destination, 'status', '--porcelain'])).stdout, '', 'clean status');
});

t.test('ClusterGitRepo with a Secret in a named namespace, by commit', async (t) => {
  const r = await clone(['-k', 'ClusterGitRepo', '-s', cluserRepo, '-c', head]);
  t.equal(r.code, 0, r.stderr);
  t.equal(await readFile(join(r.destination, 'chart', 'values.yaml'), 'utf8'), 'x: 1\n');
});

t.test('a Secret the Job may not read: exit 1 with one clear line', async (t) => {
  const r = await clone(['-k', 'GitRepo', '-s', 'locked', '-b', 'main']);
  t.equal(r.code, 1);
  t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  t.match(r.stderr, `git-events-runner: not allowed to read Secret ${ns}/locked-auth`);
  t.notMatch(r.stderr, BASIC.password);
});

t.test('a missing source, a missing ref, and usage errors', async (t) => {
  const missing = await clone(['-k', 'GitRepo', '-s', 'nope', '-b', 'main']);
  t.equal(missing.code, 1);
  t.match(missing.stderr, `GitRepo ${ns}/nope not found`);
  const noRef = await clone(['-k', 'GitRepo', '-s', 'web', '-b', 'no-such-branch']);
  t.equal(noRef.code, 1);
  t.match(noRef.stderr, /no-such-branch/);
  const usage = await clone(['-k', 'GitRepo', '-s', 'web']);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /one of --branch, --tag or --commit is required/);
  const twoRefs = await clone(['-k', 'GitRepo', '-s', 'web', '-b', 'main', '-t', 'v2']);
  t.equal(twoRefs.code, 2);
  const badKind = await clone(['-k', 'Gitrepo', '-s', 'web', '-b', 'main']);
  t.equal(badKind.code, 2);
  t.match(badKind.stderr, /Allowed choices are GitRepo, ClusterGitRepo/);
});

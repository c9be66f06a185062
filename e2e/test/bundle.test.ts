import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_VERSION } from '@git-events-runner/shared';
import t from 'tap';
import { parseAllDocuments, stringify } from 'yaml';
import { startGitServers } from '../src/git-servers.js';
import {
  createCertificateAuthority,
  eventually,
  isolatedCluster,
  repoRoot,
  run,
  startControllerProcess,
  testCluster,
  testNamespace,
} from '../src/index.js';
import { freePort } from '../src/processes.js';

// The bundled command lines the images ship (scripts/bundle.mjs), run with this Node 24 from a
// directory with no node_modules anywhere above it, so nothing but the bundle itself can be loaded.

const root = repoRoot();
const out = await mkdtemp(join(tmpdir(), 'bundle-'));
t.teardown(() => rm(out, { recursive: true, force: true }));
const runner = join(out, 'git-events-runner.mjs');
const admission = join(out, 'git-events-admission.mjs');
const admissionBuilt = existsSync(join(root, 'admission', 'dist', 'src', 'cli.js'));

const built = await run(process.execPath, [join(root, 'scripts', 'bundle.mjs'), '--out', out]);
if (built.code !== 0) throw new Error(`bundle failed: ${built.stderr}`);

t.test('the bundle script writes one file per command line', async (t) => {
  t.match(built.stdout, /bundled git-events-runner: .*git-events-runner\.mjs/);
  if (admissionBuilt) t.match(built.stdout, /bundled git-events-admission/);
  else t.match(built.stdout, /skipped git-events-admission: admission\/dist\/src\/cli\.js does not exist/);
  t.same(
    (await readdir(out)).sort(),
    admissionBuilt ? ['git-events-admission.mjs', 'git-events-runner.mjs'] : ['git-events-runner.mjs'],
  );
  const text = await readFile(runner, 'utf8');
  t.notMatch(text, /package\.json['"],\s*import\.meta\.url/, 'no read of a package.json beside the bundle');
  t.match(text, /^#!\/usr\/bin\/env node\n/, 'runnable as a script');
});

const node = (args: readonly string[], env: NodeJS.ProcessEnv = {}) =>
  run(process.execPath, args, { cwd: out, env: { ...process.env, ...env } });
const unbundled = (args: readonly string[]) =>
  run(process.execPath, [join(root, 'controller', 'dist', 'src', 'cli.js'), ...args]);

t.test('git-events-runner: crds, config and help print what the unbundled CLI prints', async (t) => {
  const crds = await node([runner, 'crds']);
  t.equal(crds.code, 0, crds.stderr);
  t.equal(
    crds.stdout,
    await readFile(join(root, 'charts', 'git-events-runner', 'crds', 'crds.yaml'), 'utf8'),
    'crds: the generated CRDs (crds.test.ts keeps that file equal to the unbundled output)',
  );
  const { version } = JSON.parse(await readFile(join(root, 'controller', 'package.json'), 'utf8')) as {
    version: string;
  };
  for (const args of [['config'], ['config', '--helm-template'], ['--help']]) {
    const [a, b] = await Promise.all([node([runner, ...args]), unbundled(args)]);
    t.equal(a.code, 0, `${args.join(' ')} exits 0`);
    t.equal(a.stdout, b.stdout, `${args.join(' ')}: same output`);
    if (args.length === 1 && args[0] === 'config')
      t.match(a.stdout, `git-events-runner:v${version}`, 'the package version is inlined in the bundle');
  }
  for (const command of ['run', 'clone']) {
    const help = await node([runner, command, '--help']);
    t.equal(help.code, 0);
    t.match(help.stdout, `Usage: git-events-runner ${command} [options]`);
  }
  const bad = await node([runner, 'run', '--log-format', 'yaml']);
  t.equal(bad.code, 2, 'usage errors keep exit code 2');
});

t.test('git-events-runner run: reaches /ready against a control plane, text logs work', async (t) => {
  const plane = await isolatedCluster(t);
  // Resolves once /ready answers 200 (and fails with the logs otherwise).
  const controller = await startControllerProcess({
    entry: runner,
    kubeconfig: plane.kubeconfig,
    namespace: 'ger-system',
    args: ['--log-format', 'text', '--source-clone-folder', join(out, 'clones')],
  });
  t.teardown(() => controller.stop('SIGKILL'));
  t.equal((await controller.get('/ready')).status, 200, 'ready');
  t.equal((await controller.get('/alive')).body, 'Alive');
  t.match((await controller.get('/metrics')).body, /git_events_runner_leader/);
  t.equal(await controller.stop('SIGTERM'), 0, 'exits 0 on SIGTERM');
  const logs = controller.logs();
  t.match(logs, /INFO: caches synced/, 'logged as text (pino-pretty runs bundled, in the main thread)');
  t.notMatch(logs, /^\{/m, 'no JSON lines');
});

t.test('git-events-runner clone: over SSH (ssh2 without its native add-ons) and HTTPS', async (t) => {
  const cluster = testCluster();
  const servers = await startGitServers({ daemon: false });
  t.teardown(() => servers.stop());
  const ssh = servers.ssh!;
  await servers.fixtures.create('app');
  const head = await servers.fixtures.commit('app', { 'deploy.sh': 'echo bundled\n' }, 'first');
  const ns = await testNamespace(cluster, 'bundle');
  const obj = (kind: string, name: string, spec: unknown) =>
    stringify({ apiVersion: API_VERSION, kind, metadata: { name, namespace: ns }, spec });
  const secret = (name: string, data: Record<string, string>) =>
    stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns }, stringData: data });
  await cluster.kubectlOk(
    ['apply', '-f', '-'],
    [
      secret('ssh-auth', { 'ssh-privatekey': ssh.keys.ed25519.privateKey, known_hosts: ssh.knownHosts }),
      secret('ca', { 'ca.crt': servers.https.caCert }),
      obj('GitRepo', 'over-ssh', {
        repoUri: servers.urls.ssh('app'),
        authConfig: { type: 'ssh', secretRef: { name: 'ssh-auth' } },
      }),
      obj('GitRepo', 'over-https', {
        repoUri: servers.urls.https('app'),
        tlsConfig: { caCert: { secretRef: { name: 'ca' } } },
      }),
    ].join('---\n'),
  );
  for (const source of ['over-ssh', 'over-https']) {
    const destination = join(out, `clone-${source}`);
    const result = await node(
      [runner, 'clone', '-k', 'GitRepo', '-s', source, '-c', head, '-d', destination, '-n', ns],
      { KUBECONFIG: cluster.kubeconfig },
    );
    t.equal(result.code, 0, `${source}: ${result.stderr}`);
    t.equal(await readFile(join(destination, 'deploy.sh'), 'utf8'), 'echo bundled\n', `${source}: checked out`);
  }
});

t.test(
  'git-events-admission: help and manifests print what the unbundled CLI prints',
  { skip: admissionBuilt ? false : 'admission/dist/src/cli.js is not built yet' },
  async (t) => {
    const cli = join(root, 'admission', 'dist', 'src', 'cli.js');
    for (const args of [['--help'], ['serve', '--help']]) {
      const help = await node([admission, ...args]);
      t.equal(help.code, 0, `${args.join(' ')} exits 0`);
      t.match(help.stdout, /Usage: git-events-admission/);
    }
    const args = ['manifests', '--service', 'ger-system/ger-git-events-runner-admission'];
    const [a, b] = await Promise.all([node([admission, ...args]), run(process.execPath, [cli, ...args])]);
    t.equal(a.code, 0, a.stderr);
    t.equal(a.stdout, b.stdout, 'manifests: same output');
    // The server itself, bundled: HTTPS, fastify and text logs.
    const ca = await createCertificateAuthority('bundle admission CA');
    const pair = await ca.server('127.0.0.1', ['localhost'], ['127.0.0.1']);
    await writeFile(join(out, 'tls.crt'), pair.cert);
    await writeFile(join(out, 'tls.key'), pair.key);
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [
        admission,
        'serve',
        `--port=${port}`,
        `--tls-cert-path=${join(out, 'tls.crt')}`,
        `--tls-key-path=${join(out, 'tls.key')}`,
        '--log-format=text',
      ],
      {
        cwd: out,
        env: { ...process.env, KUBECONFIG: testCluster().kubeconfig, GER_LISTEN_HOST: '127.0.0.1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
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
    const healthz = () =>
      new Promise<string>((resolve) => {
        const req = httpsGet(
          { host: '127.0.0.1', port, path: '/healthz', ca: ca.cert, agent: false, timeout: 2000 },
          (res) => {
            let body = '';
            res.setEncoding('utf8').on('data', (d: string) => {
              body += d;
            });
            res.on('end', () => resolve(`${res.statusCode} ${body}`));
          },
        );
        req.on('error', () => resolve('unreachable'));
        req.on('timeout', () => req.destroy());
      });
    t.equal(await eventually(healthz, (r: string) => r === '200 ok', 20_000), '200 ok', 'serves /healthz over HTTPS');
    child.kill('SIGTERM');
    t.equal(await exited, 0, 'exits 0 on SIGTERM');
    t.notMatch(logs, /^\{/m, 'text logs');
    const manifests = parseAllDocuments(a.stdout)
      .map((d) => d.toJS() as { kind?: string; metadata?: { name?: string } } | null)
      .filter((o) => o !== null);
    t.same(manifests.map((o) => `${o.kind} ${o.metadata?.name}`).sort(), [
      'MutatingWebhookConfiguration git-events-runner-mutating',
      'ValidatingWebhookConfiguration git-events-runner-validating',
    ]);
  },
);

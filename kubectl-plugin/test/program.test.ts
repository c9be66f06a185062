import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parse } from 'yaml';
import type { Io } from '../src/io.js';
import { kubectlStyleArgs, main } from '../src/program.js';

// The command line in-process: help, usage errors and connection errors, without a cluster.

const pkgDir = new URL('../../', import.meta.url);

async function runMain(argv: string[], env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const io: Io = {
    stdout: (s) => {
      stdout += s;
    },
    stderr: (s) => {
      stderr += s;
    },
    env: { HOME: '/nonexistent-home', ...env },
    stdoutIsTTY: false,
    now: () => Date.parse('2025-06-01T12:00:00Z'),
    sleep: async () => {},
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

function oneLine(t: Test, r: { code: number; stderr: string }, pattern: RegExp): void {
  t.equal(r.code, 1, 'exit code 1');
  t.match(r.stderr, /^error: [^\n]+\n$/, `one line: ${r.stderr}`);
  t.match(r.stderr, pattern);
}

t.test('help, with examples, exit code 0', async (t) => {
  const root = await runMain(['--help']);
  t.equal(root.code, 0);
  t.match(root.stdout, /^Usage: kubectl git-events \[options\] \[command\]/);
  t.match(root.stdout, /status \[options\] \[trigger\] +show triggers/);
  t.match(root.stdout, /fire \[options\] <trigger> \[source\] +fire a WebhookTrigger/);
  const status = await runMain(['status', '--help']);
  t.equal(status.code, 0);
  t.match(status.stdout, /-A, --all-namespaces/);
  t.match(status.stdout, /-o, --output <format> +output format: table\|wide\|json\|yaml/);
  t.match(status.stdout, /Global Options:\n.*--kubeconfig/s, 'kubectl flags listed under each command');
  t.match(status.stdout, /Examples:\n {2}# /);
  const fire = await runMain(['help', 'fire']);
  t.equal(fire.code, 0);
  t.match(fire.stdout, /--token-env <var>/);
  t.match(fire.stdout, /--wait/);
  t.match(fire.stdout, /kubectl git-events fire -n ci deploy --wait/);
  const version = await runMain(['--version']);
  const pkg = JSON.parse(await readFile(new URL('package.json', pkgDir), 'utf8')) as { version: string };
  t.equal(version.stdout, `${pkg.version}\n`);
});

t.test("kubectl's -o=json form", async (t) => {
  t.same(kubectlStyleArgs(['status', '-o=json', '-n=ci', '--output=yaml', '-A']), [
    'status',
    '-o',
    'json',
    '-n',
    'ci',
    '--output=yaml',
    '-A',
  ]);
  t.same(kubectlStyleArgs(['fire', 'x', '--', '-o=json']), ['fire', 'x', '--', '-o=json'], 'not after --');
  t.same(kubectlStyleArgs(['-n=']), ['-n', '']);
  oneLine(t, await runMain(['status', '-o=xml']), /unknown output format "xml"/);
});

t.test('usage errors: one line on stderr, exit code 1, before any cluster access', async (t) => {
  oneLine(t, await runMain(['status', '--bogus']), /unknown option '--bogus'/);
  oneLine(t, await runMain(['nope']), /unknown command 'nope'/);
  oneLine(t, await runMain(['status', '-o', 'xml']), /unknown output format "xml"/);
  oneLine(t, await runMain(['fire']), /missing required argument 'trigger'/);
  oneLine(t, await runMain(['fire', 'x', '--timeout', 'soon']), /invalid --timeout "soon"/);
  oneLine(
    t,
    await runMain(['fire', 'x', '--service', 'a/b', '--url', 'http://x']),
    /--service.* cannot be used with option '--url/,
  );
  oneLine(
    t,
    await runMain(['fire', 'x', '--token', 't', '--token-env', 'V']),
    /cannot be used with option '--token-env/,
  );
  oneLine(t, await runMain(['fire', 'x', '--token', '']), /--token is empty/);
});

t.test('kubeconfig problems are named', async (t) => {
  oneLine(
    t,
    await runMain(['status', '--kubeconfig', '/nonexistent/config']),
    /cannot read kubeconfig "\/nonexistent\/config": no such file/,
  );
  oneLine(t, await runMain(['status'], { KUBECONFIG: '/nonexistent/a:/nonexistent/b' }), /no file of KUBECONFIG=/);
  oneLine(t, await runMain(['status']), /no kubeconfig: pass --kubeconfig, set KUBECONFIG, or create ~\/.kube\/config/);
  const dir = await mkdtemp(join(tmpdir(), 'plugin-program-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'config');
  // A port nothing listens on (fetch refuses some well-known ports outright).
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  await writeFile(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: c, cluster: {server: "https://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]`,
      'users: [{name: u, user: {token: abc}}]',
      'contexts: [{name: x, context: {cluster: c, user: u, namespace: team}}]',
      'current-context: x',
    ].join('\n'),
  );
  oneLine(
    t,
    await runMain(['status', '--kubeconfig', file, '--context', 'y']),
    /context "y" does not exist in the kubeconfig/,
  );
  const down = await runMain(['status', '--kubeconfig', file]);
  oneLine(
    t,
    down,
    new RegExp(
      `cannot reach the server https://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\) - did you specify the right host or port\\?`,
    ),
  );
  t.notMatch(down.stderr, /abc/, 'the bearer token is not printed');
});

t.test('the package installs as a global command and ships a krew manifest', async (t) => {
  const pkg = JSON.parse(await readFile(new URL('package.json', pkgDir), 'utf8')) as {
    bin: Record<string, string>;
    files: string[];
    dependencies: Record<string, string>;
  };
  const bin = pkg.bin['kubectl-git_events'];
  // A committed entry (bin/), so npm links it at install time, before dist/ is built.
  t.equal(bin, './bin/kubectl-git_events.js', 'kubectl finds kubectl-git_events on PATH for "kubectl git-events"');
  t.ok(pkg.files.includes('dist/src') && pkg.files.includes('bin'), 'the entry and the compiled sources are published');
  const cli = await readFile(new URL(bin ?? '', pkgDir), 'utf8');
  t.match(cli, /^#!\/usr\/bin\/env node\n/, 'a shebang, so npm can link it as a command');
  const krew = parse(await readFile(new URL('krew/git-events.yaml', pkgDir), 'utf8')) as {
    apiVersion: string;
    kind: string;
    metadata: { name: string };
    spec: { version: string; platforms: { bin: string; uri: string; sha256: string }[]; shortDescription: string };
  };
  t.equal(krew.apiVersion, 'krew.googlecontainertools.github.com/v1alpha2');
  t.equal(krew.kind, 'Plugin');
  t.equal(krew.metadata.name, 'git-events', 'krew installs it as kubectl-git_events');
  t.ok(krew.spec.shortDescription.length <= 50, 'krew limits the short description');
  t.ok(krew.spec.platforms.length > 0);
  for (const p of krew.spec.platforms) t.equal(p.bin, 'kubectl-git_events');
});

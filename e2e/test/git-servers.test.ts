import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import {
  alive,
  createGitFixtures,
  type GitServers,
  processesGone,
  runGit,
  runGitOk,
  startGarbageServer,
  startGitHttpServer,
  startGitServers,
  startHangingServer,
} from '../src/index.js';

// Proves the git servers of the harness with the real git client: if git itself cannot use them, the
// product's git access tests would be testing the harness.

// The test object tap passes to a test function (the last overload of t.test takes only the function).
type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const BASIC = { username: 'alice', password: 'pa55-word' };

async function scratch(t: Test, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

/** Starts the servers for one test; the test ends by calling `stopAndCheck`, teardown is the safety net. */
async function servers(t: Test, options: Parameters<typeof startGitServers>[0] = {}) {
  const s = await startGitServers(options);
  t.teardown(() => s.stop());
  return s;
}

async function stopAndCheck(t: Test, s: GitServers): Promise<void> {
  t.ok(s.pids.every(alive), 'sshd, git daemon and their guards ran until stop');
  await s.stop();
  t.ok(await processesGone(s.pids, 5_000), 'no server process is left');
  const ports = [s.http.port, s.https.port, s.ssh?.port, s.daemon?.port].filter((p) => p !== undefined);
  t.ok((await Promise.all(ports.map(refusesConnections))).every(Boolean), 'no port is listening');
}

async function cloneAndRead(t: Test, url: string, file: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  const dir = await scratch(t, 'git-clone-');
  await runGitOk(['clone', '--quiet', url, join(dir, 'w')], { env });
  return readFile(join(dir, 'w', file), 'utf8');
}

t.test('fixtures: bare repositories, commits, tags and refs made with the git binary', async (t) => {
  const root = await scratch(t, 'git-fixtures-');
  const f = createGitFixtures(root);
  const path = await f.create('org/app');
  t.equal(path, join(root, 'org', 'app.git'));
  t.equal(await runGitOk([`--git-dir=${path}`, 'config', 'uploadpack.allowAnySHA1InWant']), 'true');
  t.equal(await runGitOk([`--git-dir=${path}`, 'symbolic-ref', 'HEAD']), 'refs/heads/main');

  const c1 = await f.commit(
    'org/app',
    {
      'README.md': 'hello\n',
      'bin/run.sh': { content: '#!/bin/sh\necho run\n', executable: true },
      link: { symlink: 'README.md' },
      'data.bin': new Uint8Array([0, 1, 2, 255]),
      'with space.txt': 'x',
    },
    'first',
  );
  t.match(c1, /^[0-9a-f]{40}$/);
  const tree = await runGitOk([`--git-dir=${path}`, 'ls-tree', '-r', c1]);
  t.match(tree, /^100755 blob \S+\tbin\/run\.sh$/m, 'executable file');
  t.match(tree, /^120000 blob \S+\tlink$/m, 'symlink');
  t.match(tree, /^100644 blob \S+\twith space\.txt$/m);
  t.equal(await runGitOk([`--git-dir=${path}`, 'show', `${c1}:README.md`]), 'hello');

  const c2 = await f.commit('org/app', { 'README.md': 'hello again\n', 'with space.txt': null }, 'second');
  t.equal(await runGitOk([`--git-dir=${path}`, 'rev-parse', `${c2}^`]), c1, 'commits on the branch tip');
  t.notMatch(await runGitOk([`--git-dir=${path}`, 'ls-tree', '-r', '--name-only', c2]), /with space/, 'deleted');
  t.equal(
    await runGitOk([`--git-dir=${path}`, 'log', '-1', '--format=%an <%ae>|%cn|%s', c2]),
    'Fixture Author <fixtures@git-events-runner.test>|Fixture Author|second',
  );

  const light = await f.lightweightTag('org/app', 'v1', c1);
  t.same(light, { commit: c1 });
  const annotated = await f.annotatedTag('org/app', 'v2', c2, 'release 2');
  t.equal(annotated.commit, c2);
  t.not(annotated.object, c2, 'an annotated tag is an object of its own');
  t.equal(await runGitOk([`--git-dir=${path}`, 'cat-file', '-t', annotated.object ?? '']), 'tag');

  const feature = await f.commit('org/app', { 'feature.txt': 'f' }, 'feature', { branch: 'feature' });
  t.equal(await runGitOk([`--git-dir=${path}`, 'rev-parse', `${feature}^`]), c2, 'a new branch starts at main');
  const orphan = await f.commit('org/app', { 'only.txt': 'o' }, 'orphan', { branch: 'orphan', from: null });
  t.equal((await runGit([`--git-dir=${path}`, 'rev-parse', '--verify', '-q', `${orphan}^`])).code, 1, 'root');

  await f.renameBranch('org/app', 'feature', 'renamed');
  t.equal(await f.resolve('org/app', 'refs/heads/renamed'), feature);
  await f.setRef('org/app', 'main', c1);
  t.equal(await f.resolve('org/app', 'refs/heads/main'), c1, 'history rewritten');
  await f.deleteRef('org/app', 'refs/tags/v1');
  t.notMatch(await runGitOk([`--git-dir=${path}`, 'tag']), /v1/);
  await f.renameRepo('org/app', 'moved');
  t.equal(await f.resolve('moved', 'refs/heads/renamed'), feature);

  // Fixed identity and dates: the same steps give the same ids in another directory.
  const again = createGitFixtures(await scratch(t, 'git-fixtures-'));
  await again.create('org/app');
  const d1 = await again.commit(
    'org/app',
    {
      'README.md': 'hello\n',
      'bin/run.sh': { content: '#!/bin/sh\necho run\n', executable: true },
      link: { symlink: 'README.md' },
      'data.bin': new Uint8Array([0, 1, 2, 255]),
      'with space.txt': 'x',
    },
    'first',
  );
  t.equal(d1, c1, 'commit ids are reproducible');
});

t.test('smart HTTP: basic auth, public and private repositories, protocol v2, fetch by id, gzip', async (t) => {
  const s = await servers(t, { auth: { basic: BASIC }, publicRepos: ['open'], ssh: false, daemon: false });
  await s.fixtures.create('private');
  await s.fixtures.create('open');
  const old = await s.fixtures.commit('private', { 'a.txt': 'old\n' }, 'old');
  const head = await s.fixtures.commit('private', { 'a.txt': 'new\n' }, 'new');
  await s.fixtures.commit('open', { 'README.md': 'open\n' }, 'open');

  const withCreds = s.urls.http('private').replace('http://', `http://${BASIC.username}:${BASIC.password}@`);
  const ok = await runGitOk(['ls-remote', withCreds]);
  t.match(ok, new RegExp(`^${head}\\trefs/heads/main$`, 'm'), 'ls-remote with Basic credentials');

  const none = await runGit(['ls-remote', s.urls.http('private')]);
  t.not(none.code, 0, 'no credentials: refused');
  t.match(none.stderr, /could not read Username|Authentication failed|terminal prompts disabled/);
  t.ok(
    s.http.stats.log.some((r) => r.status === 401 && r.repo === 'private'),
    'the server answered 401',
  );

  const wrong = await runGit(['ls-remote', withCreds.replace(BASIC.password, 'nope')]);
  t.not(wrong.code, 0, 'wrong password: refused');
  t.match(wrong.stderr, /Authentication failed/);

  t.match(await runGitOk(['ls-remote', s.urls.http('open')]), /refs\/heads\/main/, 'a public repository needs none');
  s.http.setPublic('open', false);
  t.not((await runGit(['ls-remote', s.urls.http('open')])).code, 0, 'made private');

  // Protocol v2: git sends the Git-Protocol header, which must reach upload-pack as GIT_PROTOCOL.
  s.http.resetStats();
  const v2 = await runGit(['-c', 'protocol.version=2', 'ls-remote', withCreds], { env: { GIT_TRACE_PACKET: '1' } });
  t.equal(v2.code, 0, 'protocol v2 ls-remote', { stderr: v2.stderr });
  t.ok(
    s.http.stats.log.some((r) => r.gitProtocol === 'version=2'),
    'the server saw Git-Protocol: version=2',
  );
  t.match(v2.stderr, /< version 2$/m, 'and answered with protocol v2');
  s.http.resetStats();
  await runGitOk(['-c', 'protocol.version=0', 'ls-remote', withCreds]);
  t.ok(
    s.http.stats.log.every((r) => r.gitProtocol === undefined),
    'protocol v0: no Git-Protocol header',
  );

  t.equal(await cloneAndRead(t, withCreds, 'a.txt'), 'new\n', 'clone checks out the committed content');
  const parallel = await Promise.all(Array.from({ length: 10 }, () => runGit(['ls-remote', withCreds])));
  t.ok(
    parallel.every((r) => r.code === 0),
    'concurrent requests',
  );

  // A commit that is no branch tip, fetched by its id, with either protocol version.
  for (const version of ['0', '2']) {
    const dir = await scratch(t, 'git-fetch-');
    await runGitOk(['init', '--quiet', dir]);
    const fetch = await runGit(['-C', dir, '-c', `protocol.version=${version}`, 'fetch', '--quiet', withCreds, old]);
    t.equal(fetch.code, 0, `fetch by id over protocol v${version}`, { stderr: fetch.stderr });
    t.equal(await runGitOk(['-C', dir, 'show', `${old}:a.txt`]), 'old');
  }

  // Many wants make git compress its request body (over 1 KiB): git-http-backend must inflate it.
  await s.fixtures.create('wide');
  for (let i = 0; i < 40; i++) await s.fixtures.commit('wide', { [`f${i}`]: `${i}\n` }, `c${i}`, { branch: `b${i}` });
  s.http.resetStats();
  for (const version of ['0', '2']) {
    const dir = await scratch(t, 'git-wide-');
    const url = s.urls.http('wide').replace('http://', `http://${BASIC.username}:${BASIC.password}@`);
    const clone = await runGit(['-c', `protocol.version=${version}`, 'clone', '--quiet', '--bare', url, dir]);
    t.equal(clone.code, 0, `clone of 40 branches over protocol v${version}`, { stderr: clone.stderr });
  }
  const gzipped = s.http.stats.log.filter((r) => r.contentEncoding === 'gzip');
  t.ok(gzipped.length >= 2, 'gzip request bodies were sent');
  t.ok(
    gzipped.every((r) => r.status === 200),
    'and answered',
  );

  const { stats } = s.http;
  t.ok(stats.requests > 0 && stats.bytesSent > 0 && stats.bytesReceived > 0, 'counters count');
  t.equal(
    stats.bytesSent,
    stats.log.reduce((n, r) => n + r.bytesSent, 0),
    'per-request bytes add up',
  );
  s.http.resetStats();
  t.same([stats.requests, stats.bytesSent, stats.bytesReceived, stats.log.length], [0, 0, 0, 0], 'reset');
  await stopAndCheck(t, s);
});

t.test('smart HTTP: a token as the exact Authorization header value', async (t) => {
  const root = await scratch(t, 'git-token-');
  const f = createGitFixtures(root);
  await f.create('repo');
  await f.commit('repo', { x: 'y' }, 'c');
  const server = await startGitHttpServer({ root, auth: { token: 'Bearer s3cr3t-t0ken' } });
  t.teardown(() => server.stop());
  const header = (value: string) => ['-c', `http.extraHeader=Authorization: ${value}`];
  t.equal((await runGit([...header('Bearer s3cr3t-t0ken'), 'ls-remote', server.url('repo')])).code, 0, 'right');
  const wrong = await runGit([...header('Bearer wrong'), 'ls-remote', server.url('repo')]);
  t.not(wrong.code, 0, 'wrong token: refused');
  t.not((await runGit(['ls-remote', server.url('repo')])).code, 0, 'no token: refused');
  t.equal(server.stats.log.at(-1)?.status, 401);
  t.not(
    (await runGit([...header('Basic czNjcjN0LXQwa2Vu'), 'ls-remote', server.url('repo')])).code,
    0,
    'the value is compared exactly',
  );
  server.setAuth({ token: 'Bearer rotated' });
  t.equal((await runGit([...header('Bearer rotated'), 'ls-remote', server.url('repo')])).code, 0, 'rotated');
  await server.stop();
  t.ok(await refusesConnections(server.port), 'stopped');
});

t.test('HTTPS: trusted with the test CA, refused without it', async (t) => {
  const s = await servers(t, { auth: { basic: BASIC }, ssh: false, daemon: false });
  await s.fixtures.create('repo');
  await s.fixtures.commit('repo', { 'hello.txt': 'over tls\n' }, 'c');
  t.match(s.https.caCert, /^-----BEGIN CERTIFICATE-----/);
  const url = s.urls.https('repo').replace('https://', `https://${BASIC.username}:${BASIC.password}@`);
  t.match(url, /^https:\/\/alice:[^@]+@127\.0\.0\.1:\d+\/repo\.git$/);
  const trusted = { GIT_SSL_CAINFO: s.https.caFile };
  t.match(await runGitOk(['ls-remote', url], { env: trusted }), /refs\/heads\/main/, 'CA given: ok');
  const untrusted = await runGit(['ls-remote', url]);
  t.not(untrusted.code, 0, 'CA not given: refused');
  // curl says "SSL certificate problem" with OpenSSL, "server certificate verification failed" with GnuTLS (Debian).
  t.match(untrusted.stderr, /certificate problem|certificate verification failed/);
  t.equal(await cloneAndRead(t, url, 'hello.txt', trusted), 'over tls\n');
  const byName = url.replace('127.0.0.1', 'localhost');
  t.equal((await runGit(['ls-remote', byName], { env: trusted })).code, 0, 'the certificate also names localhost');
  await stopAndCheck(t, s);
});

t.test('SSH: OpenSSH sshd with generated keys and known_hosts', async (t) => {
  const s = await servers(t, { daemon: false });
  const ssh = s.ssh;
  if (ssh === undefined) throw new Error('no sshd');
  await s.fixtures.create('repo');
  const head = await s.fixtures.commit('repo', { 'hello.txt': 'over ssh\n' }, 'c');
  const url = s.urls.ssh('repo');
  t.equal(url, `ssh://${ssh.user}@127.0.0.1:${ssh.port}${s.root}/repo.git`);
  t.match(ssh.knownHosts, new RegExp(`^\\[127\\.0\\.0\\.1\\]:${ssh.port} ssh-ed25519 AAAA[A-Za-z0-9+/=]+\\n$`));
  t.match(ssh.keys.ed25519.privateKey, /^-----BEGIN OPENSSH PRIVATE KEY-----/);
  t.match(ssh.keys.rsaPem.privateKey, /^-----BEGIN RSA PRIVATE KEY-----/);
  t.equal(ssh.keys.rsa.publicKey, ssh.keys.rsaPem.publicKey, 'the same RSA key in two formats');

  const lsRemote = (command: string, env: NodeJS.ProcessEnv = {}) =>
    runGit(['ls-remote', url], { env: { GIT_SSH_COMMAND: command, ...env } });
  for (const key of ['ed25519', 'rsa', 'rsaPem'] as const) {
    const r = await lsRemote(ssh.sshCommand(ssh.keys[key]));
    t.equal(r.code, 0, `${key} key`, { stderr: r.stderr });
    t.match(r.stdout, new RegExp(`^${head}\\trefs/heads/main$`, 'm'));
  }

  // The encrypted key, its passphrase given the way ssh asks for it (SSH_ASKPASS).
  const askpass = join(ssh.dir, 'askpass.sh');
  await writeFile(askpass, `#!/bin/sh\necho '${ssh.keys.encrypted.passphrase ?? ''}'\n`);
  await chmod(askpass, 0o700);
  const interactive = ssh.sshCommand(ssh.keys.encrypted).replace(' -o BatchMode=yes', '');
  const enc = await lsRemote(interactive, { SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force' });
  t.equal(enc.code, 0, 'encrypted key with its passphrase', { stderr: enc.stderr });
  t.not((await lsRemote(ssh.sshCommand(ssh.keys.encrypted))).code, 0, 'encrypted key without passphrase fails');

  const denied = await lsRemote(ssh.sshCommand(ssh.keys.unauthorized));
  t.not(denied.code, 0);
  t.match(denied.stderr, /Permission denied \(publickey\)/, 'a key not in authorized_keys is refused');

  const mismatch = await lsRemote(ssh.sshCommand(ssh.keys.ed25519, ssh.wrongKnownHostsFile));
  t.not(mismatch.code, 0);
  t.match(mismatch.stderr, /Host key verification failed/, 'another host key in known_hosts is refused');

  const v2 = await runGit(['-c', 'protocol.version=2', 'ls-remote', url], {
    env: { GIT_SSH_COMMAND: ssh.sshCommand(), GIT_TRACE_PACKET: '1' },
  });
  t.equal(v2.code, 0, 'protocol v2 ls-remote', { stderr: v2.stderr });
  t.match(v2.stderr, /< version 2$/m, 'protocol v2 over SSH (AcceptEnv GIT_PROTOCOL)');

  t.equal(await cloneAndRead(t, url, 'hello.txt', { GIT_SSH_COMMAND: ssh.sshCommand() }), 'over ssh\n');
  t.equal(ssh.scpUrl('repo'), `${ssh.user}@127.0.0.1:${s.root}/repo.git`);
  const scp = await runGit(['ls-remote', ssh.scpUrl('repo')], { env: { GIT_SSH_COMMAND: ssh.sshCommand() } });
  t.equal(scp.code, 0, 'the scp-like form, with the port given to ssh apart', { stderr: scp.stderr });
  t.match(await readFile(ssh.logFile, 'utf8'), /Accepted publickey for /, 'sshd logs logins');
  await stopAndCheck(t, s);
});

t.test('git://: git daemon', async (t) => {
  const s = await servers(t, { ssh: false });
  await s.fixtures.create('repo');
  const head = await s.fixtures.commit('repo', { 'hello.txt': 'over git://\n' }, 'c');
  t.match(s.urls.git('repo'), /^git:\/\/127\.0\.0\.1:\d+\/repo\.git$/);
  t.match(await runGitOk(['ls-remote', s.urls.git('repo')]), new RegExp(`^${head}\\trefs/heads/main$`, 'm'));
  const v2 = await runGit(['-c', 'protocol.version=2', 'ls-remote', s.urls.git('repo')], {
    env: { GIT_TRACE_PACKET: '1' },
  });
  t.match(v2.stderr, /< version 2$/m, 'protocol v2 over git://');
  t.equal(await cloneAndRead(t, s.urls.git('repo'), 'hello.txt'), 'over git://\n');
  const missing = await runGit(['ls-remote', s.urls.git('nothing')]);
  t.not(missing.code, 0);
  t.match(missing.stderr, /no such repository: \/nothing\.git/, 'informative errors');
  await stopAndCheck(t, s);
});

t.test('hostile servers: one never answers, one answers garbage', async (t) => {
  const hanging = await startHangingServer();
  t.teardown(() => hanging.stop());
  let started = Date.now();
  const slow = await runGit(
    ['-c', 'http.lowSpeedLimit=1000', '-c', 'http.lowSpeedTime=2', 'ls-remote', hanging.url('repo')],
    { timeoutMs: 20_000 },
  );
  t.equal(slow.code, 128, 'git gives up (not killed by the test timeout)');
  t.match(slow.stderr, /timed out|Operation too slow/i);
  t.ok(Date.now() - started < 15_000, 'after the low-speed time');
  started = Date.now();
  const gitHang = await runGit(['ls-remote', hanging.url('repo', 'git')], { timeoutMs: 2_000 });
  t.equal(gitHang.code, null, 'git:// waits forever: killed by the wrapper');
  t.ok(hanging.connections() >= 2, 'connections were accepted');

  const garbage = await startGarbageServer();
  t.teardown(() => garbage.stop());
  const bad = await runGit(['ls-remote', garbage.url('repo')], { timeoutMs: 20_000 });
  t.equal(bad.code, 128, 'git fails on garbage');
  t.match(bad.stderr, /protocol error|bad line length|invalid|not valid/i);
  const tcpGarbage = await startGarbageServer({ mode: 'tcp' });
  t.teardown(() => tcpGarbage.stop());
  const badGit = await runGit(['ls-remote', tcpGarbage.url('repo', 'git')], { timeoutMs: 20_000 });
  t.equal(badGit.code, 128, 'git:// client fails on garbage');

  await Promise.all([hanging.stop(), garbage.stop(), tcpGarbage.stop()]);
  t.ok((await Promise.all([hanging.port, garbage.port].map(refusesConnections))).every(Boolean), 'stopped');
});

t.test('sshd and git daemon die with a test process killed by SIGKILL', async (t) => {
  const entry = pathToFileURL(new URL('../src/index.js', import.meta.url).pathname).href;
  const script = `
    const { startGitServers } = await import(${JSON.stringify(entry)});
    const s = await startGitServers();
    process.stdout.write(JSON.stringify({ dir: s.dir, pids: s.pids }) + '\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      if (buf.includes('\n')) resolve(buf.split('\n')[0] ?? '');
    });
    child.once('exit', (code) => reject(new Error(`child exited early with ${code}`)));
  });
  const state = JSON.parse(line) as { dir: string; pids: number[] };
  t.teardown(() => rm(state.dir, { recursive: true, force: true }));
  t.equal(state.pids.length, 4, 'two guards, sshd and git daemon');
  t.ok(state.pids.every(alive));
  child.kill('SIGKILL');
  t.ok(await processesGone(state.pids, 15_000), 'the guards stop sshd and git daemon');
});

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkFiles,
  cloneRef,
  type GitAuth,
  type GitErrorCode,
  type GitRemote,
  isGitError,
  NO_MATCHING_FILES,
  resolveRef,
} from '@git-events-runner/shared/git';
import t, { type Test } from 'tap';
import { startGarbageServer, startGitServers, startHangingServer } from '../src/git-servers.js';
import { run } from '../src/index.js';

// The git access module against real servers: git http-backend over HTTP and HTTPS, OpenSSH's sshd and
// git daemon, all on loopback, started here and stopped at the end.

const BASIC = { username: 'git-user', password: 'pa55-w0rd-x9' };
const TOKEN = 'Bearer tok-3f9a7c1e5b';
const servers = await startGitServers({ auth: { basic: BASIC, token: TOKEN }, publicRepos: ['public'] });
t.teardown(() => servers.stop());
const fx = servers.fixtures;
const ssh = servers.ssh!;
const scratch = await mkdtemp(join(tmpdir(), 'git-access-'));
t.teardown(() => rm(scratch, { recursive: true, force: true }));

for (const name of ['public', 'private']) await fx.create(name);
const first = await fx.commit(
  'public',
  { 'README.md': 'hello\n', 'chart/values.yaml': 'a: 1\n', 'deploy.sh': { content: '#!/bin/sh\n', executable: true } },
  'first',
);
await fx.commit('private', { 'README.md': 'private\n', 'chart/values.yaml': 'b: 2\n' }, 'first');
const lightweight = await fx.lightweightTag('public', 'v1-light');
const annotated = await fx.annotatedTag('public', 'v1', undefined, 'release v1');
await fx.lightweightTag('private', 'v1-light');
await fx.annotatedTag('private', 'v1', undefined, 'release');
const privateHead = await fx.resolve('private', 'main');

let dirs = 0;
const newDir = () => join(scratch, `d${dirs++}`);

async function expectError(t: Test, promise: Promise<unknown>, code: GitErrorCode, message?: RegExp): Promise<void> {
  try {
    await promise;
    t.fail(`expected a ${code} error`);
  } catch (err: unknown) {
    t.ok(isGitError(err, code), `${code}: ${err instanceof Error ? err.message : String(err)}`);
    if (message !== undefined) t.match((err as Error).message, message);
    for (const secret of [BASIC.password, TOKEN, 'PRIVATE KEY'])
      t.notMatch((err as Error).message, secret, 'no secret in the message');
  }
}

interface Access {
  readonly name: string;
  readonly remote: (repo: string) => GitRemote;
}

const sshAuth = (
  key: { privateKey: string; passphrase?: string },
  extra: Partial<Extract<GitAuth, { type: 'ssh' }>> = {},
): GitAuth => ({
  type: 'ssh',
  privateKey: key.privateKey,
  passphrase: key.passphrase,
  knownHosts: ssh.knownHosts,
  ...extra,
});

const accesses: Access[] = [
  { name: 'http anonymous', remote: (r) => ({ uri: servers.urls.http(r) }) },
  { name: 'http basic', remote: (r) => ({ uri: servers.urls.http(r), auth: { type: 'basic', ...BASIC } }) },
  { name: 'http token', remote: (r) => ({ uri: servers.urls.http(r), auth: { type: 'token', authorization: TOKEN } }) },
  {
    name: 'https basic + caCert',
    remote: (r) => ({ uri: servers.urls.https(r), auth: { type: 'basic', ...BASIC }, caCert: servers.https.caCert }),
  },
  {
    name: 'https token + caCert',
    remote: (r) => ({
      uri: servers.urls.https(r),
      auth: { type: 'token', authorization: TOKEN },
      caCert: servers.https.caCert,
    }),
  },
  { name: 'ssh ed25519', remote: (r) => ({ uri: servers.urls.ssh(r), auth: sshAuth(ssh.keys.ed25519) }) },
  { name: 'ssh rsa (PEM)', remote: (r) => ({ uri: servers.urls.ssh(r), auth: sshAuth(ssh.keys.rsaPem) }) },
  { name: 'ssh encrypted key', remote: (r) => ({ uri: servers.urls.ssh(r), auth: sshAuth(ssh.keys.encrypted) }) },
  { name: 'git daemon', remote: (r) => ({ uri: servers.urls.git(r) }) },
];

t.test('every scheme and auth type resolves branch, lightweight tag, annotated tag and commit', async (t) => {
  for (const access of accesses) {
    // Anonymous access only reaches the public repository.
    const repo = access.name.includes('anonymous') || access.name === 'git daemon' ? 'public' : 'private';
    const head = repo === 'public' ? first : privateHead;
    const remote = access.remote(repo);
    t.same(
      await resolveRef(remote, { branch: 'main' }),
      { commit: head, ref: 'refs/heads/main', tip: head },
      `${access.name}: branch`,
    );
    t.equal((await resolveRef(remote, { tag: 'v1-light' })).commit, head, `${access.name}: lightweight tag`);
    const tagged = await resolveRef(remote, { tag: 'v1' });
    t.equal(tagged.commit, head, `${access.name}: annotated tag peeled to its commit`);
    if (repo === 'public') t.equal(tagged.tip, annotated.object, `${access.name}: the tip is the tag object`);
    t.equal((await resolveRef(remote, { commit: head.toUpperCase() })).commit, head, `${access.name}: commit`);
    const clone = newDir();
    t.equal(await cloneRef(remote, clone, { tag: 'v1' }), head, `${access.name}: clone of the annotated tag`);
    t.match(await readFile(join(clone, 'README.md'), 'utf8'), repo === 'public' ? 'hello' : 'private');
  }
  t.equal(lightweight.commit, first);
  t.equal(annotated.commit, first);
  t.not(annotated.object, first, 'the annotated tag object is not the commit');
});

t.test('a check speaks protocol v2 and fetches no objects', async (t) => {
  servers.http.resetStats();
  await resolveRef({ uri: servers.urls.http('public') }, { branch: 'main' });
  const log = servers.http.stats.log;
  t.equal(log.length, 1, 'one request: ls-refs, without first asking for the capabilities');
  t.equal(log[0]?.method, 'POST');
  t.match(log[0]?.url, /\/git-upload-pack$/);
  t.ok(log.every((r) => r.gitProtocol === 'version=2'));
  t.ok(servers.http.stats.bytesSent < 4096, `${servers.http.stats.bytesSent} bytes`);
});

t.test('a server that speaks only protocol v1 is asked the long way', async (t) => {
  const { createServer, request } = await import('node:http');
  // A front that hides the Git-Protocol header, so git http-backend answers as a v1 server.
  const target = new URL(servers.urls.http('public'));
  const front = createServer((req, res) => {
    const headers = { ...req.headers };
    delete headers['git-protocol'];
    const up = request(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => front.close(() => resolve())));
  const address = front.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const uri = `http://127.0.0.1:${port}${target.pathname}`;
  const viaV1 = await resolveRef({ uri }, { branch: 'main' });
  const direct = await resolveRef({ uri: servers.urls.http('public') }, { branch: 'main' });
  t.equal(viaV1.commit, direct.commit, 'the same commit through a v1-only server');
});

t.test('a new commit is detected and an unchanged branch is not', async (t) => {
  await fx.create('moving');
  await fx.commit('moving', { 'a.txt': '1\n' }, 'one');
  const remote: GitRemote = { uri: servers.urls.git('moving') };
  const before = await resolveRef(remote, { branch: 'main' });
  t.same(await resolveRef(remote, { branch: 'main' }), before, 'unchanged');
  const next = await fx.commit('moving', { 'a.txt': '2\n' }, 'two');
  t.equal((await resolveRef(remote, { branch: 'main' })).commit, next, 'changed');
  await expectError(t, resolveRef(remote, { branch: 'nope' }), 'RefNotFound', /branch nope not found/);
  await expectError(t, resolveRef(remote, { tag: 'nope' }), 'RefNotFound', /tag nope not found/);
});

t.test('file globs: inside the filter, outside it, rename, no match', async (t) => {
  await fx.create('globs');
  await fx.commit(
    'globs',
    { 'chart/values.yaml': 'a\n', 'chart/templates/job.yaml': 'j\n', 'README.md': 'r\n' },
    'base',
  );
  const remote: GitRemote = { uri: servers.urls.ssh('globs'), auth: sshAuth(ssh.keys.ed25519) };
  const cache = newDir();
  const check = () => checkFiles(remote, cache, { branch: 'main' }, ['chart/']);
  const base = await check();
  t.match(base.fileHash, /^[0-9a-f]{64}$/);
  await fx.commit('globs', { 'README.md': 'r2\n' }, 'outside');
  const outside = await check();
  t.not(outside.commit, base.commit);
  t.equal(outside.fileHash, base.fileHash, 'a change outside the filter does not count');
  await fx.commit('globs', { 'chart/values.yaml': 'b\n' }, 'inside');
  const inside = await check();
  t.not(inside.fileHash, base.fileHash, 'a change inside the filter counts');
  await fx.commit('globs', { 'chart/values.yaml': null, 'chart/values-renamed.yaml': 'b\n' }, 'rename');
  const renamed = await check();
  t.not(renamed.fileHash, inside.fileHash, 'a rename counts');
  t.equal((await checkFiles(remote, cache, { branch: 'main' }, ['*.go'])).fileHash, NO_MATCHING_FILES);
  const again = await check();
  t.same(again, renamed, 'the cache answers an unchanged commit');
});

t.test('credentials: missing, wrong password, wrong token, wrong key', async (t) => {
  await expectError(
    t,
    resolveRef({ uri: servers.urls.http('private') }, { branch: 'main' }),
    'AuthFailed',
    /authentication required/,
  );
  await expectError(
    t,
    resolveRef(
      { uri: servers.urls.http('private'), auth: { type: 'basic', username: BASIC.username, password: 'wrong' } },
      { branch: 'main' },
    ),
    'AuthFailed',
    /authentication failed/,
  );
  await expectError(
    t,
    resolveRef(
      {
        uri: servers.urls.https('private'),
        caCert: servers.https.caCert,
        auth: { type: 'token', authorization: 'Bearer wrong' },
      },
      { branch: 'main' },
    ),
    'AuthFailed',
  );
  await expectError(
    t,
    resolveRef({ uri: servers.urls.ssh('private'), auth: sshAuth(ssh.keys.unauthorized) }, { branch: 'main' }),
    'AuthFailed',
    /ssh authentication failed/,
  );
  await expectError(
    t,
    resolveRef(
      { uri: servers.urls.ssh('private'), auth: sshAuth({ privateKey: ssh.keys.encrypted.privateKey }) },
      { branch: 'main' },
    ),
    'Config',
    /cannot use the ssh private key/,
  );
});

t.test('SSH host keys are verified', async (t) => {
  const uri = servers.urls.ssh('private');
  const port = new URL(uri).port;
  await expectError(
    t,
    resolveRef({ uri, auth: sshAuth(ssh.keys.ed25519, { knownHosts: undefined }) }, { branch: 'main' }),
    'HostKeyUnknown',
    /is not in known_hosts \(the auth Secret has none\); .* add to the known_hosts key of the auth Secret: \[127\.0\.0\.1\]:\d+ ssh-ed25519 /,
  );
  const other = ssh.knownHosts.replace(/^\[127\.0\.0\.1\]:\d+/gm, '[127.0.0.1]:1');
  try {
    await resolveRef({ uri, auth: sshAuth(ssh.keys.ed25519, { knownHosts: other }) }, { branch: 'main' });
    t.fail('an unknown host must fail');
  } catch (err: unknown) {
    t.ok(isGitError(err, 'HostKeyUnknown'));
    // The message gives the exact line to add, and it is the server's real key.
    const line = /auth Secret: (\[127\.0\.0\.1\]:\d+ ssh-ed25519 \S+)/.exec((err as Error).message)?.[1];
    t.equal(
      line,
      ssh.knownHosts
        .split('\n')
        .find((l) => l.includes('ssh-ed25519'))
        ?.trim(),
      `the line to add for port ${port}`,
    );
  }
  await expectError(
    t,
    resolveRef({ uri, auth: sshAuth(ssh.keys.ed25519, { knownHosts: ssh.wrongKnownHosts }) }, { branch: 'main' }),
    'HostKeyMismatch',
    /does not match known_hosts/,
  );
  t.equal(
    (
      await resolveRef(
        { uri, auth: sshAuth(ssh.keys.ed25519, { knownHosts: undefined, insecureIgnoreHostKey: true }) },
        { branch: 'main' },
      )
    ).commit,
    privateHead,
    'the explicit opt-out accepts any key',
  );
});

t.test('TLS: a server the client cannot verify fails; caCert or noVerifySsl make it work', async (t) => {
  const remote = { uri: servers.urls.https('public') };
  await expectError(t, resolveRef(remote, { branch: 'main' }), 'Tls', /TLS verification failed/);
  t.equal((await resolveRef({ ...remote, caCert: servers.https.caCert }, { branch: 'main' })).commit, first);
  t.equal((await resolveRef({ ...remote, noVerifySsl: true }, { branch: 'main' })).commit, first);
});

t.test('missing repository, hostile servers, timeouts and size limits', async (t) => {
  // Like GitHub, the server asks anonymous clients to authenticate before saying whether a repository exists.
  await expectError(t, resolveRef({ uri: servers.urls.http('missing') }, { branch: 'main' }), 'AuthFailed');
  await expectError(
    t,
    resolveRef({ uri: servers.urls.http('missing'), auth: { type: 'basic', ...BASIC } }, { branch: 'main' }),
    'NotFound',
  );
  await expectError(t, resolveRef({ uri: servers.urls.git('missing') }, { branch: 'main' }), 'NotFound');
  await expectError(
    t,
    resolveRef({ uri: servers.urls.ssh('missing'), auth: sshAuth(ssh.keys.ed25519) }, { branch: 'main' }),
    'NotFound',
  );
  const hanging = await startHangingServer();
  t.teardown(() => hanging.stop());
  const start = Date.now();
  await expectError(
    t,
    resolveRef({ uri: `http://127.0.0.1:${hanging.port}/r.git`, timeoutMs: 1500 }, { branch: 'main' }),
    'Timeout',
  );
  await expectError(
    t,
    resolveRef({ uri: `git://127.0.0.1:${hanging.port}/r.git`, timeoutMs: 1500 }, { branch: 'main' }),
    'Timeout',
  );
  t.ok(Date.now() - start < 10_000, 'the deadline is kept');
  const garbage = await startGarbageServer();
  t.teardown(() => garbage.stop());
  await expectError(t, resolveRef({ uri: `http://127.0.0.1:${garbage.port}/r.git` }, { branch: 'main' }), 'Protocol');
  await expectError(t, resolveRef({ uri: `git://127.0.0.1:${garbage.port}/r.git` }, { branch: 'main' }), 'Protocol');
  await expectError(t, resolveRef({ uri: 'http://127.0.0.1:1/r.git' }, { branch: 'main' }), 'Unreachable');
  await expectError(
    t,
    cloneRef({ uri: servers.urls.http('public'), maxBytes: 200 }, newDir(), { branch: 'main' }),
    'TooLarge',
  );
});

t.test('a kept .git has HEAD at the commit and a clean status', async (t) => {
  const dir = newDir();
  const commit = await cloneRef(
    { uri: servers.urls.http('public') },
    dir,
    { branch: 'main' },
    { preserveGitFolder: true },
  );
  t.equal(commit, first);
  const status = await run('git', ['-C', dir, 'status', '--porcelain', '--branch']);
  t.equal(status.code, 0, status.stderr);
  t.equal(status.stdout.trim(), '## main', 'on main, nothing changed');
  t.equal((await run('git', ['-C', dir, 'rev-parse', 'HEAD'])).stdout.trim(), first);
  t.equal((await run('stat', ['-c', '%a', join(dir, 'deploy.sh')])).stdout.trim(), '755', 'modes are checked out');
  const plain = newDir();
  await cloneRef({ uri: servers.urls.http('public') }, plain, { commit: first });
  t.notOk((await run('test', ['-e', join(plain, '.git')])).code === 0, '.git removed by default');
});

t.test('HTTPS_PROXY is honoured and NO_PROXY bypasses it', async (t) => {
  // A CONNECT proxy on loopback that counts the tunnels it opens.
  const tunnels: string[] = [];
  const proxy = createServer((_req, res) => {
    res.writeHead(405).end();
  });
  proxy.on('connect', (req, client, head) => {
    tunnels.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    const upstream = connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => proxy.close(() => resolve())));
  const address = proxy.address();
  const proxyUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  const remote = { uri: servers.urls.https('public'), caCert: servers.https.caCert };
  t.equal((await resolveRef({ ...remote, proxyEnv: { HTTPS_PROXY: proxyUrl } }, { branch: 'main' })).commit, first);
  t.ok(tunnels.length >= 1, `tunnelled through the proxy: ${tunnels.join(', ')}`);
  const before = tunnels.length;
  t.equal(
    (await resolveRef({ ...remote, proxyEnv: { HTTPS_PROXY: proxyUrl, NO_PROXY: '127.0.0.1' } }, { branch: 'main' }))
      .commit,
    first,
  );
  t.equal(tunnels.length, before, 'NO_PROXY bypasses the proxy');
});

import { HttpAgents, resolveRef, type TransferStats } from '@git-events-runner/shared/git';
import t from 'tap';
import { startProxiedGit } from '../src/fault-proxy.js';

// Checks of a long-running controller share kept-alive HTTP(S) connections (HttpAgents): against real git
// http-backend over HTTP (behind a TCP proxy that counts connections and can cut them) and HTTPS.

const git = await startProxiedGit(t);
const fx = git.servers.fixtures;
await fx.create('app');
const head = await fx.commit('app', { 'README.md': 'hi\n' }, 'first');
const stats = (): TransferStats => ({ requests: 0, bytesSent: 0, bytesReceived: 0 });

t.test('checks sharing agents reuse one connection; without them each check connects anew', async (t) => {
  const agents = new HttpAgents();
  t.teardown(() => agents.close());
  const before = git.proxy.connections();
  const s = stats();
  for (let i = 0; i < 3; i++)
    t.equal((await resolveRef({ uri: git.viaProxy('app'), agents, stats: s }, { branch: 'main' })).commit, head);
  t.equal(git.proxy.connections() - before, 1, 'three checks, one connection at the server');
  t.equal(s.connections, 1, 'and one counted by the client');
  t.equal(s.requests, 3, 'one request per check');

  const alone = stats();
  for (let i = 0; i < 2; i++) await resolveRef({ uri: git.viaProxy('app'), stats: alone }, { branch: 'main' });
  t.equal(git.proxy.connections() - before, 3, 'without shared agents: a connection per check');
  t.equal(alone.connections, 2);
});

t.test('a kept-alive connection the server closes as it is reused: the request goes again on a new one', async (t) => {
  const agents = new HttpAgents();
  t.teardown(() => agents.close());
  const s = stats();
  await resolveRef({ uri: git.viaProxy('app'), agents, stats: s }, { branch: 'main' });
  const next = await fx.commit('app', { 'README.md': 'next\n' }, 'second');
  const before = git.proxy.connections();
  // The idle connection stays open, and is reset when the next request is written to it.
  git.proxy.resetOnNextRequest();
  t.equal((await resolveRef({ uri: git.viaProxy('app'), agents, stats: s }, { branch: 'main' })).commit, next);
  t.equal(git.proxy.connections() - before, 1, 'one new connection');
  t.equal(s.connections, 2, 'the first one and the new one');
  t.equal(s.requests, 2, 'the reset request is not counted twice: nothing reached git');

  // A fresh connection that fails is not retried: the error is the check's.
  await git.proxy.setMode('reset');
  await t.rejects(
    resolveRef({ uri: git.viaProxy('app'), agents }, { branch: 'main' }),
    { name: 'GitError', code: 'Unreachable' },
    'a reset of a new connection fails the check',
  );
  await git.proxy.setMode('pass');
});

t.test('https: one TLS connection for several checks; a different CA setting gets its own', async (t) => {
  const agents = new HttpAgents();
  t.teardown(() => agents.close());
  const s = stats();
  const remote = { uri: git.servers.urls.https('app'), caCert: git.servers.https.caCert, agents, stats: s };
  const tip = await fx.resolve('app', 'main');
  for (let i = 0; i < 3; i++) t.equal((await resolveRef(remote, { branch: 'main' })).commit, tip);
  t.equal(s.connections, 1, 'three checks, one TLS connection');
  // Trust is part of a connection: a remote that does not trust the server's CA must not ride on it.
  await t.rejects(
    resolveRef({ uri: git.servers.urls.https('app'), agents }, { branch: 'main' }),
    { name: 'GitError', code: 'Tls' },
    'without the CA the certificate is refused, even with a trusted connection open',
  );
});

import { CoreV1Api } from '@kubernetes/client-node';
import t from 'tap';
import { testCluster, testNamespace } from '../src/index.js';
import { findLeaks, httpResponses, recordHttpResponses, secretValues } from '../src/leaks.js';

// The secret-leak check that every isolatedCluster() runs at its end must be able to fail.

t.test('secret values are found wherever they appear; public material and short values are not', async (t) => {
  const cluster = testCluster();
  const ns = await testNamespace(cluster, 'leaks');
  const core = cluster.kc.makeApiClient(CoreV1Api);
  const key = [
    '-----BEGIN OPENSSH PRIVATE KEY-----',
    'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2',
    '-----END OPENSSH PRIVATE KEY-----',
  ].join('\n');
  await core.createNamespacedSecret({
    namespace: ns,
    body: {
      metadata: { name: 's' },
      stringData: {
        token: 'leak-canary-77f1',
        'ssh-privatekey': key,
        known_hosts: 'host ssh-ed25519 AAAAPUBLICKEYDATA',
        short: 'abc',
        username: 'someuser-long',
      },
    },
  });
  const values = await secretValues(cluster.kc);
  const hits = findLeaks(values, [
    { where: 'a log', text: 'auth with leak-canary-77f1 failed' },
    { where: 'an Event', text: 'key b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2 rejected' },
    { where: 'a status', text: 'host ssh-ed25519 AAAAPUBLICKEYDATA abc someuser-long' },
  ]);
  t.same(
    hits
      .filter((h) => h.secret.startsWith(`${ns}/`))
      .map((h) => `${h.secret} in ${h.where}`)
      .sort(),
    [`${ns}/s key ssh-privatekey in an Event`, `${ns}/s key token in a log`],
    'the token and a line of the private key are found; known_hosts, user names and short values are not',
  );
});

t.test('HTTP responses received through fetch are recorded for the check', async (t) => {
  const { createServer } = await import('node:http');
  const server = createServer((_req, res) => res.end('{"message":"echo leak-canary-77f1"}'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  recordHttpResponses();
  await (await fetch(`http://127.0.0.1:${port}/tasks/x`)).text();
  await new Promise((r) => setTimeout(r, 50));
  const hits = findLeaks(new Map([['leak-canary-77f1', 'ns/s key token']]), httpResponses());
  t.same(
    hits.map((h) => h.where),
    [`HTTP response of GET http://127.0.0.1:${port}/tasks/x`],
  );
});

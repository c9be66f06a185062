import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadWebhookTls, WebhookTlsError } from '@git-events-runner/controller';
import { API_VERSION } from '@git-events-runner/shared';
import t from 'tap';
import { stringify } from 'yaml';
import {
  createCertificateAuthority,
  eventually,
  isolatedCluster,
  kubectlOk,
  startControllerProcess,
} from '../src/index.js';

// The webhook server over TLS: certificates from files (and their rotation) and from a Secret.

const plane = await isolatedCluster(t);
const { core } = plane;
await core.createNamespace({ body: { metadata: { name: 'tls' } } });
const obj = (kind: string, name: string, spec: unknown) =>
  stringify({ apiVersion: API_VERSION, kind, metadata: { name, namespace: 'tls' }, spec });
await kubectlOk(
  plane.binDir,
  plane.kubeconfig,
  ['apply', '-f', '-'],
  [
    obj('GitRepo', 'src', { repoUri: 'git://127.0.0.1:1/none.git' }),
    obj('Action', 'act', {}),
    obj('WebhookTrigger', 'open', {
      sources: { names: ['src'] },
      action: { kind: 'Action', name: 'act' },
      webhook: { multiSource: false },
    }),
  ].join('---\n'),
);
const dir = await mkdtemp(join(tmpdir(), 'hook-tls-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

function post(port: number, ca: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/tls/open/src', method: 'POST', ca, timeout: 3000, agent: false },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    req.end();
  });
}

t.test('certificate from files, reloaded when the files change', async (t) => {
  const ca1 = await createCertificateAuthority('hooks CA 1');
  const pair1 = await ca1.server('127.0.0.1', ['localhost'], ['127.0.0.1']);
  const certPath = join(dir, 'tls.crt');
  const keyPath = join(dir, 'tls.key');
  await writeFile(certPath, pair1.cert);
  await writeFile(keyPath, pair1.key);
  const controller = await startControllerProcess({
    kubeconfig: plane.kubeconfig,
    namespace: 'ger-system',
    args: ['--tls-cert-path', certPath, '--tls-key-path', keyPath],
  });
  t.teardown(() => controller.stop('SIGKILL'));
  t.equal(
    await eventually(
      () => post(controller.webhooksPort, ca1.cert),
      (s) => s === 202,
    ),
    202,
    'served over TLS',
  );
  const ca2 = await createCertificateAuthority('hooks CA 2');
  const pair2 = await ca2.server('127.0.0.1', ['localhost'], ['127.0.0.1']);
  await writeFile(keyPath, pair2.key);
  await writeFile(certPath, pair2.cert);
  t.equal(
    await eventually(
      () => post(controller.webhooksPort, ca2.cert),
      (s) => s === 202,
      20_000,
    ),
    202,
    'the new certificate is served',
  );
  t.not(await post(controller.webhooksPort, ca1.cert), 202, 'the old one is gone');
});

t.test('certificate from a Secret', async (t) => {
  const ca = await createCertificateAuthority('hooks CA 3');
  const pair = await ca.server('127.0.0.1', ['localhost'], ['127.0.0.1']);
  await core.createNamespacedSecret({
    namespace: 'ger-system',
    body: {
      metadata: { name: 'hooks-tls' },
      type: 'kubernetes.io/tls',
      stringData: { 'tls.crt': pair.cert, 'tls.key': pair.key },
    },
  });
  const controller = await startControllerProcess({
    kubeconfig: plane.kubeconfig,
    namespace: 'ger-system',
    args: ['--tls-secret-name', 'hooks-tls'],
  });
  t.teardown(() => controller.stop('SIGKILL'));
  t.equal(
    await eventually(
      () => post(controller.webhooksPort, ca.cert),
      (s) => s === 202,
    ),
    202,
  );
});

t.test('an unreadable certificate is a coded error naming the file or the Secret, never its content', async (t) => {
  const missing = join(dir, 'absent.crt');
  const fromFiles = await loadWebhookTls({ source: 'files', certPath: missing, keyPath: missing }, core).catch(
    (err: unknown) => err,
  );
  t.ok(fromFiles instanceof WebhookTlsError);
  t.equal((fromFiles as WebhookTlsError).code, 'FileUnreadable');
  t.match((fromFiles as Error).message, missing);

  const noSecret = await loadWebhookTls({ source: 'secret', namespace: 'ger-system', name: 'no-such-tls' }, core).catch(
    (err: unknown) => err,
  );
  t.equal((noSecret as WebhookTlsError).code, 'SecretUnreadable');
  t.match((noSecret as Error).message, /ger-system\/no-such-tls: HTTP 404/);

  const onlyCert = 'hook-tls-cert-only-canary';
  await core.createNamespacedSecret({
    namespace: 'ger-system',
    body: { metadata: { name: 'half-tls' }, stringData: { 'tls.crt': onlyCert } },
  });
  const half = await loadWebhookTls({ source: 'secret', namespace: 'ger-system', name: 'half-tls' }, core).catch(
    (err: unknown) => err,
  );
  t.equal((half as WebhookTlsError).code, 'SecretKeyMissing');
  t.equal((half as Error).message, 'Secret ger-system/half-tls has no key tls.key');
  t.notMatch((half as Error).message, onlyCert);
});

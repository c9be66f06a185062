import { buildRemote, SourceError, WatchedSecrets } from '@git-events-runner/controller';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import t from 'tap';
import { eventually, testCluster, testNamespace } from '../src/index.js';

const cluster = testCluster();

t.test('the watched Secret cache follows rotation and deletion', async (t) => {
  const ns = await testNamespace(cluster, 'secrets');
  const core = cluster.kc.makeApiClient(CoreV1Api);
  await core.createNamespacedSecret({
    namespace: ns,
    body: { metadata: { name: 'auth' }, stringData: { token: 'one' } },
  });
  const cache = new WatchedSecrets(cluster.kc, core);
  t.teardown(() => cache.stop());
  t.equal((await cache.get(ns, 'auth'))?.token?.toString(), 'one');
  t.equal(cache.watched, 1);
  await core.replaceNamespacedSecret({
    namespace: ns,
    name: 'auth',
    body: { metadata: { name: 'auth' }, stringData: { token: 'two' } },
  });
  t.equal(
    (
      await eventually(
        () => cache.get(ns, 'auth'),
        (v) => v?.token?.toString() === 'two',
      )
    )?.token?.toString(),
    'two',
    'rotation seen',
  );
  await core.deleteNamespacedSecret({ namespace: ns, name: 'auth' });
  t.equal(
    await eventually(
      () => cache.get(ns, 'auth'),
      (v) => v === undefined,
    ),
    undefined,
    'deletion seen',
  );
  t.equal(await cache.get(ns, 'never-created'), undefined);
});

t.test('without list/watch rights the cache reads directly; without get it fails clearly', async (t) => {
  const ns = await testNamespace(cluster, 'secrets');
  const core = cluster.kc.makeApiClient(CoreV1Api);
  await core.createNamespacedSecret({
    namespace: ns,
    body: { metadata: { name: 'auth' }, stringData: { username: 'u', password: 'p4ss' } },
  });
  await core.createNamespacedSecret({
    namespace: ns,
    body: { metadata: { name: 'other' }, stringData: { username: 'u', password: 'p4ss' } },
  });
  await cluster.kubectlOk([
    '-n',
    ns,
    'create',
    'role',
    'one-secret',
    '--verb=get',
    '--resource=secrets',
    '--resource-name=auth',
  ]);
  await cluster.kubectlOk(['-n', ns, 'create', 'rolebinding', 'one-secret', '--role=one-secret', '--user=limited']);
  const kc = new KubeConfig();
  kc.loadFromFile(await cluster.mintKubeconfig('limited'));
  const limited = kc.makeApiClient(CoreV1Api);
  const cache = new WatchedSecrets(kc, limited, { backoffMs: [50, 200] });
  t.teardown(() => cache.stop());
  const data = await eventually(
    () => cache.get(ns, 'auth').catch(() => undefined),
    (v) => v !== undefined,
  );
  t.equal(data?.password?.toString(), 'p4ss', 'read directly while the watch is refused');
  const source = {
    kind: 'GitRepo' as const,
    name: 'repo',
    namespace: ns,
    spec: {
      repoUri: 'https://example.invalid/r.git',
      authConfig: { type: 'basic' as const, secretRef: { name: 'other' } },
    },
  };
  try {
    await buildRemote(source, ns, cache);
    t.fail('reading a forbidden Secret must fail');
  } catch (err: unknown) {
    t.ok(err instanceof SourceError && err.code === 'SecretForbidden', String(err));
    t.match((err as Error).message, `not allowed to read Secret ${ns}/other`);
  }
});

t.test('buildRemote: keys, namespaces and missing pieces', async (t) => {
  const ns = await testNamespace(cluster, 'secrets');
  const other = await testNamespace(cluster, 'secrets');
  const core = cluster.kc.makeApiClient(CoreV1Api);
  await core.createNamespacedSecret({
    namespace: ns,
    body: { metadata: { name: 'keys' }, stringData: { user: 'u', pass: 'p', 'ca.crt': 'CA' } },
  });
  await core.createNamespacedSecret({
    namespace: other,
    body: { metadata: { name: 'keys' }, stringData: { user: 'u2', pass: 'p2' } },
  });
  const cache = new WatchedSecrets(cluster.kc, core);
  t.teardown(() => cache.stop());
  const spec = {
    repoUri: 'https://example.invalid/r.git',
    authConfig: { type: 'basic' as const, secretRef: { name: 'keys' }, keys: { username: 'user', password: 'pass' } },
    tlsConfig: { caCert: { secretRef: { name: 'keys' } } },
  };
  const remote = await buildRemote({ kind: 'GitRepo', name: 'r', namespace: ns, spec }, ns, cache);
  t.same(remote.auth, { type: 'basic', username: 'u', password: 'p' });
  t.equal(remote.caCert, 'CA');
  const cross = await buildRemote(
    {
      kind: 'ClusterGitRepo',
      name: 'c',
      spec: {
        ...spec,
        tlsConfig: undefined,
        authConfig: { ...spec.authConfig, secretRef: { name: 'keys', namespace: other } },
      },
    },
    ns,
    cache,
  );
  t.same(cross.auth, { type: 'basic', username: 'u2', password: 'p2' }, 'a ClusterGitRepo reads the named namespace');
  const fromTrigger = await buildRemote(
    { kind: 'ClusterGitRepo', name: 'c', spec: { ...spec, tlsConfig: undefined } },
    other,
    cache,
  );
  t.same(fromTrigger.auth, { type: 'basic', username: 'u2', password: 'p2' }, "else the trigger's namespace");
  const codeOf = async (p: Promise<unknown>) =>
    p.then(
      () => 'ok',
      (e: unknown) => (e instanceof SourceError ? e.code : String(e)),
    );
  t.equal(
    await codeOf(
      buildRemote(
        {
          kind: 'GitRepo',
          name: 'r',
          namespace: ns,
          spec: { ...spec, authConfig: { ...spec.authConfig, secretRef: { name: 'keys', namespace: other } } },
        },
        ns,
        cache,
      ),
    ),
    'NamespaceNotAllowed',
  );
  t.equal(
    await codeOf(
      buildRemote(
        {
          kind: 'GitRepo',
          name: 'r',
          namespace: ns,
          spec: { ...spec, authConfig: { ...spec.authConfig, secretRef: { name: 'gone' } } },
        },
        ns,
        cache,
      ),
    ),
    'SecretNotFound',
  );
  t.equal(
    await codeOf(
      buildRemote(
        {
          kind: 'GitRepo',
          name: 'r',
          namespace: ns,
          spec: { ...spec, authConfig: { type: 'token', secretRef: { name: 'keys' } } },
        },
        ns,
        cache,
      ),
    ),
    'SecretKeyMissing',
  );
});

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_VERSION, GROUP, VERSION } from '@git-events-runner/shared';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import {
  admissionCli,
  createCertificateAuthority,
  eventually,
  mintAdmissionKubeconfig,
  run,
  startAdmissionProcess,
  testCluster,
} from '../src/index.js';

// The `git-events-admission` process on its own: command line, HTTPS, certificate rotation, real
// SubjectAccessReviews against the shared control plane (no webhook is registered there: see
// admission.test.ts for kube-apiserver calling the server).

const cluster = testCluster();
const dir = await mkdtemp(join(tmpdir(), 'admission-cli-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const cli = (args: readonly string[], env: NodeJS.ProcessEnv = {}) =>
  run(process.execPath, [admissionCli(), ...args], { env: { ...process.env, ...env } });

// The server's own credentials: exactly the RBAC of the admission contract.
const serverKubeconfig = await mintAdmissionKubeconfig(cluster, 'admission-server-test');

t.test('manifests: both configurations, for a URL or a Service, with the CA bundle', async (t) => {
  const ca = await createCertificateAuthority('manifests CA');
  await writeFile(join(dir, 'ca.crt'), ca.cert);
  const out = await cli([
    'manifests',
    '--service',
    'ger-system/git-events-admission',
    '--ca-bundle-file',
    join(dir, 'ca.crt'),
  ]);
  t.equal(out.code, 0, out.stderr);
  const docs = parseAllDocuments(out.stdout).map((d) => d.toJS() as Record<string, unknown>);
  t.match(docs, [
    { kind: 'ValidatingWebhookConfiguration', metadata: { name: 'git-events-runner-validating' } },
    { kind: 'MutatingWebhookConfiguration', metadata: { name: 'git-events-runner-mutating' } },
  ]);
  t.match(docs[0], {
    webhooks: [
      {
        clientConfig: {
          service: { namespace: 'ger-system', name: 'git-events-admission', port: 443, path: '/validate' },
          caBundle: Buffer.from(ca.cert).toString('base64'),
        },
        failurePolicy: 'Fail',
      },
    ],
  });
  // kube-apiserver accepts them as written (server-side dry run: nothing is registered).
  const dry = await cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], out.stdout);
  t.equal(dry.code, 0, dry.stderr);
  t.match(
    dry.stdout,
    /validatingwebhookconfiguration.admissionregistration.k8s.io\/git-events-runner-validating created \(server dry run\)/,
  );

  const usage = await cli(['manifests', '--url', 'http://127.0.0.1:1']);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /--url must be https:\/\//);
  const neither = await cli(['manifests']);
  t.equal(neither.code, 2);
  t.match(neither.stderr, /one of --url or --service is required/);
  const missing = await cli(['manifests', '--url', 'https://127.0.0.1:1', '--ca-bundle-file', join(dir, 'nope.pem')]);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /--ca-bundle-file .*nope\.pem: cannot read it \(ENOENT\)/);
});

t.test('serve refuses to start with a clear error: bad policy field, unreadable certificate', async (t) => {
  const ca = await createCertificateAuthority('serve CA');
  const pair = await ca.server('admission', ['localhost'], ['127.0.0.1']);
  await writeFile(join(dir, 'tls.crt'), pair.cert);
  await writeFile(join(dir, 'tls.key'), pair.key);
  const tls = ['--tls-cert-path', join(dir, 'tls.crt'), '--tls-key-path', join(dir, 'tls.key'), '--port', '0'];
  const env = { KUBECONFIG: serverKubeconfig };
  await writeFile(join(dir, 'bad.yaml'), 'minInterval: 10s\nallowClusterActions: sometimes\n');
  const bad = await cli(['serve', ...tls, '--config', join(dir, 'bad.yaml')], env);
  t.equal(bad.code, 1);
  t.equal(
    bad.stderr,
    `git-events-admission: policy file ${join(dir, 'bad.yaml')}: allowClusterActions: Expected boolean (got string)\n`,
  );
  await writeFile(join(dir, 'typo.yaml'), 'minIntervall: 10s\n');
  const typo = await cli(['serve', ...tls, '--config', join(dir, 'typo.yaml')], env);
  t.equal(typo.code, 1);
  t.match(typo.stderr, /minIntervall: unknown field/);
  const noCert = await cli(
    ['serve', '--tls-cert-path', join(dir, 'none.crt'), '--tls-key-path', join(dir, 'tls.key')],
    env,
  );
  t.equal(noCert.code, 1);
  t.match(noCert.stderr, /TLS certificate .*none\.crt: cannot read it \(ENOENT\)/);
  const other = await ca.server('other', ['localhost'], []);
  await writeFile(join(dir, 'other.key'), other.key);
  const mismatch = await cli(
    ['serve', '--tls-cert-path', join(dir, 'tls.crt'), '--tls-key-path', join(dir, 'other.key')],
    env,
  );
  t.equal(mismatch.code, 1);
  t.match(mismatch.stderr, /TLS certificate .* and its key cannot be used/);
  const usage = await cli(['serve', '--tls-key-path', join(dir, 'tls.key')], env);
  t.equal(usage.code, 2, 'a missing required flag is a usage error');
});

t.test('serving: health, metrics, reviews with real SubjectAccessReviews, rotation, clean stop', async (t) => {
  const server = await startAdmissionProcess(t, {
    kubeconfig: serverKubeconfig,
    args: ['--tls-reload-interval', '0.2'],
  });
  t.equal((await server.request('GET', '/healthz')).body, 'ok');

  const review = (username: string, groups: string[]) => ({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `uid-${username}`,
      kind: { group: GROUP, version: VERSION, kind: 'ClusterGitRepo' },
      resource: { group: GROUP, version: VERSION, resource: 'clustergitrepos' },
      name: 'shared',
      operation: 'CREATE',
      userInfo: { username, groups },
      object: {
        apiVersion: API_VERSION,
        kind: 'ClusterGitRepo',
        metadata: { name: 'shared' },
        spec: {
          repoUri: 'https://git.example.com/r.git',
          authConfig: { type: 'token', secretRef: { name: 'deploy-token', namespace: 'kube-system' } },
        },
      },
    },
  });
  const admin = await server.request('POST', '/validate', review('root', ['system:masters']));
  t.equal(admin.status, 200);
  t.match(JSON.parse(admin.body), { response: { uid: 'uid-root', allowed: true } });
  const nobody = JSON.parse(
    (await server.request('POST', '/validate', review('nobody', ['system:authenticated']))).body,
  );
  t.match(nobody.response, {
    uid: 'uid-nobody',
    allowed: false,
    status: {
      code: 403,
      message: /^spec\.authConfig\.secretRef: user "nobody" may not get Secret kube-system\/deploy-token/,
    },
  });
  const bad = await server.request('POST', '/mutate', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' });
  t.equal(bad.status, 400);
  t.match(bad.body, /request/);

  const metrics = (await server.request('GET', '/metrics')).body;
  t.match(metrics, /git_events_admission_subject_access_reviews_total\{result="allowed"\} 1/);
  t.match(metrics, /git_events_admission_subject_access_reviews_total\{result="denied"\} 1/);
  t.match(metrics, /git_events_admission_tls_certificate_not_after_seconds \d+/);
  t.ok(
    server
      .logs()
      .split('\n')
      .some(
        (l) => l.includes('"msg":"denied"') && l.includes('"user":"nobody"') && l.includes('"kind":"ClusterGitRepo"'),
      ),
    'the denial is logged with kind, name and user',
  );
  t.notMatch(
    server.logs(),
    /git\.example\.com|deploy-token"/,
    'the object is not logged (the denial reason names the Secret only)',
  );

  // Rotation: a new CA's certificate is served once the files change; the old CA no longer verifies.
  const ca2 = await createCertificateAuthority('rotated CA');
  const pair2 = await ca2.server('git-events-admission', ['localhost'], ['127.0.0.1']);
  await writeFile(server.keyPath, pair2.key);
  await writeFile(server.certPath, pair2.cert);
  const rotated = await eventually(
    () => server.request('GET', '/healthz', undefined, ca2.cert),
    (r) => r.status === 200,
  );
  t.equal(rotated.status, 200, 'the rotated certificate is served');
  t.equal((await server.request('GET', '/healthz')).status, 0, 'the old CA no longer verifies it');
  t.match(
    (await server.request('GET', '/metrics', undefined, ca2.cert)).body,
    /git_events_admission_tls_reloads_total\{result="ok"\} 1/,
  );

  t.equal(await server.stop('SIGTERM'), 0, 'SIGTERM stops it cleanly');
  t.match(server.logs(), /admission server stopped/);
});

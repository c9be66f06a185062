import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, AppsV1Api, RbacAuthorizationV1Api, type V1Secret } from '@kubernetes/client-node';
import t from 'tap';
import { parse, stringify } from 'yaml';
import { isolatedCluster, repoRoot, run, waitCrdsEstablished } from '../src/index.js';

// `helm install` and `helm upgrade` of the chart into a control plane of this file's own (its webhook
// configurations would otherwise refuse other files' resources): objects created and accepted by the
// API server, webhook configurations wired, generated certificates kept across upgrades.
// No kubelet runs here, so the Deployments never get Pods.

const plane = await isolatedCluster(t);
const { kc, core } = plane;
const apps = kc.makeApiClient(AppsV1Api);
const admissionApi = kc.makeApiClient(AdmissionregistrationV1Api);
const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
const chart = join(repoRoot(), 'charts', 'git-events-runner');
const work = await mkdtemp(join(tmpdir(), 'chart-install-'));
t.teardown(() => rm(work, { recursive: true, force: true }));
const env = {
  ...process.env,
  KUBECONFIG: plane.kubeconfig,
  HELM_CONFIG_HOME: join(work, 'config'),
  HELM_CACHE_HOME: join(work, 'cache'),
  HELM_DATA_HOME: join(work, 'data'),
};
const NS = 'ger-system';
const FULL = 'ger-git-events-runner';

async function helm(args: readonly string[]): Promise<string> {
  const result = await run(join(plane.binDir, 'helm'), args, { env });
  if (result.code !== 0) throw new Error(`helm ${args.join(' ')} failed:\n${result.stderr}`);
  return result.stdout;
}

let files = 0;
async function valuesFile(values: unknown): Promise<string> {
  const file = join(work, `values-${files++}.yaml`);
  await writeFile(file, stringify(values));
  return file;
}

async function tlsSecret(): Promise<V1Secret> {
  return core.readNamespacedSecret({ namespace: NS, name: `${FULL}-admission-tls` });
}

async function caBundles(full = FULL): Promise<string[]> {
  const v = await admissionApi.readValidatingWebhookConfiguration({ name: `${full}-validating` });
  const m = await admissionApi.readMutatingWebhookConfiguration({ name: `${full}-mutating` });
  // client-node hands the bytes over as the base64 text of the API.
  return [v.webhooks?.[0]?.clientConfig.caBundle ?? '', m.webhooks?.[0]?.clientConfig.caBundle ?? ''];
}

/** Every object of a release's manifest, read back from the API server (kubectl get fails on any missing one). */
async function allExist(release: string, namespace: string): Promise<string[]> {
  const manifest = await helm(['get', 'manifest', release, '-n', namespace]);
  const file = join(work, `${release}-manifest.yaml`);
  await writeFile(file, manifest);
  const out = await plane.kubectl(['get', '-f', file, '-o', 'name']);
  return out.trim().split('\n').sort();
}

t.test('install with the defaults', async (t) => {
  const out = await helm(['install', 'ger', chart, '-n', NS]);
  t.match(out, /STATUS: deployed/);
  t.match(out, /Triggers may run Jobs in: ger-system/, 'NOTES say where Jobs may run');
  const names = await allExist('ger', NS);
  t.equal(names.length, 27, 'every rendered object exists');
  t.ok(names.includes(`validatingwebhookconfiguration.admissionregistration.k8s.io/${FULL}-validating`));
  t.ok(names.includes(`clusterrole.rbac.authorization.k8s.io/${FULL}-controller-watch`));

  const deployment = await apps.readNamespacedDeployment({ namespace: NS, name: `${FULL}-controller` });
  t.equal(deployment.spec?.replicas, 2);
  const role = await rbac.readNamespacedRole({ namespace: NS, name: `${FULL}-controller` });
  t.ok(
    (role.rules ?? []).some((r) => r.resources?.includes('leases') && r.resourceNames?.includes(`${FULL}-leader-lock`)),
    'the Lease rule names the lease the controller is told to use',
  );

  // The generated certificates work together and the webhook configurations carry their CA.
  const secret = await tlsSecret();
  const pem = (k: string) => Buffer.from(secret.data?.[k] ?? '', 'base64').toString('utf8');
  const ca = new X509Certificate(pem('ca.crt'));
  const cert = new X509Certificate(pem('tls.crt'));
  t.ok(cert.verify(ca.publicKey), 'serving certificate signed by the CA');
  t.ok(cert.checkPrivateKey(createPrivateKey(pem('tls.key'))), 'key matches');
  t.equal(cert.checkHost(`${FULL}-admission.${NS}.svc`), `${FULL}-admission.${NS}.svc`);
  t.same(await caBundles(), [secret.data?.['ca.crt'], secret.data?.['ca.crt']], 'both configurations trust the CA');
});

t.test('the webhook configurations are live: the API server calls the admission Service', async (t) => {
  // No admission Pod can run here, so with failurePolicy Fail a create is refused, naming the webhook.
  const result = await run(join(plane.binDir, 'kubectl'), [`--kubeconfig=${plane.kubeconfig}`, 'apply', '-f', '-'], {
    input: stringify({
      apiVersion: 'git-events-runner.rs/v1alpha1',
      kind: 'GitRepo',
      metadata: { name: 'probe', namespace: NS },
      spec: { repoUri: 'https://example.com/repo.git' },
    }),
  });
  t.not(result.code, 0);
  t.match(result.stderr, /failed calling webhook "(mutate|validate)\.git-events-runner\.rs"/);
  t.match(result.stderr, new RegExp(`${FULL}-admission`), 'through the chart’s admission Service');
});

t.test('upgrade keeps the generated certificates and applies changed values', async (t) => {
  const before = await tlsSecret();
  const bundles = await caBundles();
  const values = await valuesFile({ controller: { replicas: 3 }, runtimeConfig: { action: { maxRunningJobs: 4 } } });
  const out = await helm(['upgrade', 'ger', chart, '-n', NS, '-f', values]);
  t.match(out, /REVISION: 2/);
  const after = await tlsSecret();
  t.same(after.data, before.data, 'same CA, certificate and key');
  t.same(await caBundles(), bundles, 'same CA bundle');
  t.equal((await apps.readNamespacedDeployment({ namespace: NS, name: `${FULL}-controller` })).spec?.replicas, 3);
  const cm = await core.readNamespacedConfigMap({ namespace: NS, name: `${FULL}-config` });
  t.equal((parse(cm.data?.runtimeConfig ?? '') as { action: { maxRunningJobs: number } }).action.maxRunningJobs, 4);

  // A deleted Secret is generated anew on the next upgrade, and the bundles follow it.
  await core.deleteNamespacedSecret({ namespace: NS, name: `${FULL}-admission-tls` });
  await helm(['upgrade', 'ger', chart, '-n', NS, '-f', values]);
  const renewed = await tlsSecret();
  t.not(renewed.data?.['ca.crt'], before.data?.['ca.crt'], 'a new CA');
  t.same(await caBundles(), [renewed.data?.['ca.crt'], renewed.data?.['ca.crt']], 'bundles carry the new CA');
});

const stubCrd = (group: string, kind: string, version: string) =>
  stringify({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${kind.toLowerCase()}s.${group}` },
    spec: {
      group,
      scope: 'Namespaced',
      names: { kind, plural: `${kind.toLowerCase()}s`, singular: kind.toLowerCase(), listKind: `${kind}List` },
      versions: [
        {
          name: version,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        },
      ],
    },
  });

t.test('a second release with every optional feature on', async (t) => {
  // Stand-ins for the prometheus-operator and cert-manager CRDs, which this control plane lacks.
  await plane.kubectl(
    ['apply', '-f', '-'],
    [
      stubCrd('monitoring.coreos.com', 'ServiceMonitor', 'v1'),
      stubCrd('cert-manager.io', 'Certificate', 'v1'),
      stubCrd('cert-manager.io', 'Issuer', 'v1'),
    ].join('---\n'),
  );
  await waitCrdsEstablished(plane.binDir, plane.kubeconfig);
  for (const ns of ['ger-full', 'team-a', 'team-b', 'team-c', 'shared-secrets']) {
    await core.createNamespace({ body: { metadata: { name: ns } } });
  }
  const values = await valuesFile({
    fullnameOverride: 'full',
    controllerOptions: {
      otlp: { enabled: true, endpoint: 'http://otel:4318' },
      webhooksRateLimits: { global: '10/1' },
    },
    rbac: { triggerNamespaces: ['team-a', 'team-b'], secretNamespaces: ['shared-secrets'] },
    actionJobs: { namespaces: ['team-c'] },
    webhooks: {
      tls: { enabled: true, secretName: 'hooks-tls' },
      ingress: { enabled: true, className: 'nginx', tls: [{ hosts: ['hooks.example.com'], secretName: 'x' }] },
    },
    metrics: { serviceMonitor: { enabled: true } },
    admission: { config: { minInterval: '30s' }, failurePolicy: 'Ignore' },
    certManager: { enabled: true },
    networkPolicy: { enabled: true, egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0' } }] }] },
  });
  await helm(['install', 'full', chart, '-n', 'ger-full', '-f', values]);
  const names = await allExist('full', 'ger-full');
  for (const expected of [
    'ingress.networking.k8s.io/full-webhooks',
    'servicemonitor.monitoring.coreos.com/full-controller',
    'servicemonitor.monitoring.coreos.com/full-admission',
    'networkpolicy.networking.k8s.io/full-controller',
    'networkpolicy.networking.k8s.io/full-admission',
    'certificate.cert-manager.io/full-admission',
    'issuer.cert-manager.io/full-ca',
    'configmap/full-admission',
  ]) {
    t.ok(names.includes(expected), `${expected} created`);
  }
  for (const ns of ['team-a', 'team-b']) {
    const binding = await rbac.readNamespacedRoleBinding({ namespace: ns, name: 'full-controller-triggers' });
    t.equal(binding.subjects?.[0]?.namespace, 'ger-full', `controller rights in ${ns}`);
  }
  await rbac.readNamespacedRoleBinding({ namespace: 'shared-secrets', name: 'full-controller-secrets' });
  t.equal(
    (await core.readNamespacedServiceAccount({ namespace: 'team-c', name: 'full-action-job' })).metadata?.name,
    'full-action-job',
  );
  const v = await admissionApi.readValidatingWebhookConfiguration({ name: 'full-validating' });
  t.equal(v.metadata?.annotations?.['cert-manager.io/inject-ca-from'], 'ger-full/full-admission');
  t.equal(v.webhooks?.[0]?.failurePolicy, 'Ignore');

  await helm(['uninstall', 'full', '-n', 'ger-full']);
  const left = await run(join(plane.binDir, 'kubectl'), [
    `--kubeconfig=${plane.kubeconfig}`,
    'get',
    'clusterroles,clusterrolebindings,validatingwebhookconfigurations,mutatingwebhookconfigurations',
    '-o',
    'name',
  ]);
  t.notMatch(left.stdout, /\/full-/, 'uninstall removes the cluster-scoped objects');
  t.match(left.stdout, new RegExp(`/${FULL}-`), 'and only those of its release');
});

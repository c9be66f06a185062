import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1ConfigMap,
  V1Container,
  V1Deployment,
  V1Ingress,
  V1NetworkPolicy,
  V1PodDisruptionBudget,
  V1PodSpec,
  V1PolicyRule,
  V1Role,
  V1RoleBinding,
  V1Secret,
  V1Service,
  V1ValidatingWebhookConfiguration,
} from '@kubernetes/client-node';
import t, { type Test } from 'tap';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { repoRoot, run, testCluster } from '../src/index.js';

// The Helm chart rendered with the helm built here: lint, the objects of the default and of the
// everything-on configuration, values that must be refused. Nothing is installed (chart-install and
// chart-rbac do that).

const { binDir } = testCluster();
const chart = join(repoRoot(), 'charts', 'git-events-runner');
const cli = join(repoRoot(), 'controller', 'dist', 'src', 'cli.js');
const admissionCli = join(repoRoot(), 'admission', 'dist', 'src', 'cli.js');
const work = await mkdtemp(join(tmpdir(), 'chart-'));
t.teardown(() => rm(work, { recursive: true, force: true }));
const helmEnv = {
  ...process.env,
  HELM_CONFIG_HOME: join(work, 'config'),
  HELM_CACHE_HOME: join(work, 'cache'),
  HELM_DATA_HOME: join(work, 'data'),
};
const RELEASE = 'ger';
const NS = 'ger-system';
const FULL = 'ger-git-events-runner';

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
};

function helm(args: readonly string[]) {
  return run(join(binDir, 'helm'), args, { env: helmEnv });
}

let valueFiles = 0;
async function template(values: unknown = {}, extra: readonly string[] = []) {
  const file = join(work, `values-${valueFiles++}.yaml`);
  await writeFile(file, stringify(values));
  return helm(['template', RELEASE, chart, '-n', NS, '--kube-version', '1.35.4', '-f', file, ...extra]);
}

async function render(values: unknown = {}): Promise<Obj[]> {
  const result = await template(values);
  if (result.code !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  return parseAllDocuments(result.stdout)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
}

function find<T>(objs: Obj[], kind: string, name: string, namespace?: string): T {
  const o = objs.find(
    (x) =>
      x.kind === kind && x.metadata.name === name && (namespace === undefined || x.metadata.namespace === namespace),
  );
  if (o === undefined) throw new Error(`${kind} ${namespace ?? ''}/${name} not rendered`);
  return o as unknown as T;
}

const ids = (objs: Obj[]) =>
  objs
    .map((o) => `${o.kind} ${o.metadata.namespace === undefined ? '' : `${o.metadata.namespace}/`}${o.metadata.name}`)
    .sort();

/** Rules as comparable strings: "group|resource|verb[|name]", one per combination. */
function flatRules(rules: readonly V1PolicyRule[] | undefined): string[] {
  const out: string[] = [];
  for (const r of rules ?? [])
    for (const g of r.apiGroups ?? [])
      for (const res of r.resources ?? [])
        for (const v of r.verbs)
          if (r.resourceNames === undefined) out.push(`${g}|${res}|${v}`);
          else for (const n of r.resourceNames) out.push(`${g}|${res}|${v}|${n}`);
  return out.sort();
}

const SIX = ['gitrepos', 'clustergitrepos', 'scheduletriggers', 'webhooktriggers', 'actions', 'clusteractions'];
const G = 'git-events-runner.rs';

/**
 * The controller's rights, derived from the API calls in controller/src (see docs/helm.md):
 * - runtime/world.ts: list+watch of the six kinds and of Jobs (label-selected) in all namespaces;
 * - runtime/check.ts, queue.ts, scheduler.ts, sources/secrets.ts: per trigger namespace;
 * - runtime/world.ts (ConfigMap) and runtime/leader.ts (Lease): the release namespace, by name.
 */
const CONTROLLER_WATCH = [
  ...SIX.flatMap((r) => [`${G}|${r}|list`, `${G}|${r}|watch`]),
  'batch|jobs|list',
  'batch|jobs|watch',
].sort();
const CONTROLLER_TRIGGERS = [
  `${G}|scheduletriggers|get`,
  `${G}|webhooktriggers|get`,
  `${G}|scheduletriggers|patch`,
  `${G}|scheduletriggers/status|update`,
  `${G}|webhooktriggers/status|update`,
  'batch|jobs|create',
  'batch|jobs|patch',
  'batch|jobs|delete',
  'events.k8s.io|events|create',
  '|secrets|get',
  '|secrets|list',
  '|secrets|watch',
].sort();
const CONTROLLER_OWN = [
  `|configmaps|list|${FULL}-config`,
  `|configmaps|watch|${FULL}-config`,
  // The webhook journal (webhooks/journal-store.ts).
  `|configmaps|get|${FULL}-config-journal`,
  `|configmaps|patch|${FULL}-config-journal`,
  '|configmaps|create',
  `coordination.k8s.io|leases|get|${FULL}-leader-lock`,
  `coordination.k8s.io|leases|update|${FULL}-leader-lock`,
  'coordination.k8s.io|leases|create',
].sort();
const ADMISSION = [
  'authorization.k8s.io|subjectaccessreviews|create',
  // admission/src/cluster.ts reads each referenced object once (getNamespacedCustomObject /
  // getClusterCustomObject): no list, no watch.
  ...SIX.map((r) => `${G}|${r}|get`),
].sort();
const ACTION_JOB = [`${G}|gitrepos|get`, '|secrets|get'].sort();

function podSpecs(objs: Obj[]): [string, V1PodSpec][] {
  return objs
    .filter((o) => o.kind === 'Deployment')
    .map((o) => [o.metadata.name, (o as unknown as V1Deployment).spec?.template.spec as V1PodSpec]);
}

function checkRestricted(t: Test, name: string, pod: V1PodSpec): void {
  const psc = pod.securityContext ?? {};
  t.equal(psc.runAsNonRoot, true, `${name}: pod runAsNonRoot`);
  t.equal(psc.seccompProfile?.type, 'RuntimeDefault', `${name}: pod seccomp RuntimeDefault`);
  t.not(psc.runAsUser, 0, `${name}: not uid 0`);
  for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
    const sc = c.securityContext ?? {};
    t.equal(sc.allowPrivilegeEscalation, false, `${name}/${c.name}: no privilege escalation`);
    t.equal(sc.readOnlyRootFilesystem, true, `${name}/${c.name}: read-only root file system`);
    t.equal(sc.runAsNonRoot, true, `${name}/${c.name}: runAsNonRoot`);
    t.same(sc.capabilities?.drop, ['ALL'], `${name}/${c.name}: drops ALL capabilities`);
    t.notOk(sc.capabilities?.add, `${name}/${c.name}: adds none`);
    t.notOk(sc.privileged, `${name}/${c.name}: not privileged`);
    t.ok(c.resources?.requests?.cpu && c.resources?.requests?.memory, `${name}/${c.name}: requests`);
    t.ok(c.resources?.limits?.memory, `${name}/${c.name}: memory limit`);
    t.ok(c.livenessProbe && c.readinessProbe, `${name}/${c.name}: probes`);
  }
  t.notOk(pod.hostNetwork || pod.hostPID || pod.hostIPC, `${name}: no host namespaces`);
  t.notOk(
    (pod.volumes ?? []).some((v) => v.hostPath !== undefined),
    `${name}: no hostPath volumes`,
  );
}

const containerOf = (d: V1Deployment): V1Container => d.spec?.template.spec?.containers[0] as V1Container;
const flag = (args: readonly string[] | undefined, name: string) =>
  args?.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);

// Every optional feature on at once.
const FULL_VALUES = {
  controller: { replicas: 3 },
  controllerOptions: {
    jsonLogs: false,
    otlp: { enabled: true, endpoint: 'http://otel-collector.monitoring:4318' },
    webhooksRateLimits: { global: '100/1', trigger: '10/1', source: '5/1' },
  },
  runtimeConfig: { action: { maxRunningJobs: 4, defaultServiceAccount: 'deployer' } },
  rbac: { triggerNamespaces: ['team-a', 'team-b'], secretNamespaces: ['shared-secrets', 'team-a'] },
  actionJobs: { namespaces: ['team-c'] },
  webhooks: {
    tls: { enabled: true, secretName: 'hooks-tls' },
    ingress: {
      enabled: true,
      className: 'nginx',
      annotations: { 'nginx.ingress.kubernetes.io/proxy-body-size': '1m' },
      hosts: [{ host: 'hooks.example.com', paths: [{ path: '/', pathType: 'Prefix' }] }],
      tls: [{ hosts: ['hooks.example.com'], secretName: 'hooks-ingress-tls' }],
    },
  },
  metrics: { serviceMonitor: { enabled: true, labels: { release: 'prometheus' } } },
  admission: { config: { minInterval: '30s', allowClusterActions: false } },
  certManager: { enabled: true },
  networkPolicy: {
    enabled: true,
    webhooksFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }],
    egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0' } }] }],
  },
};

t.test('helm lint is clean, with the default values and with every feature on', async (t) => {
  await writeFile(join(work, 'full.yaml'), stringify(FULL_VALUES));
  for (const extra of [[], ['-f', join(work, 'full.yaml')]]) {
    const result = await helm(['lint', '--strict', chart, '--kube-version', '1.35.4', ...extra]);
    t.equal(result.code, 0, result.stdout + result.stderr);
    t.match(result.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    t.notMatch(result.stdout, /\[(WARNING|ERROR)\]/, 'no warnings');
  }
});

t.test('the helm built here is stamped like a release: no --kube-version needed', async (t) => {
  const version = await helm(['version', '--template', '{{.Version}}']);
  const pinned = /^HELM_VERSION=(\S+)$/m.exec(await readFile(join(repoRoot(), 'e2e', 'tools', 'versions.env'), 'utf8'));
  t.equal(version.stdout, pinned?.[1], 'reports the version it was built from');
  // The default Kubernetes version is what `template` and `lint` check the chart's kubeVersion against.
  const probe = join(work, 'probe');
  await mkdir(join(probe, 'templates'), { recursive: true });
  await writeFile(join(probe, 'Chart.yaml'), 'apiVersion: v2\nname: probe\nversion: 0.1.0\n');
  await writeFile(join(probe, 'templates', 'v.yaml'), 'kube: {{ .Capabilities.KubeVersion.Version }}\n');
  const kube = /kube: v1\.(\d+)\./.exec((await helm(['template', probe])).stdout);
  t.ok(Number(kube?.[1]) >= 32, `default Kubernetes version v1.${kube?.[1]} meets the chart's >=1.32.0-0`);
  const rendered = await helm(['template', RELEASE, chart, '-n', NS]);
  t.equal(rendered.code, 0, rendered.stderr);
  t.match(rendered.stdout, /kind: Deployment/, 'the chart renders without --kube-version');
  const lint = await helm(['lint', '--strict', chart]);
  t.equal(lint.code, 0, lint.stdout + lint.stderr);
});

t.test('defaults: the objects, their names and wiring', async (t) => {
  const objs = await render();
  t.same(ids(objs), [
    `ClusterRole ${FULL}-action-job`,
    `ClusterRole ${FULL}-action-job-cluster`,
    `ClusterRole ${FULL}-admission`,
    `ClusterRole ${FULL}-controller-triggers`,
    `ClusterRole ${FULL}-controller-watch`,
    `ClusterRoleBinding ${FULL}-action-job-cluster`,
    `ClusterRoleBinding ${FULL}-admission`,
    `ClusterRoleBinding ${FULL}-controller-watch`,
    `ConfigMap ${NS}/${FULL}-admission`,
    `ConfigMap ${NS}/${FULL}-config`,
    `Deployment ${NS}/${FULL}-admission`,
    `Deployment ${NS}/${FULL}-controller`,
    `MutatingWebhookConfiguration ${FULL}-mutating`,
    `PodDisruptionBudget ${NS}/${FULL}-admission`,
    `PodDisruptionBudget ${NS}/${FULL}-controller`,
    `Role ${NS}/${FULL}-controller`,
    `RoleBinding ${NS}/${FULL}-action-job`,
    `RoleBinding ${NS}/${FULL}-controller`,
    `RoleBinding ${NS}/${FULL}-controller-triggers`,
    `Secret ${NS}/${FULL}-admission-tls`,
    `Service ${NS}/${FULL}-admission`,
    `Service ${NS}/${FULL}-metrics`,
    `Service ${NS}/${FULL}-webhooks`,
    `ServiceAccount ${NS}/${FULL}-action-job`,
    `ServiceAccount ${NS}/${FULL}-admission`,
    `ServiceAccount ${NS}/${FULL}-controller`,
    `ValidatingWebhookConfiguration ${FULL}-validating`,
  ]);
  for (const o of objs) {
    t.equal(o.metadata.labels?.['app.kubernetes.io/instance'], RELEASE, `${o.kind} ${o.metadata.name} labelled`);
  }

  const controller = find<V1Deployment>(objs, 'Deployment', `${FULL}-controller`);
  t.equal(controller.spec?.replicas, 2, 'two controller replicas');
  const c = containerOf(controller);
  t.equal(c.image, 'ghcr.io/git-events-runner/git-events-runner:v0.1.0');
  t.equal(c.args?.[0], 'run');
  t.equal(flag(c.args, '--config-map-name'), `${FULL}-config`);
  t.equal(flag(c.args, '--leader-lease-name'), `${FULL}-leader-lock`);
  t.equal(flag(c.args, '--leader-lease-duration'), '30');
  t.equal(flag(c.args, '--leader-lease-grace'), '5');
  t.equal(flag(c.args, '--webhooks-port'), '8080');
  t.equal(flag(c.args, '--utility-port'), '3000');
  t.equal(flag(c.args, '--log-format'), 'json');
  t.equal(flag(c.args, '--source-clone-folder'), '/tmp/git-events-runner');
  t.equal(
    c.env?.find((e) => e.name === 'POD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath,
    'metadata.namespace',
    'the controller learns its namespace from the downward API',
  );
  t.match(
    c.env?.find((e) => e.name === 'NODE_OPTIONS')?.value,
    /--max-old-space-size=\d+/,
    'V8 heap limits sized for the container (the bench measures with the same)',
  );
  t.equal(
    c.env?.find((e) => e.name === 'MALLOC_ARENA_MAX')?.value,
    '2',
    'few glibc malloc arenas: native memory does not creep with the threads (the soak runs with the same)',
  );
  t.same(
    c.ports?.map((p) => [p.name, p.containerPort]),
    [
      ['webhooks', 8080],
      ['utility', 3000],
    ],
  );
  t.same(c.livenessProbe?.httpGet, { path: '/alive', port: 'utility' });
  t.same(c.readinessProbe?.httpGet, { path: '/ready', port: 'utility' });
  t.ok(
    c.volumeMounts?.some((m) => m.mountPath === '/tmp'),
    'a writable /tmp for the git caches on a read-only root file system',
  );
  t.equal(controller.spec?.template.spec?.serviceAccountName, `${FULL}-controller`);

  const hooks = find<V1Service>(objs, 'Service', `${FULL}-webhooks`);
  t.same(hooks.spec?.ports, [{ name: 'webhooks', port: 80, targetPort: 'webhooks', protocol: 'TCP' }]);
  t.equal(hooks.spec?.sessionAffinity, 'ClientIP', 'a client stays on the replica that knows its tasks');
  t.same(hooks.spec?.selector, controller.spec?.selector.matchLabels, 'webhook Service selects the controller');
  const metrics = find<V1Service>(objs, 'Service', `${FULL}-metrics`);
  t.same(metrics.spec?.ports, [{ name: 'metrics', port: 3000, targetPort: 'utility', protocol: 'TCP' }]);

  for (const name of ['controller', 'admission']) {
    const pdb = find<V1PodDisruptionBudget>(objs, 'PodDisruptionBudget', `${FULL}-${name}`);
    const deployment = find<V1Deployment>(objs, 'Deployment', `${FULL}-${name}`);
    t.equal(pdb.spec?.minAvailable, 1, `${name}: one Pod stays during voluntary disruptions`);
    t.same(pdb.spec?.selector?.matchLabels, deployment.spec?.selector.matchLabels);
    const spread = deployment.spec?.template.spec?.topologySpreadConstraints?.[0];
    t.equal(spread?.topologyKey, 'kubernetes.io/hostname', `${name}: replicas spread over nodes`);
    t.equal(spread?.whenUnsatisfiable, 'ScheduleAnyway', `${name}: softly`);
    t.same(spread?.labelSelector?.matchLabels, deployment.spec?.selector.matchLabels);
  }

  const admission = find<V1Deployment>(objs, 'Deployment', `${FULL}-admission`);
  t.equal(admission.spec?.replicas, 2);
  const a = containerOf(admission);
  t.equal(a.image, 'ghcr.io/git-events-runner/git-events-admission:v0.1.0');
  t.same(a.args?.slice(0, 4), [
    'serve',
    '--port=8443',
    '--tls-cert-path=/etc/git-events-admission/tls/tls.crt',
    '--tls-key-path=/etc/git-events-admission/tls/tls.key',
  ]);
  t.ok(a.args?.includes('--config=/etc/git-events-admission/config/policy.yaml'), 'the policy file');
  t.same(
    parse(find<V1ConfigMap>(objs, 'ConfigMap', `${FULL}-admission`).data?.['policy.yaml'] ?? ''),
    { webhookAuthHeader: 'x-trigger-auth' },
    'the header the mutating webhook writes is the controller’s default header',
  );
  t.same(a.readinessProbe?.httpGet, { path: '/healthz', port: 'https', scheme: 'HTTPS' });
  t.equal(
    admission.spec?.template.spec?.volumes?.find((v) => v.name === 'tls')?.secret?.secretName,
    `${FULL}-admission-tls`,
  );
  t.notOk(
    a.volumeMounts?.some((m) => m.subPath !== undefined),
    'no subPath mounts: a renewed certificate reaches the running server',
  );
  const admissionService = find<V1Service>(objs, 'Service', `${FULL}-admission`);
  t.same(admissionService.spec?.ports, [{ name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' }]);
  t.same(admissionService.spec?.selector, admission.spec?.selector.matchLabels);

  for (const [name, pod] of podSpecs(objs)) checkRestricted(t, name, pod);
});

t.test('defaults: webhook configurations as the admission contract says, with a working CA bundle', async (t) => {
  const objs = await render();
  const secret = find<V1Secret>(objs, 'Secret', `${FULL}-admission-tls`);
  t.equal(secret.type, 'kubernetes.io/tls');
  const pem = (k: string) => Buffer.from(secret.data?.[k] ?? '', 'base64').toString('utf8');
  const ca = new X509Certificate(pem('ca.crt'));
  const cert = new X509Certificate(pem('tls.crt'));
  t.ok(ca.ca, 'ca.crt is a CA');
  t.ok(cert.verify(ca.publicKey), 'the serving certificate is signed by the CA');
  t.ok(cert.checkPrivateKey(createPrivateKey(pem('tls.key'))), 'tls.key belongs to tls.crt');
  for (const host of [`${FULL}-admission.${NS}.svc`, `${FULL}-admission.${NS}.svc.cluster.local`]) {
    t.equal(cert.checkHost(host), host, `certificate valid for ${host}`);
  }
  const days = (new Date(cert.validTo).getTime() - Date.now()) / 86_400_000;
  t.ok(days > 3600, 'valid for about ten years');

  for (const kind of ['Validating', 'Mutating'] as const) {
    const config = find<V1ValidatingWebhookConfiguration>(
      objs,
      `${kind}WebhookConfiguration`,
      `${FULL}-${kind.toLowerCase()}`,
    );
    t.equal(config.webhooks?.length, 1);
    const hook = config.webhooks?.[0];
    const path = kind === 'Validating' ? '/validate' : '/mutate';
    t.equal(hook?.name, `${kind === 'Validating' ? 'validate' : 'mutate'}.git-events-runner.rs`);
    t.same(hook?.clientConfig.service, { name: `${FULL}-admission`, namespace: NS, path, port: 443 });
    t.equal(hook?.clientConfig.caBundle, secret.data?.['ca.crt'], `${kind}: caBundle is the CA of the Secret`);
    t.equal(hook?.failurePolicy, 'Fail');
    t.equal(hook?.sideEffects, 'None');
    t.equal(hook?.timeoutSeconds, 5);
    t.same(hook?.admissionReviewVersions, ['v1']);
    t.same(hook?.rules, [
      {
        apiGroups: [G],
        apiVersions: ['v1alpha1'],
        operations: ['CREATE', 'UPDATE'],
        resources: SIX,
        scope: '*',
      },
    ]);
  }
});

t.test(
  'defaults: the webhook configurations are what `git-events-admission manifests` prints for the Service',
  { skip: existsSync(admissionCli) ? false : 'admission/dist/src/cli.js is not built yet' },
  async (t) => {
    const objs = await render();
    const secret = find<V1Secret>(objs, 'Secret', `${FULL}-admission-tls`);
    const caFile = join(work, 'ca.crt');
    await writeFile(caFile, Buffer.from(secret.data?.['ca.crt'] ?? '', 'base64'));
    const printed = await run(process.execPath, [
      admissionCli,
      'manifests',
      '--service',
      `${NS}/${FULL}-admission`,
      '--ca-bundle-file',
      caFile,
    ]);
    t.equal(printed.code, 0, printed.stderr);
    const theirs = parseAllDocuments(printed.stdout)
      .map((d) => d.toJS() as Obj | null)
      .filter((o): o is Obj => o !== null);
    for (const kind of ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']) {
      const mine = objs.find((o) => o.kind === kind);
      const reference = theirs.find((o) => o.kind === kind);
      t.ok(mine !== undefined && reference !== undefined, kind);
      t.same(mine?.webhooks, reference?.webhooks, `${kind}: same webhooks, rules, paths, policies and CA bundle`);
      t.equal(
        mine?.metadata.name.replace(FULL, 'git-events-runner'),
        reference?.metadata.name,
        `${kind}: named like the server's (the same for a release named git-events-runner)`,
      );
    }
  },
);

t.test('defaults: RBAC is exactly what the code calls', async (t) => {
  const objs = await render();
  const rules = (kind: 'ClusterRole' | 'Role', name: string) =>
    flatRules(find<V1ClusterRole | V1Role>(objs, kind, name).rules);
  t.same(rules('ClusterRole', `${FULL}-controller-watch`), CONTROLLER_WATCH);
  t.same(rules('ClusterRole', `${FULL}-controller-triggers`), CONTROLLER_TRIGGERS);
  t.same(rules('Role', `${FULL}-controller`), CONTROLLER_OWN);
  t.same(rules('ClusterRole', `${FULL}-admission`), ADMISSION);
  t.same(rules('ClusterRole', `${FULL}-action-job`), ACTION_JOB);
  t.same(rules('ClusterRole', `${FULL}-action-job-cluster`), [`${G}|clustergitrepos|get`]);
  const controllerSa = [{ kind: 'ServiceAccount', name: `${FULL}-controller`, namespace: NS }];
  t.same(find<V1ClusterRoleBinding>(objs, 'ClusterRoleBinding', `${FULL}-controller-watch`).subjects, controllerSa);
  const triggers = find<V1RoleBinding>(objs, 'RoleBinding', `${FULL}-controller-triggers`, NS);
  t.same(triggers.subjects, controllerSa);
  t.same(triggers.roleRef, {
    apiGroup: 'rbac.authorization.k8s.io',
    kind: 'ClusterRole',
    name: `${FULL}-controller-triggers`,
  });
  t.same(find<V1ClusterRoleBinding>(objs, 'ClusterRoleBinding', `${FULL}-admission`).subjects, [
    { kind: 'ServiceAccount', name: `${FULL}-admission`, namespace: NS },
  ]);
  t.same(find<V1RoleBinding>(objs, 'RoleBinding', `${FULL}-action-job`, NS).subjects, [
    { kind: 'ServiceAccount', name: `${FULL}-action-job`, namespace: NS },
  ]);
  for (const o of objs.filter((x) => x.kind === 'ClusterRole' || x.kind === 'Role')) {
    const all = flatRules((o as unknown as V1Role).rules);
    t.notOk(
      all.some((r) => r.split('|').some((part) => part === '*')),
      `${o.kind} ${o.metadata.name}: no wildcards`,
    );
    t.notOk(
      all.some((r) => /^\|secrets\|(create|update|patch|delete|deletecollection)/.test(r)),
      `${o.kind} ${o.metadata.name}: never writes Secrets`,
    );
  }
});

t.test('defaults: the runtime ConfigMap is `git-events-runner config --helm-template`, rendered', async (t) => {
  const objs = await render();
  const cm = find<V1ConfigMap>(objs, 'ConfigMap', `${FULL}-config`);
  const rendered = parse(cm.data?.runtimeConfig ?? '') as unknown;
  const template = await run(process.execPath, [cli, 'config', '--helm-template']);
  t.equal(template.code, 0, template.stderr);
  const expected = parse(
    template.stdout
      .replace('{{ include "git-events-runner.actionJobServiceAccountName" . }}', `${FULL}-action-job`)
      .replaceAll('{{ .Chart.AppVersion }}', '0.1.0'),
  ) as unknown;
  t.same(rendered, expected, 'same document, same defaults');
  // Every key of the runtime configuration is a chart value, and the schema knows each of them.
  const keys = (v: unknown, prefix = ''): string[] =>
    v !== null && typeof v === 'object'
      ? Object.entries(v as Record<string, unknown>).flatMap(([k, x]) => keys(x, `${prefix}${k}.`))
      : [prefix.slice(0, -1)];
  const values = parse(await readFile(join(chart, 'values.yaml'), 'utf8')) as { runtimeConfig: unknown };
  t.same(keys(values.runtimeConfig).sort(), keys(expected).sort(), 'values.yaml runtimeConfig has every key');
  const schema = JSON.parse(await readFile(join(chart, 'values.schema.json'), 'utf8')) as {
    properties: { runtimeConfig: unknown };
  };
  const schemaKeys = (s: unknown, prefix = ''): string[] => {
    const props = (s as { properties?: Record<string, unknown> }).properties;
    return props === undefined
      ? [prefix.slice(0, -1)]
      : Object.entries(props).flatMap(([k, x]) => schemaKeys(x, `${prefix}${k}.`));
  };
  t.same(schemaKeys(schema.properties.runtimeConfig).sort(), keys(expected).sort(), 'values.schema.json too');
});

t.test('every optional feature on', async (t) => {
  const objs = await render(FULL_VALUES);
  const controller = find<V1Deployment>(objs, 'Deployment', `${FULL}-controller`);
  const c = containerOf(controller);
  t.equal(controller.spec?.replicas, 3);
  t.equal(flag(c.args, '--log-format'), 'text', 'jsonLogs: false is the text format');
  t.equal(flag(c.args, '--hooks-rrl-global'), '100/1');
  t.equal(flag(c.args, '--hooks-rrl-trigger'), '10/1');
  t.equal(flag(c.args, '--hooks-rrl-source'), '5/1');
  t.equal(c.env?.find((e) => e.name === 'OTEL_EXPORTER_OTLP_ENDPOINT')?.value, 'http://otel-collector.monitoring:4318');
  t.equal(flag(c.args, '--tls-cert-path'), '/etc/git-events-runner/webhooks-tls/tls.crt');
  t.equal(
    controller.spec?.template.spec?.volumes?.find((v) => v.name === 'webhooks-tls')?.secret?.secretName,
    'hooks-tls',
  );

  const runtime = parse(find<V1ConfigMap>(objs, 'ConfigMap', `${FULL}-config`).data?.runtimeConfig ?? '') as {
    action: { maxRunningJobs: number; defaultServiceAccount: string; jobWaitingTimeoutSeconds: number };
  };
  t.equal(runtime.action.maxRunningJobs, 4);
  t.equal(runtime.action.defaultServiceAccount, 'deployer', 'a service account of the user wins');
  t.equal(runtime.action.jobWaitingTimeoutSeconds, 300, 'other fields keep their defaults');

  const ingress = find<V1Ingress>(objs, 'Ingress', `${FULL}-webhooks`);
  t.equal(ingress.spec?.ingressClassName, 'nginx');
  t.same(ingress.spec?.rules?.[0]?.http?.paths[0]?.backend.service, {
    name: `${FULL}-webhooks`,
    port: { name: 'webhooks' },
  });
  t.same(ingress.spec?.tls, [{ hosts: ['hooks.example.com'], secretName: 'hooks-ingress-tls' }]);

  // ServiceMonitors select the metrics Services and ports that exist.
  type Monitor = Obj & {
    spec: {
      selector: { matchLabels: Record<string, string> };
      endpoints: {
        port: string;
        scheme?: string;
        tlsConfig?: { serverName: string; ca: { secret: { name: string; key: string } } };
      }[];
    };
  };
  for (const [monitor, service] of [
    [`${FULL}-controller`, `${FULL}-metrics`],
    [`${FULL}-admission`, `${FULL}-admission`],
  ] as const) {
    const sm = find<Monitor>(objs, 'ServiceMonitor', monitor);
    const svc = find<V1Service>(objs, 'Service', service);
    t.equal(sm.metadata.labels?.release, 'prometheus');
    const selected = objs.filter(
      (o) =>
        o.kind === 'Service' &&
        Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => o.metadata.labels?.[k] === v),
    );
    t.same(
      selected.map((o) => o.metadata.name),
      [service],
      `ServiceMonitor ${monitor} selects exactly ${service}`,
    );
    t.ok(
      svc.spec?.ports?.some((p) => p.name === sm.spec.endpoints[0]?.port),
      `${monitor} scrapes a port of ${service}`,
    );
  }
  const admissionMonitor = find<Monitor>(objs, 'ServiceMonitor', `${FULL}-admission`).spec.endpoints[0];
  t.equal(admissionMonitor?.scheme, 'https');
  t.same(admissionMonitor?.tlsConfig, {
    serverName: `${FULL}-admission.${NS}.svc`,
    ca: { secret: { name: `${FULL}-admission-tls`, key: 'ca.crt' } },
  });

  // cert-manager instead of generated certificates.
  t.notOk(
    objs.some((o) => o.kind === 'Secret'),
    'no generated Secret',
  );
  type Certificate = Obj & { spec: { secretName: string; dnsNames: string[]; issuerRef: { name: string } } };
  const certificate = find<Certificate>(objs, 'Certificate', `${FULL}-admission`);
  t.equal(certificate.spec.secretName, `${FULL}-admission-tls`, 'cert-manager writes the Secret the server mounts');
  t.ok(certificate.spec.dnsNames.includes(`${FULL}-admission.${NS}.svc`));
  t.equal(certificate.spec.issuerRef.name, `${FULL}-ca`);
  find<Obj>(objs, 'Issuer', `${FULL}-ca`);
  find<Obj>(objs, 'Issuer', `${FULL}-selfsigned`);
  find<Obj>(objs, 'Certificate', `${FULL}-admission-ca`);
  for (const kind of ['Validating', 'Mutating']) {
    const config = find<V1ValidatingWebhookConfiguration>(
      objs,
      `${kind}WebhookConfiguration`,
      `${FULL}-${kind.toLowerCase()}`,
    );
    t.equal(config.metadata?.annotations?.['cert-manager.io/inject-ca-from'], `${NS}/${FULL}-admission`);
    t.notOk(config.webhooks?.[0]?.clientConfig.caBundle, `${kind}: the CA injector fills caBundle`);
  }

  // The admission policy file.
  const admission = containerOf(find<V1Deployment>(objs, 'Deployment', `${FULL}-admission`));
  t.ok(admission.args?.includes('--config=/etc/git-events-admission/config/policy.yaml'));
  t.same(parse(find<V1ConfigMap>(objs, 'ConfigMap', `${FULL}-admission`).data?.['policy.yaml'] ?? ''), {
    minInterval: '30s',
    allowClusterActions: false,
    webhookAuthHeader: 'x-trigger-auth',
  });
  const header = await render({
    runtimeConfig: { trigger: { webhook: { defaultAuthHeader: 'x-hook-token' } } },
    admission: { config: {} },
  });
  t.match(
    find<V1ConfigMap>(header, 'ConfigMap', `${FULL}-admission`).data?.['policy.yaml'],
    'webhookAuthHeader: x-hook-token',
    'the policy follows a changed runtime default header',
  );
  const own = await render({ admission: { config: { webhookAuthHeader: 'x-own' } } });
  t.match(find<V1ConfigMap>(own, 'ConfigMap', `${FULL}-admission`).data?.['policy.yaml'], 'webhookAuthHeader: x-own');

  // NetworkPolicies select the Pods and name their ports.
  for (const name of ['controller', 'admission']) {
    const policy = find<V1NetworkPolicy>(objs, 'NetworkPolicy', `${FULL}-${name}`);
    const deployment = find<V1Deployment>(objs, 'Deployment', `${FULL}-${name}`);
    t.same(policy.spec?.podSelector?.matchLabels, deployment.spec?.selector.matchLabels);
    const ports = new Set(containerOf(deployment).ports?.map((p) => p.name));
    for (const rule of policy.spec?.ingress ?? [])
      for (const p of rule.ports ?? []) t.ok(ports.has(String(p.port)), `${name}: port ${p.port} exists`);
  }
  const controllerPolicy = find<V1NetworkPolicy>(objs, 'NetworkPolicy', `${FULL}-controller`);
  t.same(controllerPolicy.spec?.policyTypes, ['Ingress', 'Egress']);
  t.same(
    (controllerPolicy.spec?.ingress?.[0] as { from?: unknown } | undefined)?.from,
    FULL_VALUES.networkPolicy.webhooksFrom,
  );
  t.equal(controllerPolicy.spec?.egress?.length, 2, 'DNS and the given rule');

  // Namespaces: the controller's rights in each trigger namespace, Secrets in the others.
  const bindings = (name: string) =>
    objs
      .filter((o) => o.kind === 'RoleBinding' && o.metadata.name === name)
      .map((o) => o.metadata.namespace)
      .sort();
  t.same(bindings(`${FULL}-controller-triggers`), [NS, 'team-a', 'team-b']);
  t.same(bindings(`${FULL}-controller-secrets`), ['shared-secrets'], 'team-a already has them');
  t.same(flatRules(find<V1ClusterRole>(objs, 'ClusterRole', `${FULL}-controller-secrets`).rules), [
    '|secrets|get',
    '|secrets|list',
    '|secrets|watch',
  ]);
  t.same(bindings(`${FULL}-action-job`), [NS, 'team-a', 'team-b', 'team-c']);
  t.same(
    objs
      .filter((o) => o.kind === 'ServiceAccount' && o.metadata.name === `${FULL}-action-job`)
      .map((o) => o.metadata.namespace)
      .sort(),
    [NS, 'team-a', 'team-b', 'team-c'],
  );
  t.same(bindings(`${FULL}-action-job-secrets`), ['shared-secrets']);
  t.same(
    find<V1ClusterRoleBinding>(objs, 'ClusterRoleBinding', `${FULL}-action-job-cluster`).subjects?.map(
      (s) => s.namespace,
    ),
    [NS, 'team-a', 'team-b', 'team-c'],
  );
  for (const [name, pod] of podSpecs(objs)) checkRestricted(t, name, pod);
});

t.test('rbac.triggerNamespaces ["*"]: one ClusterRoleBinding instead of RoleBindings', async (t) => {
  const objs = await render({ rbac: { triggerNamespaces: ['*'], secretNamespaces: ['shared'] } });
  const binding = find<V1ClusterRoleBinding>(objs, 'ClusterRoleBinding', `${FULL}-controller-triggers`);
  t.equal(binding.roleRef.name, `${FULL}-controller-triggers`);
  t.notOk(objs.some((o) => o.kind === 'RoleBinding' && o.metadata.name === `${FULL}-controller-triggers`));
  t.notOk(
    objs.some((o) => o.metadata.name === `${FULL}-controller-secrets`),
    'Secrets are readable everywhere already',
  );
  t.same(
    objs
      .filter((o) => o.kind === 'ServiceAccount' && o.metadata.name === `${FULL}-action-job`)
      .map((o) => o.metadata.namespace),
    [NS],
    'action Job service accounts only where namespaces are named',
  );
});

t.test('a typo or a wrong value in values fails with the path of the key', async (t) => {
  const cases: [string, unknown, RegExp][] = [
    ['top-level typo', { contoller: { replicas: 1 } }, /additional properties 'contoller' not allowed/],
    ['nested typo', { controller: { replica: 3 } }, /at '\/controller': additional properties 'replica' not allowed/],
    [
      'runtimeConfig typo',
      { runtimeConfig: { action: { maxRunningJob: 3 } } },
      /at '\/runtimeConfig\/action': additional properties 'maxRunningJob' not allowed/,
    ],
    ['controllerOptions typo', { controllerOptions: { loglevel: 'debug' } }, /additional properties 'loglevel'/],
    ['log level', { controllerOptions: { logLevel: 'verbose' } }, /\/controllerOptions\/logLevel/],
    ['rate limit', { controllerOptions: { webhooksRateLimits: { global: '10' } } }, /webhooksRateLimits\/global/],
    ['parallelism range', { controllerOptions: { scheduleParallelism: 0 } }, /scheduleParallelism/],
    ['malloc arenas', { controller: { mallocArenaMax: 'two' } }, /\/controller\/mallocArenaMax/],
    ['failure policy', { admission: { failurePolicy: 'fail' } }, /\/admission\/failurePolicy/],
    ['namespace name', { rbac: { triggerNamespaces: ['Team_A'] } }, /\/rbac\/triggerNamespaces\/0/],
    ['string for a number', { runtimeConfig: { action: { maxRunningJobs: 'many' } } }, /maxRunningJobs/],
    [
      'grace not below duration',
      { controllerOptions: { leaderLease: { duration: 10, grace: 10 } } },
      /leaderLease.grace \(10\) must be less than controllerOptions.leaderLease.duration \(10\)/,
    ],
    [
      'shutdown longer than the grace period',
      { controllerOptions: { shutdownTimeoutSeconds: 60 } },
      /shutdownTimeoutSeconds \(60\) must be less than controller.terminationGracePeriodSeconds \(30\)/,
    ],
    ['TLS without a Secret', { webhooks: { tls: { enabled: true } } }, /webhooks.tls.secretName is required/],
    ['"*" with names', { rbac: { triggerNamespaces: ['*', 'a'] } }, /cannot be combined/],
    ['OTLP without endpoint', { controllerOptions: { otlp: { enabled: true } } }, /otlp.endpoint is required/],
  ];
  for (const [name, values, message] of cases) {
    const result = await template(values);
    t.not(result.code, 0, `${name}: refused`);
    t.match(result.stderr, message, `${name}: says where`);
  }
});

t.test('disabling the admission server removes its objects and webhooks', async (t) => {
  const objs = await render({ admission: { enabled: false }, metrics: { service: { enabled: false } } });
  t.notOk(objs.some((o) => /admission|WebhookConfiguration/.test(`${o.kind} ${o.metadata.name}`)));
  t.notOk(objs.some((o) => o.metadata.name === `${FULL}-metrics`));
  const one = await render({ controller: { replicas: 1, mallocArenaMax: null } });
  t.notOk(
    containerOf(find<V1Deployment>(one, 'Deployment', `${FULL}-controller`)).env?.some(
      (e) => e.name === 'MALLOC_ARENA_MAX',
    ),
    'mallocArenaMax null leaves glibc its default',
  );
  t.notOk(
    one.some((o) => o.kind === 'PodDisruptionBudget' && o.metadata.name === `${FULL}-controller`),
    'no PodDisruptionBudget for a single replica (it would block node drains)',
  );
});

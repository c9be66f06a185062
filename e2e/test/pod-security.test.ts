import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildJob, defaultRuntimeConfig, type JobRequest, parseRuntimeConfig } from '@git-events-runner/controller';
import { type ActionSpec, type ClusterActionSpec, withDefaults } from '@git-events-runner/shared';
import { ApiException, BatchV1Api, CoreV1Api, type V1Job, type V1Pod } from '@kubernetes/client-node';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { repoRoot, testCluster, testNamespace } from '../src/index.js';

// Issue 9: the Jobs the controller builds pass the "restricted" Pod Security Standard. Pod Security
// admission enforces on Pods only (there is no kubelet or Job controller here to make them), so each Job's
// pod template is created as a Pod with dryRun=All in a namespace that enforces `restricted`, and the Job
// itself is created the same way there (the namespace also warns, which is what Jobs get). A privileged Pod
// and a Pod like the original's Jobs (no security context) are refused, which shows the plugin is on.

const cluster = testCluster();
const core = cluster.kc.makeApiClient(CoreV1Api);
const batch = cluster.kc.makeApiClient(BatchV1Api);

const RESTRICTED = {
  'pod-security.kubernetes.io/enforce': 'restricted',
  'pod-security.kubernetes.io/enforce-version': 'latest',
  'pod-security.kubernetes.io/warn': 'restricted',
  'pod-security.kubernetes.io/warn-version': 'latest',
  'pod-security.kubernetes.io/audit': 'restricted',
  'pod-security.kubernetes.io/audit-version': 'latest',
};

const ns = await testNamespace(cluster, 'psa');
await core.patchNamespace({
  name: ns,
  body: [{ op: 'add', path: '/metadata/labels', value: { 'git-events-runner.rs/test': 'true', ...RESTRICTED } }],
});

const COMMIT = 'e03087d8f722a423bc13fd31542fb9545da784dd';
const config = defaultRuntimeConfig();

// The seed's Action examples, as the API server returns them (with the CRD's defaults).
const seedActions = parseAllDocuments(await readFile(join(repoRoot(), 'examples', 'seed', 'action.yaml'), 'utf8'))
  .map((d) => d.toJS() as { kind: string; metadata: { name: string }; spec: ActionSpec })
  .filter((d) => d.kind === 'Action');

function request(overrides: Partial<JobRequest> = {}): JobRequest {
  return {
    trigger: {
      kind: 'ScheduleTrigger',
      name: 'cool-trigger',
      namespace: ns,
      uid: '0b6c6a3e-8c52-4b8e-9f43-3f1f3c1a2b01',
    },
    source: { kind: 'GitRepo', name: 'cool-project-repo' },
    reference: { branch: 'main' },
    commit: COMMIT,
    action: { kind: 'Action', name: 'default-action', uid: '5f0e4c1d-2a3b-4c5d-8e9f-0a1b2c3d4e5f', spec: {} },
    config,
    runKey: COMMIT,
    suspend: true,
    controllerIdentity: 'c1d2e3f4-a5b6-4c7d-8e9f-001122334455',
    ...overrides,
  };
}

const action = (name: string, spec: ActionSpec) =>
  ({ kind: 'Action', name, uid: `uid-${name}`, spec }) as const satisfies JobRequest['action'];
const clusterAction = (name: string, spec: ClusterActionSpec) =>
  ({ kind: 'ClusterAction', name, uid: `uid-${name}`, spec }) as const satisfies JobRequest['action'];

// Every input of buildJob that changes the pod: the default, the seed, a custom service account (from the
// Action and from the runtime config), environment variables (a custom prefix, tag/commit references, an
// override adding ACTION_SOURCE_*), a ClusterAction with sourceOverride, and every actionJob field.
const variants: { name: string; req: JobRequest }[] = [
  { name: 'default Action', req: request() },
  { name: 'not suspended', req: request({ suspend: false }) },
  ...seedActions.map((a) => ({
    name: `seed Action ${a.metadata.name}`,
    req: request({ action: action(a.metadata.name, withDefaults('Action', a.spec)) }),
  })),
  {
    name: 'custom service account',
    req: request({ action: action('with-sa', { actionJob: { serviceAccount: 'deployer' } }) }),
  },
  {
    name: 'service account and env prefix from the runtime config',
    req: request({
      config: parseRuntimeConfig(
        'action:\n  defaultServiceAccount: jobs-sa\n  containers:\n    worker:\n      variablesPrefix: GER_\n',
      ),
      reference: { tag: 'v1.2.3' },
    }),
  },
  {
    name: 'webhook trigger on a commit of a ClusterGitRepo',
    req: request({
      trigger: { kind: 'WebhookTrigger', name: 'hook', namespace: ns, uid: 'f1e2d3c4-b5a6-4978-8695-a4b3c2d1e0f9' },
      source: { kind: 'ClusterGitRepo', name: 'shared-repo' },
      reference: { commit: COMMIT },
      runKey: 'delivery:72d3162e-cc78-11e3-81ab-4c9367dc0958',
    }),
  },
  {
    name: 'Action with sourceOverride (GitRepo)',
    req: request({
      action: action('override', {
        sourceOverride: { kind: 'GitRepo', name: 'charts', reference: { tag: 'v2' } },
      }),
    }),
  },
  {
    name: 'ClusterAction with sourceOverride',
    req: request({
      action: clusterAction('cluster-override', {
        sourceOverride: { kind: 'ClusterGitRepo', name: 'platform', reference: { branch: 'release' } },
        actionJob: { serviceAccount: 'platform-deployer' },
      }),
    }),
  },
  {
    name: 'every actionJob field',
    req: request({
      action: action('everything', {
        actionJob: {
          workdir: '/work/dir',
          clonerImage: 'registry.example.com/cloner:v9',
          actionImage: 'registry.example.com/deployer:v1',
          command: ['/bin/sh', '-c'],
          args: ['./deploy.sh', '--env=prod'],
          serviceAccount: 'deployer',
          annotations: { 'example.com/owner': 'team-a' },
          labels: { team: 'a' },
          tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'deploy', effect: 'NoSchedule' }],
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: ['deploy'] }] }],
              },
            },
          },
          nodeSelector: { 'kubernetes.io/os': 'linux' },
          ttlSecondsAfterFinished: 60,
          activeDeadlineSeconds: 600,
          enableClonerDebug: true,
          preserveGitFolder: true,
        },
      }),
    }),
  },
];

function podOf(job: V1Job, suffix: string): V1Pod {
  const template = job.spec?.template;
  if (template?.spec === undefined) throw new Error('the Job has no pod template');
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { ...template.metadata, name: `${job.metadata?.name ?? 'job'}-${suffix}`.slice(0, 63), namespace: ns },
    spec: template.spec,
  };
}

type Admission = { admitted: true; warnings: string } | { admitted: false; status: number; message: string };

async function admit(create: () => Promise<{ headers: Record<string, string> }>): Promise<Admission> {
  try {
    const res = await create();
    return { admitted: true, warnings: res.headers.warning ?? '' };
  } catch (err: unknown) {
    if (!(err instanceof ApiException)) throw err;
    const body = typeof err.body === 'string' ? err.body : JSON.stringify(err.body);
    const message = (() => {
      try {
        return String((JSON.parse(body) as { message?: unknown }).message ?? body);
      } catch {
        return body;
      }
    })();
    return { admitted: false, status: err.code, message };
  }
}

const dryRunPod = (pod: V1Pod) =>
  admit(() => core.createNamespacedPodWithHttpInfo({ namespace: ns, body: pod, dryRun: 'All' }));
const dryRunJob = (job: V1Job) =>
  admit(() => batch.createNamespacedJobWithHttpInfo({ namespace: ns, body: job, dryRun: 'All' }));

t.test('control: the namespace enforces restricted', async (t) => {
  const labels = (await core.readNamespace({ name: ns })).metadata?.labels ?? {};
  t.has(labels, RESTRICTED, 'the namespace carries the Pod Security labels');

  const privileged = podOf(buildJob(request()), 'privileged');
  const spec = structuredClone(privileged.spec) as NonNullable<V1Pod['spec']>;
  const [worker] = spec.containers;
  if (worker !== undefined) worker.securityContext = { privileged: true };
  const refused = await dryRunPod({ ...privileged, spec });
  t.match(refused, { admitted: false, status: 403 }, 'a privileged pod is refused');
  if (!refused.admitted) t.match(refused.message, /violates PodSecurity "restricted:latest".*privileged/s);

  // The original's Jobs set no security context at all: baseline, but not restricted.
  const bare = podOf(buildJob(request()), 'bare');
  const bareSpec = structuredClone(bare.spec) as NonNullable<V1Pod['spec']>;
  for (const c of [...bareSpec.containers, ...(bareSpec.initContainers ?? [])]) delete c.securityContext;
  delete bareSpec.securityContext;
  const bareResult = await dryRunPod({ ...bare, spec: bareSpec });
  t.match(bareResult, { admitted: false, status: 403 }, 'a pod without security context is refused too');
  if (!bareResult.admitted) {
    t.match(bareResult.message, /allowPrivilegeEscalation != false/, 'named: privilege escalation');
    t.match(bareResult.message, /runAsNonRoot != true/, 'named: non-root');
    t.match(bareResult.message, /seccompProfile/, 'named: seccomp');
    t.match(bareResult.message, /unrestricted capabilities/, 'named: capabilities');
  }
  // A Job is never refused for its template, but warned about: so "no warning" below means something.
  const bareJob = buildJob(request());
  const template = bareJob.spec?.template;
  if (template !== undefined) template.spec = bareSpec;
  const warned = await dryRunJob(bareJob);
  t.match(warned, { admitted: true }, 'a Job with that template is created');
  // The header is RFC 9111's `299 - "<text with escaped quotes>"`.
  if (warned.admitted)
    t.match(warned.warnings, /would violate PodSecurity \\?"restricted:latest\\?"/, 'with a warning');
});

t.test('the Jobs buildJob makes pass restricted, as Pods and as Jobs', async (t) => {
  t.ok(variants.length >= 8, `${variants.length} variants`);
  for (const [i, { name, req }] of variants.entries()) {
    const job = buildJob(req);
    const pod = await dryRunPod(podOf(job, String(i)));
    t.same(pod, { admitted: true, warnings: '' }, `${name}: its Pod is admitted with no warning`);
    // Pod Security admission checks a Job's template too (warn and audit, never enforce).
    const asJob = await dryRunJob(job);
    t.same(asJob, { admitted: true, warnings: '' }, `${name}: the Job is created with no warning`);
  }
});

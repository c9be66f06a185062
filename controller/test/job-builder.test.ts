import type { ActionSpec, ClusterActionSpec } from '@git-events-runner/shared';
import t from 'tap';
import { defaultRuntimeConfig, parseRuntimeConfig } from '../src/config/index.js';
import {
  buildJob,
  isValidLabelValue,
  type JobRequest,
  jobName,
  LABELS,
  labelValue,
  MAX_JOB_NAME_LENGTH,
} from '../src/jobs/index.js';

const VERSION = '1.2.3';
const config = defaultRuntimeConfig(VERSION);
const COMMIT = 'e03087d8f722a423bc13fd31542fb9545da784dd';
const TRIGGER_UID = '0b6c6a3e-8c52-4b8e-9f43-3f1f3c1a2b01';
const ACTION_UID = '5f0e4c1d-2a3b-4c5d-8e9f-0a1b2c3d4e5f';
const IDENTITY = 'c1d2e3f4-a5b6-4c7d-8e9f-001122334455';
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function request(overrides: Partial<JobRequest> = {}): JobRequest {
  return {
    trigger: {
      kind: 'ScheduleTrigger',
      name: 'test-schedule-trigger-name',
      namespace: 'actions-test',
      uid: TRIGGER_UID,
    },
    source: { kind: 'GitRepo', name: 'action-test-source' },
    reference: { branch: 'main' },
    commit: COMMIT,
    action: { kind: 'Action', name: 'default-test-action', uid: ACTION_UID, spec: {} },
    config,
    runKey: COMMIT,
    suspend: false,
    controllerIdentity: IDENTITY,
    ...overrides,
  };
}

const CLONER_SECURITY = {
  runAsNonRoot: true,
  runAsUser: 65532,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

// The restricted Pod Security Standard's requirements (e2e/test/pod-security.test.ts checks them for real).
const WORKER_SECURITY = {
  runAsNonRoot: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

/** The worker's variables: prefixed, then (with a prefix) the same without it, as the design document's script reads them. */
function env(pairs: [string, string][], prefix = 'ACTION_JOB_') {
  const prefixed = pairs.map(([name, value]) => ({ name: `${prefix}${name}`, value }));
  return prefix === '' ? prefixed : [...prefixed, ...pairs.map(([name, value]) => ({ name, value }))];
}

t.test('default Action', async (t) => {
  const req = request();
  const labels = {
    'git-events-runner.rs/action-kind': 'Action',
    'git-events-runner.rs/action-name': 'default-test-action',
    'git-events-runner.rs/source-kind': 'GitRepo',
    'git-events-runner.rs/source-name': 'action-test-source',
    'git-events-runner.rs/trigger-kind': 'ScheduleTrigger',
    'git-events-runner.rs/trigger-name': 'test-schedule-trigger-name',
    'git-events-runner.rs/trigger-uid': TRIGGER_UID,
    'git-events-runner.rs/controller-identity': IDENTITY,
    'app.kubernetes.io/managed-by': 'git-events-runner',
  };
  const annotations = { 'git-events-runner.rs/commit': COMMIT, 'git-events-runner.rs/run-key': COMMIT };
  t.same(buildJob(req), {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: jobName('default-test-action', TRIGGER_UID, 'action-test-source', COMMIT),
      namespace: 'actions-test',
      labels,
      annotations,
      ownerReferences: [
        {
          apiVersion: 'git-events-runner.rs/v1alpha1',
          kind: 'Action',
          name: 'default-test-action',
          uid: ACTION_UID,
          controller: true,
        },
      ],
    },
    spec: {
      backoffLimit: 0,
      parallelism: 1,
      completions: 1,
      activeDeadlineSeconds: 3600,
      ttlSecondsAfterFinished: 7200,
      suspend: false,
      template: {
        metadata: { labels, annotations },
        spec: {
          restartPolicy: 'Never',
          volumes: [{ name: 'action-workdir', emptyDir: {} }],
          initContainers: [
            {
              name: 'action-cloner',
              image: 'ghcr.io/git-events-runner/git-events-runner:v1.2.3',
              args: [
                'clone',
                '--kind',
                'GitRepo',
                '--source',
                'action-test-source',
                '--destination',
                '/action_workdir',
                '--commit',
                COMMIT,
              ],
              volumeMounts: [{ name: 'action-workdir', mountPath: '/action_workdir' }],
              securityContext: CLONER_SECURITY,
              terminationMessagePolicy: 'FallbackToLogsOnError',
            },
          ],
          containers: [
            {
              name: 'action-worker',
              image: 'ghcr.io/git-events-runner/action-worker:v1.2.3',
              workingDir: '/action_workdir',
              env: env([
                ['WORKDIR', '/action_workdir'],
                ['TRIGGER_SOURCE_KIND', 'GitRepo'],
                ['TRIGGER_SOURCE_NAME', 'action-test-source'],
                ['TRIGGER_SOURCE_COMMIT', COMMIT],
                ['TRIGGER_SOURCE_REF_TYPE', 'branch'],
                ['TRIGGER_SOURCE_REF_NAME', 'main'],
                ['TRIGGER_KIND', 'ScheduleTrigger'],
                ['TRIGGER_NAME', 'test-schedule-trigger-name'],
                ['TRIGGER_SOURCE_NAMESPACE', 'actions-test'],
              ]),
              volumeMounts: [{ name: 'action-workdir', mountPath: '/action_workdir' }],
              securityContext: WORKER_SECURITY,
            },
          ],
        },
      },
    },
  });
});

const customizedSpec: ActionSpec = {
  sourceOverride: { kind: 'GitRepo', name: 'git-repo-override', reference: { branch: 'overridden-branch' } },
  actionJob: {
    workdir: '/custom-workdir',
    clonerImage: 'custom-cloner-image:latest',
    actionImage: 'custom-action-image:latest',
    args: ['arg1', 'arg2'],
    command: ['command1', 'command2'],
    serviceAccount: 'custom-service-account-name',
    annotations: {
      'custom-annotation-key-1': 'custom-annotation-value-1',
      'git-events-runner.rs/commit': 'not-the-commit',
    },
    labels: {
      'custom-label-key-1': 'custom-label-value-1',
      'git-events-runner.rs/action-name': 'renamed',
      'git-events-runner.rs/controller-identity': 'someone-else',
      'git-events-runner.rs/trigger-uid': 'another-trigger',
      'app.kubernetes.io/managed-by': 'helm',
    },
    tolerations: [
      { effect: 'NoSchedule', key: 'toleration-key-1', operator: 'Equal', tolerationSeconds: 234, value: 'v1' },
    ],
    affinity: {
      podAntiAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [
          {
            labelSelector: { matchLabels: { 'custom-label-key-3': 'custom-label-value-3' } },
            topologyKey: 'kubernetes.io/hostname',
          },
        ],
      },
    },
    nodeSelector: { 'custom-node-label-key-1': 'custom-node-label-value-1' },
    ttlSecondsAfterFinished: 231,
    activeDeadlineSeconds: 321,
    jobWaitingTimeoutSeconds: 10,
    enableClonerDebug: true,
    preserveGitFolder: true,
  },
};

t.test('customised Action: every actionJob field', async (t) => {
  const req = request({
    action: { kind: 'Action', name: 'customized-test-action', uid: ACTION_UID, spec: customizedSpec },
    trigger: { kind: 'WebhookTrigger', name: 'hook', namespace: 'actions-test', uid: TRIGGER_UID },
    runKey: 'delivery-42',
  });
  const labels = {
    'git-events-runner.rs/action-kind': 'Action',
    'git-events-runner.rs/action-name': 'renamed',
    'git-events-runner.rs/source-kind': 'GitRepo',
    'git-events-runner.rs/source-name': 'action-test-source',
    'git-events-runner.rs/trigger-kind': 'WebhookTrigger',
    'git-events-runner.rs/trigger-name': 'hook',
    'custom-label-key-1': 'custom-label-value-1',
    'git-events-runner.rs/trigger-uid': TRIGGER_UID,
    'git-events-runner.rs/controller-identity': IDENTITY,
    'app.kubernetes.io/managed-by': 'git-events-runner',
  };
  const annotations = {
    'custom-annotation-key-1': 'custom-annotation-value-1',
    'git-events-runner.rs/commit': COMMIT,
    'git-events-runner.rs/run-key': 'delivery-42',
  };
  const mounts = [{ name: 'action-workdir', mountPath: '/custom-workdir' }];
  t.same(buildJob(req), {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: jobName('customized-test-action', TRIGGER_UID, 'action-test-source', 'delivery-42'),
      namespace: 'actions-test',
      labels,
      annotations,
      ownerReferences: [
        {
          apiVersion: 'git-events-runner.rs/v1alpha1',
          kind: 'Action',
          name: 'customized-test-action',
          uid: ACTION_UID,
          controller: true,
        },
      ],
    },
    spec: {
      backoffLimit: 0,
      parallelism: 1,
      completions: 1,
      activeDeadlineSeconds: 321,
      ttlSecondsAfterFinished: 231,
      suspend: false,
      template: {
        metadata: { labels, annotations },
        spec: {
          restartPolicy: 'Never',
          serviceAccountName: 'custom-service-account-name',
          nodeSelector: { 'custom-node-label-key-1': 'custom-node-label-value-1' },
          affinity: {
            podAntiAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: [
                {
                  labelSelector: { matchLabels: { 'custom-label-key-3': 'custom-label-value-3' } },
                  topologyKey: 'kubernetes.io/hostname',
                },
              ],
            },
          },
          tolerations: [
            { effect: 'NoSchedule', key: 'toleration-key-1', operator: 'Equal', tolerationSeconds: 234, value: 'v1' },
          ],
          volumes: [{ name: 'action-workdir', emptyDir: {} }],
          initContainers: [
            {
              name: 'action-cloner',
              image: 'custom-cloner-image:latest',
              args: [
                'clone',
                '--kind',
                'GitRepo',
                '--source',
                'git-repo-override',
                '--destination',
                '/custom-workdir',
                '--branch',
                'overridden-branch',
                '--preserve-git-folder',
                '--debug',
              ],
              volumeMounts: mounts,
              securityContext: CLONER_SECURITY,
              terminationMessagePolicy: 'FallbackToLogsOnError',
            },
          ],
          containers: [
            {
              name: 'action-worker',
              image: 'custom-action-image:latest',
              workingDir: '/custom-workdir',
              command: ['command1', 'command2'],
              args: ['arg1', 'arg2'],
              env: env([
                ['WORKDIR', '/custom-workdir'],
                ['TRIGGER_SOURCE_KIND', 'GitRepo'],
                ['TRIGGER_SOURCE_NAME', 'action-test-source'],
                ['TRIGGER_SOURCE_COMMIT', COMMIT],
                ['TRIGGER_SOURCE_REF_TYPE', 'branch'],
                ['TRIGGER_SOURCE_REF_NAME', 'main'],
                ['TRIGGER_KIND', 'WebhookTrigger'],
                ['TRIGGER_NAME', 'hook'],
                ['TRIGGER_SOURCE_NAMESPACE', 'actions-test'],
                ['ACTION_SOURCE_KIND', 'GitRepo'],
                ['ACTION_SOURCE_NAME', 'git-repo-override'],
                ['ACTION_SOURCE_REF_TYPE', 'branch'],
                ['ACTION_SOURCE_REF_NAME', 'overridden-branch'],
                ['ACTION_SOURCE_NAMESPACE', 'actions-test'],
              ]),
              volumeMounts: mounts,
              securityContext: WORKER_SECURITY,
            },
          ],
        },
      },
    },
  });
});

t.test('ClusterAction overriding to a ClusterGitRepo tag, trigger on a ClusterGitRepo', async (t) => {
  const spec: ClusterActionSpec = {
    sourceOverride: { kind: 'ClusterGitRepo', name: 'shared-scripts', reference: { tag: 'v1.0.0' } },
  };
  const req = request({
    trigger: { kind: 'WebhookTrigger', name: 'deploy', namespace: 'team-a', uid: TRIGGER_UID },
    source: { kind: 'ClusterGitRepo', name: 'platform' },
    reference: { tag: 'release' },
    action: { kind: 'ClusterAction', name: 'cluster-deploy', uid: ACTION_UID, spec },
    runKey: 'req-1',
  });
  const labels = {
    'git-events-runner.rs/action-kind': 'ClusterAction',
    'git-events-runner.rs/action-name': 'cluster-deploy',
    'git-events-runner.rs/source-kind': 'ClusterGitRepo',
    'git-events-runner.rs/source-name': 'platform',
    'git-events-runner.rs/trigger-kind': 'WebhookTrigger',
    'git-events-runner.rs/trigger-name': 'deploy',
    'git-events-runner.rs/trigger-uid': TRIGGER_UID,
    'git-events-runner.rs/controller-identity': IDENTITY,
    'app.kubernetes.io/managed-by': 'git-events-runner',
  };
  const annotations = { 'git-events-runner.rs/commit': COMMIT, 'git-events-runner.rs/run-key': 'req-1' };
  const mounts = [{ name: 'action-workdir', mountPath: '/action_workdir' }];
  t.same(buildJob(req), {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: jobName('cluster-deploy', TRIGGER_UID, 'platform', 'req-1'),
      namespace: 'team-a',
      labels,
      annotations,
      ownerReferences: [
        {
          apiVersion: 'git-events-runner.rs/v1alpha1',
          kind: 'ClusterAction',
          name: 'cluster-deploy',
          uid: ACTION_UID,
          controller: true,
        },
      ],
    },
    spec: {
      backoffLimit: 0,
      parallelism: 1,
      completions: 1,
      activeDeadlineSeconds: 3600,
      ttlSecondsAfterFinished: 7200,
      suspend: false,
      template: {
        metadata: { labels, annotations },
        spec: {
          restartPolicy: 'Never',
          volumes: [{ name: 'action-workdir', emptyDir: {} }],
          initContainers: [
            {
              name: 'action-cloner',
              image: 'ghcr.io/git-events-runner/git-events-runner:v1.2.3',
              args: [
                'clone',
                '--kind',
                'ClusterGitRepo',
                '--source',
                'shared-scripts',
                '--destination',
                '/action_workdir',
                '--tag',
                'v1.0.0',
              ],
              volumeMounts: mounts,
              securityContext: CLONER_SECURITY,
              terminationMessagePolicy: 'FallbackToLogsOnError',
            },
          ],
          containers: [
            {
              name: 'action-worker',
              image: 'ghcr.io/git-events-runner/action-worker:v1.2.3',
              workingDir: '/action_workdir',
              env: env([
                ['WORKDIR', '/action_workdir'],
                ['TRIGGER_SOURCE_KIND', 'ClusterGitRepo'],
                ['TRIGGER_SOURCE_NAME', 'platform'],
                ['TRIGGER_SOURCE_COMMIT', COMMIT],
                ['TRIGGER_SOURCE_REF_TYPE', 'tag'],
                ['TRIGGER_SOURCE_REF_NAME', 'release'],
                ['TRIGGER_KIND', 'WebhookTrigger'],
                ['TRIGGER_NAME', 'deploy'],
                ['ACTION_SOURCE_KIND', 'ClusterGitRepo'],
                ['ACTION_SOURCE_NAME', 'shared-scripts'],
                ['ACTION_SOURCE_REF_TYPE', 'tag'],
                ['ACTION_SOURCE_REF_NAME', 'v1.0.0'],
              ]),
              volumeMounts: mounts,
              securityContext: WORKER_SECURITY,
            },
          ],
        },
      },
    },
  });
});

t.test('a ClusterAction always clones a ClusterGitRepo', async (t) => {
  const spec = {
    sourceOverride: { kind: 'GitRepo', name: 'x', reference: { commit: 'abcdef1' } },
  } as unknown as ClusterActionSpec;
  const job = buildJob(request({ action: { kind: 'ClusterAction', name: 'c', uid: ACTION_UID, spec } }));
  t.same(job.spec?.template.spec?.initContainers?.[0]?.args?.slice(0, 3), ['clone', '--kind', 'ClusterGitRepo']);
  t.notOk(job.spec?.template.spec?.containers[0]?.env?.some((e) => e.name === 'ACTION_JOB_ACTION_SOURCE_NAMESPACE'));
});

t.test('Action overriding to a GitRepo branch: source namespaces follow the source kinds', async (t) => {
  const spec: ActionSpec = {
    sourceOverride: { kind: 'GitRepo', name: 'scripts', reference: { branch: 'stable' } },
  };
  const action = { kind: 'Action' as const, name: 'act', uid: ACTION_UID, spec };
  const envNames = (source: JobRequest['source']) =>
    buildJob(request({ action, source, reference: { commit: 'abc1234' } })).spec?.template.spec?.containers[0]?.env;
  t.same(
    envNames({ kind: 'GitRepo', name: 'app' }),
    env([
      ['WORKDIR', '/action_workdir'],
      ['TRIGGER_SOURCE_KIND', 'GitRepo'],
      ['TRIGGER_SOURCE_NAME', 'app'],
      ['TRIGGER_SOURCE_COMMIT', COMMIT],
      ['TRIGGER_SOURCE_REF_TYPE', 'commit'],
      ['TRIGGER_SOURCE_REF_NAME', 'abc1234'],
      ['TRIGGER_KIND', 'ScheduleTrigger'],
      ['TRIGGER_NAME', 'test-schedule-trigger-name'],
      ['TRIGGER_SOURCE_NAMESPACE', 'actions-test'],
      ['ACTION_SOURCE_KIND', 'GitRepo'],
      ['ACTION_SOURCE_NAME', 'scripts'],
      ['ACTION_SOURCE_REF_TYPE', 'branch'],
      ['ACTION_SOURCE_REF_NAME', 'stable'],
      ['ACTION_SOURCE_NAMESPACE', 'actions-test'],
    ]),
    'trigger on a GitRepo: both namespaces',
  );
  t.same(
    envNames({ kind: 'ClusterGitRepo', name: 'app' }),
    env([
      ['WORKDIR', '/action_workdir'],
      ['TRIGGER_SOURCE_KIND', 'ClusterGitRepo'],
      ['TRIGGER_SOURCE_NAME', 'app'],
      ['TRIGGER_SOURCE_COMMIT', COMMIT],
      ['TRIGGER_SOURCE_REF_TYPE', 'commit'],
      ['TRIGGER_SOURCE_REF_NAME', 'abc1234'],
      ['TRIGGER_KIND', 'ScheduleTrigger'],
      ['TRIGGER_NAME', 'test-schedule-trigger-name'],
      ['ACTION_SOURCE_KIND', 'GitRepo'],
      ['ACTION_SOURCE_NAME', 'scripts'],
      ['ACTION_SOURCE_REF_TYPE', 'branch'],
      ['ACTION_SOURCE_REF_NAME', 'stable'],
      ['ACTION_SOURCE_NAMESPACE', 'actions-test'],
    ]),
    'trigger on a ClusterGitRepo: no TRIGGER_SOURCE_NAMESPACE',
  );
  const clusterSource = buildJob(request({ source: { kind: 'ClusterGitRepo', name: 'app' } }));
  t.notOk(
    clusterSource.spec?.template.spec?.containers[0]?.env?.some((e) => e.name.endsWith('_NAMESPACE')),
    'ClusterGitRepo trigger, no override: no namespace variables at all',
  );
});

t.test('suspend: true creates the Job suspended', async (t) => {
  const job = buildJob(request({ suspend: true }));
  t.equal(job.spec?.suspend, true);
  const { suspend: _, ...rest } = job.spec ?? {};
  const { suspend: __, ...unsuspended } = buildJob(request()).spec ?? {};
  t.same(rest, unsuspended, 'nothing else changes');
});

t.test("the config's defaultServiceAccount is used when the Action names none", async (t) => {
  const withDefault = parseRuntimeConfig('action:\n  defaultServiceAccount: job-runner\n', VERSION);
  t.equal(buildJob(request({ config: withDefault })).spec?.template.spec?.serviceAccountName, 'job-runner');
  const own: ActionSpec = { actionJob: { serviceAccount: 'own-sa' } };
  t.equal(
    buildJob(request({ config: withDefault, action: { kind: 'Action', name: 'a', uid: ACTION_UID, spec: own } })).spec
      ?.template.spec?.serviceAccountName,
    'own-sa',
    "the Action's own wins",
  );
  t.notOk('serviceAccountName' in (buildJob(request()).spec?.template.spec ?? {}), 'neither: omitted');
});

t.test('runtime config settings reach the Job', async (t) => {
  const custom = parseRuntimeConfig(
    [
      'action:',
      '  activeDeadlineSeconds: 60',
      '  ttlSecondsAfterFinished: 0',
      '  workdir: {mountPath: /src, volumeName: src}',
      '  containers:',
      '    cloner: {name: clone, image: my/cloner:1}',
      '    worker: {name: work, image: my/worker:1, variablesPrefix: GER_}',
    ].join('\n'),
    VERSION,
  );
  const job = buildJob(request({ config: custom }));
  const pod = job.spec?.template.spec;
  t.equal(job.spec?.activeDeadlineSeconds, 60);
  t.equal(job.spec?.ttlSecondsAfterFinished, 0);
  t.same(pod?.volumes, [{ name: 'src', emptyDir: {} }]);
  t.same(
    [
      pod?.initContainers?.[0]?.name,
      pod?.initContainers?.[0]?.image,
      pod?.containers[0]?.name,
      pod?.containers[0]?.image,
    ],
    ['clone', 'my/cloner:1', 'work', 'my/worker:1'],
  );
  t.same(pod?.containers[0]?.volumeMounts, [{ name: 'src', mountPath: '/src' }]);
  t.same(pod?.containers[0]?.env?.[0], { name: 'GER_WORKDIR', value: '/src' });
});

t.test('the Job shares no objects with its inputs', async (t) => {
  const spec = structuredClone(customizedSpec);
  const job = buildJob(request({ action: { kind: 'Action', name: 'a', uid: ACTION_UID, spec } }));
  const pod = job.spec?.template.spec;
  if (pod?.tolerations?.[0] !== undefined) pod.tolerations[0].key = 'changed';
  if (pod?.containers[0]?.args !== undefined) pod.containers[0].args.push('more');
  if (pod?.nodeSelector !== undefined) pod.nodeSelector.x = 'y';
  t.same(spec, customizedSpec);
  t.ok(Object.isFrozen(config), 'the frozen config is accepted as is');
});

t.test('a reference naming nothing is a JobBuildError', async (t) => {
  t.throws(() => buildJob(request({ reference: {} })), { name: 'JobBuildError', code: 'InvalidReference' });
});

// ---------------------------------------------------------------- names

t.test('job names: deterministic, readable, DNS-1123 labels of at most 63 characters', async (t) => {
  const name = jobName('upgrade-controller', TRIGGER_UID, 'repo', COMMIT);
  t.match(name, /^upgrade-controller-[0-9a-f]{12}$/);
  t.equal(jobName('upgrade-controller', TRIGGER_UID, 'repo', COMMIT), name, 'same inputs, same name');
  t.equal(jobName('a', 'uid', 'src', 'key'), 'a-7c8a718e307b', 'stable across releases');

  const long = `My.Odd_Action!!name~${'x'.repeat(240)}`.slice(0, 253);
  t.equal(long.length, 253);
  const longName = jobName(long, TRIGGER_UID, 'repo', COMMIT);
  t.ok(longName.length <= MAX_JOB_NAME_LENGTH, `${longName.length} chars`);
  t.match(longName, DNS_LABEL);
  t.match(longName, /^my-odd-action-name-x+-[0-9a-f]{12}$/);

  for (const odd of ['---', '...', 'UPPER', 'a--b', '-a-', 'ä', '', `${'a'.repeat(50)}-${'b'.repeat(10)}`]) {
    const n = jobName(odd, TRIGGER_UID, 'repo', COMMIT);
    t.match(n, DNS_LABEL, JSON.stringify(odd));
    t.ok(n.length <= MAX_JOB_NAME_LENGTH);
  }
  t.match(jobName('...', 'u', 's', 'k'), /^action-[0-9a-f]{12}$/, 'no readable prefix left');
});

t.test('job names: any different input gives a different name', async (t) => {
  const base = jobName('act', TRIGGER_UID, 'repo', COMMIT);
  t.not(jobName('act', TRIGGER_UID, 'repo', `${COMMIT.slice(0, -1)}0`), base, 'runKey');
  t.not(jobName('act', 'other-uid', 'repo', COMMIT), base, 'trigger');
  t.not(jobName('act', TRIGGER_UID, 'repo2', COMMIT), base, 'source');
  t.not(jobName('act2', TRIGGER_UID, 'repo', COMMIT), base, 'action');
  t.not(jobName('a', 'b', 'c\0d', 'e'), jobName('a', 'b', 'c', 'd\0e'), 'fields cannot run into each other');
  const long = 'x'.repeat(253);
  t.not(jobName(long, 'u', 's', 'k1'), jobName(long, 'u', 's', 'k2'), 'truncated prefixes still differ');
  const names = new Set(Array.from({ length: 1000 }, (_, i) => jobName('act', TRIGGER_UID, 'repo', `slot-${i}`)));
  t.equal(names.size, 1000);
});

t.test('label values: valid ones unchanged, others sanitised and made unique', async (t) => {
  for (const ok of ['', 'a', 'default-test-action', 'A.b_c-D', 'x'.repeat(63)]) t.equal(labelValue(ok), ok);
  const long = `${'a'.repeat(60)}.example.com`;
  const sanitised = labelValue(long);
  t.ok(isValidLabelValue(sanitised));
  t.equal(sanitised.length, 63);
  t.match(sanitised, /^a{52}-[0-9a-f]{10}$/);
  t.not(labelValue(`${'a'.repeat(60)}.example.org`), sanitised, 'same prefix, different value');
  t.match(labelValue('a b/c'), /^a-b-c-[0-9a-f]{10}$/);
  t.match(labelValue('-x-'), /^x-[0-9a-f]{10}$/);
  t.match(labelValue('___'), /^[0-9a-f]{10}$/);
  t.match(labelValue(`${'a'.repeat(51)}.-b${'c'.repeat(20)}`), /^a{51}-[0-9a-f]{10}$/, 'no separator before the hash');
  for (const odd of ['x'.repeat(253), 'ä', '.a.', `${'a'.repeat(52)}---`, 'ok?'])
    t.ok(isValidLabelValue(labelValue(odd)), odd);

  const name253 = `${'n'.repeat(250)}.io`;
  const job = buildJob(
    request({
      action: { kind: 'Action', name: name253, uid: ACTION_UID, spec: {} },
      source: { kind: 'GitRepo', name: name253 },
      trigger: { kind: 'ScheduleTrigger', name: name253, namespace: 'ns', uid: TRIGGER_UID },
    }),
  );
  for (const [key, value] of Object.entries(job.metadata?.labels ?? {})) t.ok(isValidLabelValue(value), key);
  t.equal(job.metadata?.labels?.[LABELS.actionName], labelValue(name253));
  t.same(job.spec?.template.metadata?.labels, job.metadata?.labels, 'the Pod gets the same labels');
  t.ok((job.metadata?.name ?? '').length <= 63);
  t.equal(job.metadata?.ownerReferences?.[0]?.name, name253, 'the owner reference keeps the full name');
});

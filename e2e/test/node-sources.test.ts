import { randomBytes } from 'node:crypto';
import { buildJob, defaultRuntimeConfig } from '@git-events-runner/controller';
import { API_VERSION } from '@git-events-runner/shared';
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import t, { type Test } from 'tap';
import { stringify } from 'yaml';
import { clusterController } from '../src/app-cluster.js';
import { startGitServers } from '../src/git-servers.js';
import { eventually } from '../src/harness.js';
import { type NodeCluster, onRealNode } from '../src/node-cluster.js';
import { nodeJobs, succeeded } from '../src/node-jobs.js';

// Where the Job's cloner gets its source on a real node (kubelet + containerd running the project's
// images, the controller as a process): a ClusterAction's sourceOverride (a private ClusterGitRepo over
// HTTPS whose Secrets live in another namespace), a private repository over SSH with the host key checked
// against the Secret's known_hosts, a service account that may not read the source or its Secret, and a
// namespace that enforces the "restricted" Pod Security Standard. The cloner reads everything with the
// Job's service account, never the controller's.

type Doc = Record<string, unknown>;

const namespace = (name: string, labels: Record<string, string> = {}): Doc => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, labels },
});
const secret = (ns: string, name: string, stringData: Record<string, string>): Doc => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: ns },
  stringData,
});
const object = (kind: string, ns: string | undefined, name: string, spec: unknown): Doc => ({
  apiVersion: API_VERSION,
  kind,
  metadata: ns === undefined ? { name } : { name, namespace: ns },
  spec,
});
const serviceAccount = (ns: string, name: string): Doc => ({
  apiVersion: 'v1',
  kind: 'ServiceAccount',
  metadata: { name, namespace: ns },
});
type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
const getGitRepos: Rule = { apiGroups: ['git-events-runner.rs'], resources: ['gitrepos'], verbs: ['get'] };
const getSecrets = (...names: string[]): Rule => ({
  apiGroups: [''],
  resources: ['secrets'],
  verbs: ['get'],
  resourceNames: names,
});
/** A Role in `where` with `rules`, bound to the service account `ns`/`sa`. */
const grant = (where: string, name: string, ns: string, sa: string, rules: Rule[]): Doc[] => [
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name, namespace: where }, rules },
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name, namespace: where },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
  },
];
/**
 * A ScheduleTrigger on `main` of the GitRepo `source` running the Action (or `kind`) `action`; its first
 * check counts as a change, so it runs once at once.
 */
const trigger = (ns: string, name: string, source: string, action: string, kind = 'Action'): Doc =>
  object('ScheduleTrigger', ns, name, {
    sources: { kind: 'GitRepo', names: [source], watchOn: { onChangeOnly: true, reference: { branch: 'main' } } },
    schedule: { interval: '1h' },
    action: { kind, name: action },
  });
/** A worker that runs `script` with bash. */
const script = (lines: string[]) => ({ args: ['bash', '-c', lines.join('\n')] });

const WORKER_RAN = 'the worker ran';
/** An Action whose worker only says it ran, for a cloner that must fail: that line must never appear. */
const mustNotRun = (ns: string, name: string, actionJob: Doc = {}, spec: Doc = {}): Doc =>
  object('Action', ns, name, { ...spec, actionJob: { ...actionJob, ...script([`echo '${WORKER_RAN}'`]) } });

await onRealNode(t, 'sources of action Jobs on a real node', sources);

async function sources(cluster: NodeCluster): Promise<void> {
  const { kubectl } = cluster;
  const jobs = nodeJobs(cluster);
  const apply = (docs: Doc[]) => kubectl(['apply', '-f', '-'], docs.map((d) => stringify(d)).join('---\n'));

  const password = `pw-${randomBytes(12).toString('hex')}`;
  const servers = await startGitServers({
    host: cluster.network.hostIp,
    auth: { basic: { username: 'platform', password } },
    // The trigger's own repository is public; `tools` needs the password over HTTP(S).
    publicRepos: ['app'],
    daemon: false,
  });
  t.teardown(() => servers.stop());
  const ssh = servers.ssh!;
  const fx = servers.fixtures;
  const marker = randomBytes(6).toString('hex');
  await fx.create('app');
  const appHead = (await fx.commit('app', { 'app.txt': `the app ${marker}\n` }, 'app')).trim();
  await fx.create('tools');
  await fx.commit('tools', { 'tools.txt': `tools v1 ${marker}\n` }, 'tools v1');
  await fx.annotatedTag('tools', 'v1');
  // main moves on: a clone of main instead of the tag shows v2.
  const toolsHead = (await fx.commit('tools', { 'tools.txt': `tools v2 ${marker}\n` }, 'tools v2')).trim();
  await clusterController(t, cluster, []);

  /**
   * Creates a namespace and waits for its default service account: before it exists, Pods (and the
   * Job controller's attempts) are refused for that reason.
   */
  const newNamespace = async (name: string, labels: Record<string, string> = {}) => {
    await apply([namespace(name, labels)]);
    const found = await eventually(
      () =>
        cluster.core.readNamespacedServiceAccount({ namespace: name, name: 'default' }).then(
          () => true,
          () => false,
        ),
      (ok) => ok,
      30_000,
    );
    if (!found) throw new Error(`no default service account in ${name}\n${await cluster.diagnostics()}`);
  };
  /** The status of the worker and of the cloner in a Pod. */
  const worker = (pod: V1Pod) => pod.status?.containerStatuses?.find((c) => c.name === 'action-worker');
  const cloner = (pod: V1Pod) => pod.status?.initContainerStatuses?.find((c) => c.name === 'action-cloner');
  /** A Job whose cloner failed: Failed, the cloner exited 1, the worker never started. */
  const clonerFailed = async (t: Test, job: V1Job, message: string | RegExp) => {
    const pod = await jobs.podOf(job);
    const logs = await jobs.podLogs(job);
    // Shown with a failed assertion only.
    const diag = { logs, podStatus: pod.status };
    t.notOk(succeeded(job), `Job ${job.metadata?.name} did not succeed`, diag);
    t.ok(
      (job.status?.conditions ?? []).some((c) => c.type === 'Failed' && c.status === 'True'),
      'the Job is Failed',
      diag,
    );
    t.equal(pod.status?.phase, 'Failed', 'the Pod failed', diag);
    const terminated = cloner(pod)?.state?.terminated;
    t.match(terminated, { exitCode: 1, reason: 'Error' }, 'the cloner exited 1', diag);
    const said = await jobs.logsOf(job, 'action-cloner');
    t.match(said, message, 'the cloner says why', diag);
    t.equal(said.trim().split('\n').length, 1, 'in one line', diag);
    t.match(
      terminated?.message ?? '',
      message,
      "and so does the Pod's status (the cloner's termination message)",
      diag,
    );
    const w = worker(pod);
    t.equal(w?.state?.running, undefined, 'the worker is not running', diag);
    t.equal(w?.state?.terminated, undefined, 'the worker never ran', diag);
    t.equal(w?.lastState?.terminated, undefined, 'the worker never ran before', diag);
    t.notMatch(logs, WORKER_RAN, 'nothing of the worker in the logs');
    return said;
  };

  await t.test(
    'ClusterAction with sourceOverride: the cloner clones the private ClusterGitRepo at its tag',
    async (t) => {
      const ns = 'override';
      const creds = 'git-credentials';
      await newNamespace(ns);
      await newNamespace(creds);
      await apply([
        secret(creds, 'tools-auth', { username: 'platform', password }),
        secret(creds, 'tools-ca', { 'ca.crt': servers.https.caCert }),
        object('ClusterGitRepo', undefined, 'platform-tools', {
          repoUri: servers.urls.https('tools'),
          authConfig: { type: 'basic', secretRef: { name: 'tools-auth', namespace: creds } },
          tlsConfig: { caCert: { secretRef: { name: 'tools-ca', namespace: creds } } },
        }),
        object('ClusterAction', undefined, 'run-tools', {
          sourceOverride: { kind: 'ClusterGitRepo', name: 'platform-tools', reference: { tag: 'v1' } },
          actionJob: {
            serviceAccount: 'deployer',
            ...script([
              'set -eu',
              'echo "tools: $(cat tools.txt)"',
              'if [ -e app.txt ]; then echo "the trigger source was cloned"; exit 3; fi',
              "env | grep '^ACTION_JOB_ACTION_SOURCE_' | sort",
            ]),
          },
        }),
        // The Jobs' service account may read the ClusterGitRepo and exactly its two Secrets over there.
        serviceAccount(ns, 'deployer'),
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRole',
          metadata: { name: 'read-clustergitrepos' },
          rules: [{ apiGroups: ['git-events-runner.rs'], resources: ['clustergitrepos'], verbs: ['get'] }],
        },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRoleBinding',
          metadata: { name: 'deployer-read-clustergitrepos' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'read-clustergitrepos' },
          subjects: [{ kind: 'ServiceAccount', name: 'deployer', namespace: ns }],
        },
        ...grant(creds, 'deployer-tools-secrets', ns, 'deployer', [getSecrets('tools-auth', 'tools-ca')]),
        object('GitRepo', ns, 'app', { repoUri: servers.urls.http('app') }),
        trigger(ns, 'tools-trigger', 'app', 'run-tools', 'ClusterAction'),
      ]);
      const job = await jobs.jobFor(ns, 'tools-trigger', appHead);
      const logs = await jobs.podLogs(job);
      t.ok(succeeded(job), `Job ${job.metadata?.name} succeeded`, { logs });
      const out = await jobs.logsOf(job, 'action-worker');
      t.match(out, `tools: tools v1 ${marker}`, "the worker sees the override's files at tag v1", { logs });
      t.notMatch(out, 'tools v2', 'not main');
      t.match(
        out,
        [
          'ACTION_JOB_ACTION_SOURCE_KIND=ClusterGitRepo',
          'ACTION_JOB_ACTION_SOURCE_NAME=platform-tools',
          'ACTION_JOB_ACTION_SOURCE_REF_NAME=v1',
          'ACTION_JOB_ACTION_SOURCE_REF_TYPE=tag',
        ].join('\n'),
        'the worker is told which source it got',
      );
      t.notMatch(out, 'ACTION_SOURCE_NAMESPACE', 'a ClusterGitRepo has no namespace');
      const pod = await jobs.podOf(job);
      t.equal(pod.spec?.serviceAccountName, 'deployer', "the ClusterAction's service account");
      t.match(
        pod.spec?.initContainers?.[0]?.args?.join(' ') ?? '',
        '--kind ClusterGitRepo --source platform-tools',
        'the cloner was asked for the override',
      );
      t.equal(job.metadata?.annotations?.['git-events-runner.rs/commit'], appHead, "the trigger source's commit");
    },
  );

  await t.test('SSH with known_hosts in the Secret: cloned; a wrong host key stops the cloner', async (t) => {
    const ns = 'ssh';
    await newNamespace(ns);
    await apply([
      secret(ns, 'ssh-auth', { 'ssh-privatekey': ssh.keys.ed25519.privateKey, known_hosts: ssh.knownHosts }),
      // The same server and key, but known_hosts has another key for the server's name and port.
      secret(ns, 'ssh-other-host', {
        'ssh-privatekey': ssh.keys.ed25519.privateKey,
        known_hosts: ssh.wrongKnownHosts,
      }),
      object('GitRepo', ns, 'tools', {
        repoUri: ssh.url('tools'),
        authConfig: { type: 'ssh', secretRef: { name: 'ssh-auth' } },
      }),
      object('GitRepo', ns, 'tools-other-host', {
        repoUri: ssh.url('tools'),
        authConfig: { type: 'ssh', secretRef: { name: 'ssh-other-host' } },
      }),
      serviceAccount(ns, 'cloner'),
      ...grant(ns, 'cloner', ns, 'cloner', [getGitRepos, getSecrets('ssh-auth', 'ssh-other-host')]),
      object('Action', ns, 'show', {
        actionJob: { serviceAccount: 'cloner', ...script(['set -eu', 'echo "tools: $(cat tools.txt)"']) },
      }),
      // The controller checks `tools` (good known_hosts) and fires; only the Job's cloner meets the
      // other Secret, through the override.
      mustNotRun(
        ns,
        'show-other-host',
        { serviceAccount: 'cloner' },
        { sourceOverride: { kind: 'GitRepo', name: 'tools-other-host', reference: { branch: 'main' } } },
      ),
      trigger(ns, 'ssh-trigger', 'tools', 'show'),
      trigger(ns, 'other-host-trigger', 'tools', 'show-other-host'),
    ]);
    const good = await jobs.jobFor(ns, 'ssh-trigger', toolsHead);
    t.ok(succeeded(good), `Job ${good.metadata?.name} succeeded`, { logs: await jobs.podLogs(good) });
    t.match(await jobs.logsOf(good, 'action-worker'), `tools: tools v2 ${marker}`, 'the commit main is at');

    const bad = await jobs.jobFor(ns, 'other-host-trigger', toolsHead);
    const name = `[${cluster.network.hostIp}]:${ssh.port}`;
    const said = await clonerFailed(t, bad, `${ssh.url('tools')}: host key of ${name} (SHA256:`);
    t.match(
      said,
      /\) does not match known_hosts: possible man-in-the-middle; the connection was refused$/m,
      'and refuses the connection',
    );
  });

  await t.test(
    'a service account without access to the GitRepo or its Secret: the cloner fails, the worker never runs',
    async (t) => {
      const ns = 'forbidden';
      await newNamespace(ns);
      await apply([
        secret(ns, 'locked-auth', { username: 'platform', password }),
        // The controller reads both with its own rights and sees the commit; the Jobs' accounts cannot.
        object('GitRepo', ns, 'locked', {
          repoUri: servers.urls.http('tools'),
          authConfig: { type: 'basic', secretRef: { name: 'locked-auth' } },
        }),
        serviceAccount(ns, 'no-secrets'),
        ...grant(ns, 'no-secrets', ns, 'no-secrets', [getGitRepos]),
        // No service account: the namespace's default one, which may read nothing.
        mustNotRun(ns, 'as-default'),
        mustNotRun(ns, 'as-no-secrets', { serviceAccount: 'no-secrets' }),
        trigger(ns, 'default-trigger', 'locked', 'as-default'),
        trigger(ns, 'no-secrets-trigger', 'locked', 'as-no-secrets'),
      ]);
      // The cloner names the object it may not read, and (as the API server says) the account and the right.
      const noSource = await jobs.jobFor(ns, 'default-trigger', toolsHead);
      await clonerFailed(
        t,
        noSource,
        `git-events-runner: not allowed to read GitRepo ${ns}/locked: User "system:serviceaccount:${ns}:default" cannot get resource "gitrepos" in API group "git-events-runner.rs" in the namespace "${ns}"`,
      );
      const noSecret = await jobs.jobFor(ns, 'no-secrets-trigger', toolsHead);
      await clonerFailed(
        t,
        noSecret,
        `git-events-runner: not allowed to read Secret ${ns}/locked-auth: User "system:serviceaccount:${ns}:no-secrets" cannot get resource "secrets" in API group "" in the namespace "${ns}"`,
      );
    },
  );

  await t.test('restricted Pod Security: a default Action runs to completion', async (t) => {
    const ns = 'restricted';
    const levels = Object.fromEntries(
      ['enforce', 'warn', 'audit'].flatMap((mode) => [
        [`pod-security.kubernetes.io/${mode}`, 'restricted'],
        [`pod-security.kubernetes.io/${mode}-version`, 'latest'],
      ]),
    );
    await newNamespace(ns, levels);
    // The namespace does enforce: a Pod as the original's Jobs were (no security context) is refused.
    const refused = await cluster.core
      .createNamespacedPod({
        namespace: ns,
        dryRun: 'All',
        body: {
          metadata: { name: 'unconfined' },
          spec: { containers: [{ name: 'c', image: 'ghcr.io/git-events-runner/action-worker:v0.1.0' }] },
        },
      })
      .then(
        () => 'created',
        (err: unknown) => String(JSON.parse(String((err as { body?: unknown }).body)).message),
      );
    t.match(refused, /violates PodSecurity "restricted:latest"/, 'Pod Security admission is on');

    await apply([
      // The namespace's default account may read the GitRepo (public: no Secret).
      ...grant(ns, 'read-gitrepos', ns, 'default', [getGitRepos]),
      object('GitRepo', ns, 'app', { repoUri: servers.urls.http('app') }),
      object('Action', ns, 'default-action', {
        actionJob: script(['set -eu', 'echo "uid $(id -u)"', 'cat app.txt']),
      }),
      trigger(ns, 'restricted-trigger', 'app', 'default-action'),
    ]);
    const job = await jobs.jobFor(ns, 'restricted-trigger', appHead);
    const logs = await jobs.podLogs(job);
    t.ok(succeeded(job), `Job ${job.metadata?.name} succeeded`, { logs });
    const pod = await jobs.podOf(job);
    t.equal(pod.status?.phase, 'Succeeded', 'the Pod ran to completion');
    const out = await jobs.logsOf(job, 'action-worker');
    t.match(out, 'uid 65532', "the worker image's user");
    t.match(out, `the app ${marker}`, 'the worker sees the cloned files');

    // What buildJob sets for this Action (the defaults of the runtime configuration).
    const expected = buildJob({
      trigger: { kind: 'ScheduleTrigger', name: 'restricted-trigger', namespace: ns, uid: 'u' },
      source: { kind: 'GitRepo', name: 'app' },
      reference: { branch: 'main' },
      commit: appHead,
      action: { kind: 'Action', name: 'default-action', uid: 'u', spec: {} },
      config: defaultRuntimeConfig(),
      runKey: appHead,
      suspend: false,
      controllerIdentity: 'c',
    }).spec?.template.spec;
    t.same(pod.spec?.initContainers?.[0]?.securityContext, expected?.initContainers?.[0]?.securityContext, 'cloner');
    t.same(pod.spec?.containers[0]?.securityContext, expected?.containers[0]?.securityContext, 'worker');
    t.equal(pod.spec?.initContainers?.[0]?.image, expected?.initContainers?.[0]?.image, 'the default cloner image');
    t.equal(pod.spec?.containers[0]?.image, expected?.containers[0]?.image, 'the default worker image');
    const events = await kubectl([
      'get',
      'events',
      '-n',
      ns,
      '--field-selector',
      `involvedObject.name=${job.metadata?.name},reason=FailedCreate`,
      '-o',
      'jsonpath={.items[*].message}',
    ]);
    t.equal(events, '', 'the Job controller never had a Pod refused');
  });
}

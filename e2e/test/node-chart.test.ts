import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Job } from '@kubernetes/client-node';
import t from 'tap';
import { stringify } from 'yaml';
import { startGitServers } from '../src/git-servers.js';
import { repoRoot, run } from '../src/index.js';
import { findLeaks, secretValues } from '../src/leaks.js';
import { type NodeCluster, onRealNode } from '../src/node-cluster.js';
import { kubectlPlugin } from '../src/plugin.js';
import { seedExample, seedGitRepo, seedPrerequisites, seedProjectFiles } from '../src/seed-project.js';

// The Helm chart installed with `helm install` into a cluster with a real node: the controller (two
// replicas, leader election) and the admission server run as Pods with the chart's RBAC, service accounts
// and security contexts, from the images built here (the chart's default image names). kube-apiserver
// reaches the admission webhooks through the chart's Service, and the seed's examples run end to end
// through it: the Job deploys the chart in the repository, and `kubectl git-events fire` reaches the
// webhooks through the API server's service proxy and the chart's webhook Service (the plugin's default).

await onRealNode(t, 'the Helm chart on a real node', chartOnNode, 15 * 60_000);

async function chartOnNode(cluster: NodeCluster): Promise<void> {
  const { kubectl, batch } = cluster;
  const RELEASE_NS = 'git-events-runner';
  const NS = 'default';
  const work = await mkdtemp(join(tmpdir(), 'node-chart-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const helm = (args: readonly string[]) =>
    run(join(cluster.binDir, 'helm'), args, {
      env: {
        ...process.env,
        KUBECONFIG: cluster.kubeconfig,
        HELM_CONFIG_HOME: join(work, 'config'),
        HELM_CACHE_HOME: join(work, 'cache'),
        HELM_DATA_HOME: join(work, 'data'),
      },
    });
  const json = async <T>(args: readonly string[]) => JSON.parse(await kubectl([...args, '-o', 'json'])) as T;
  type Pod = {
    metadata: { name: string };
    spec: {
      serviceAccountName: string;
      securityContext?: Record<string, unknown>;
      containers: { securityContext?: Record<string, unknown> }[];
    };
    status: { phase: string; conditions?: { type: string; status: string }[] };
  };
  const ready = (p: Pod) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
  const podsOf = async (component: string) =>
    (await json<{ items: Pod[] }>(['get', 'pods', '-n', RELEASE_NS, '-l', `app.kubernetes.io/component=${component}`]))
      .items;

  await t.test('helm install: controller and admission server run as Pods', async (t) => {
    // The seed's Action names the service account git-events-runner-jobs: the chart makes it, with
    // what the cloner needs, in the release namespace and in the trigger namespace.
    const install = await helm([
      'install',
      'git-events-runner',
      join(repoRoot(), 'charts', 'git-events-runner'),
      '-n',
      RELEASE_NS,
      '--create-namespace',
      '--set',
      `rbac.triggerNamespaces={${NS}}`,
      '--set',
      'actionJobs.serviceAccount.name=git-events-runner-jobs',
      '--wait',
      '--timeout',
      '5m',
    ]);
    t.equal(
      install.code,
      0,
      `helm install:\n${install.stdout}${install.stderr}\n${install.code === 0 ? '' : await cluster.diagnostics()}`,
    );
    const controllers = await podsOf('controller');
    const admission = await podsOf('admission');
    t.equal(controllers.filter(ready).length, 2, 'two controller replicas Ready');
    t.equal(admission.filter(ready).length, 2, 'two admission replicas Ready');
    for (const pod of [...controllers, ...admission]) {
      t.match(
        pod.spec.securityContext,
        { runAsNonRoot: true, runAsUser: 65532 },
        `${pod.metadata.name}: Pod security context`,
      );
      t.match(
        pod.spec.containers[0]?.securityContext,
        { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
        `${pod.metadata.name}: container security context`,
      );
    }
    t.not(controllers[0]?.spec.serviceAccountName, admission[0]?.spec.serviceAccountName, 'separate service accounts');
    // One replica leads: the Lease names one of the two Pods.
    let holder = '';
    for (let i = 0; i < 60 && holder === ''; i++) {
      holder = (
        await kubectl([
          'get',
          'lease',
          '-n',
          RELEASE_NS,
          'git-events-runner-leader-lock',
          '-o',
          'jsonpath={.spec.holderIdentity}',
        ]).catch(() => '')
      ).trim();
      if (holder === '') await sleep(1000);
    }
    t.ok(
      controllers.some((p) => holder.includes(p.metadata.name)),
      `the leader Lease is held by a controller Pod (${holder})`,
    );
  });

  await t.test('kube-apiserver reaches the admission webhooks through the chart Service', async (t) => {
    const trigger = (interval: string) =>
      stringify({
        apiVersion: 'git-events-runner.rs/v1alpha1',
        kind: 'ScheduleTrigger',
        metadata: { name: 'admission-probe', namespace: NS },
        spec: {
          sources: { kind: 'GitRepo', names: ['nothing'] },
          schedule: { interval },
          action: { kind: 'Action', name: 'nothing' },
        },
      });
    // A GitRepo may not read a Secret of another namespace (admission's own rule, not the CRD's).
    const denied = await run(
      join(cluster.binDir, 'kubectl'),
      ['--kubeconfig', cluster.kubeconfig, 'apply', '-f', '-'],
      {
        input: stringify({
          apiVersion: 'git-events-runner.rs/v1alpha1',
          kind: 'GitRepo',
          metadata: { name: 'admission-probe', namespace: NS },
          spec: {
            repoUri: 'https://git.example.com/x.git',
            authConfig: { type: 'basic', secretRef: { name: 'creds', namespace: 'elsewhere' } },
          },
        }),
      },
    );
    t.not(denied.code, 0, "a GitRepo reading another namespace's Secret is refused");
    t.match(denied.stderr, /admission webhook .* denied the request/, 'by the validating webhook');
    t.match(denied.stderr, /spec\.authConfig\.secretRef\.namespace/, 'naming the field');
    await kubectl(['apply', '-f', '-'], trigger('90s'));
    const stored = await kubectl([
      'get',
      'scheduletrigger',
      'admission-probe',
      '-n',
      NS,
      '-o',
      'jsonpath={.spec.schedule.interval}',
    ]);
    t.equal(stored.trim(), '1m30s', 'the mutating webhook wrote the canonical interval');
    await kubectl(['delete', 'scheduletrigger', 'admission-probe', '-n', NS]);
  });

  await t.test("the seed's examples end to end through the chart", async (t) => {
    const password = `pw-${randomBytes(12).toString('hex')}`;
    const webhookToken = `tok-${randomBytes(12).toString('hex')}`;
    const servers = await startGitServers({
      host: cluster.network.hostIp,
      auth: { basic: { username: 'deployer', password } },
      ssh: false,
      daemon: false,
    });
    t.teardown(() => servers.stop());
    await servers.fixtures.create('cool-project');
    const first = (await servers.fixtures.commit('cool-project', seedProjectFiles('one'), 'first')).trim();
    const docs = [
      ...seedPrerequisites({
        namespace: NS,
        username: 'deployer',
        password,
        caCert: servers.https.caCert,
        webhookToken,
        serviceAccount: false,
      }),
      await seedGitRepo(servers.urls.https('cool-project')),
      await seedExample('action.yaml'),
      await seedExample('scheduletrigger.yaml'),
      await seedExample('webhooktrigger.yaml'),
    ];
    await kubectl(['apply', '-f', '-'], docs.map((d) => stringify(d)).join('---\n'));

    const finishedJob = async (trigger: string, commit: string): Promise<V1Job> => {
      const deadline = Date.now() + 240_000;
      for (;;) {
        const job = (await batch.listNamespacedJob({ namespace: NS })).items.find(
          (j) =>
            j.metadata?.labels?.['git-events-runner.rs/trigger-name'] === trigger &&
            j.metadata?.annotations?.['git-events-runner.rs/commit'] === commit &&
            (j.status?.conditions ?? []).some(
              (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
            ),
        );
        if (job !== undefined) return job;
        if (Date.now() > deadline) throw new Error(`no finished Job of ${trigger}\n${await cluster.diagnostics()}`);
        await sleep(1000);
      }
    };
    const workerLog = async (job: V1Job) =>
      (
        await run(join(cluster.binDir, 'kubectl'), [
          '--kubeconfig',
          cluster.kubeconfig,
          'logs',
          '-n',
          NS,
          `job/${job.metadata?.name}`,
          '-c',
          'action-worker',
        ])
      ).stdout;
    const job = await finishedJob('cool-trigger', first);
    t.equal(job.status?.succeeded, 1, `the ScheduleTrigger's Job succeeded\n${await workerLog(job)}`);
    t.match(await workerLog(job), /Has been successfully deployed/);
    const release = await helm(['status', 'cool-project-repo', '-n', NS, '-o', 'json']);
    t.match(JSON.parse(release.stdout || '{}'), { info: { status: 'deployed' } }, 'the Helm release of deploy.sh');

    // The plugin's default path: API server service proxy -> the chart's webhook Service -> a replica.
    const plugin = await kubectlPlugin(t, cluster.binDir, cluster.kubeconfig);
    const fired = await plugin(['fire', '-n', NS, 'coll-trigger', '--wait', '--timeout', '4m']);
    t.equal(
      fired.code,
      0,
      `kubectl git-events fire --wait through the chart's Service:\n${fired.stdout}${fired.stderr}`,
    );
    t.match(fired.stdout, /job\.batch\/run-deploy-sh-[0-9a-f]+: Succeeded/, 'the Job it started succeeded');
    const status = await plugin(['status', '-n', NS]);
    t.match(status.stdout, /cool-trigger/, 'kubectl git-events status lists the triggers');
  });

  await t.test("no Secret value in the chart Pods' logs", async (t) => {
    const logs: { where: string; text: string }[] = [];
    for (const component of ['controller', 'admission']) {
      for (const pod of await podsOf(component)) {
        const r = await run(join(cluster.binDir, 'kubectl'), [
          '--kubeconfig',
          cluster.kubeconfig,
          'logs',
          '-n',
          RELEASE_NS,
          pod.metadata.name,
        ]);
        t.equal(r.code, 0, `logs of ${pod.metadata.name}`);
        logs.push({ where: `logs of Pod ${pod.metadata.name}`, text: r.stdout });
      }
    }
    t.ok(
      logs.some((l) => l.text.length > 0),
      'the Pods logged something',
    );
    t.same(findLeaks(await secretValues(cluster.kc), logs), [], 'no leak');
  });
}

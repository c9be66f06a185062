import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { stringify } from 'yaml';
import { clusterController } from '../src/app-cluster.js';
import { startGitServers } from '../src/git-servers.js';
import { run } from '../src/index.js';
import { type NodeCluster, onRealNode } from '../src/node-cluster.js';
import { finished, nodeJobs, succeeded } from '../src/node-jobs.js';
import { kubectlPlugin } from '../src/plugin.js';
import { BROKEN_TEMPLATE, seedExample, seedGitRepo, seedPrerequisites, seedProjectFiles } from '../src/seed-project.js';

// The seed's typical flow on a real node (kubelet + containerd running the project's images): a
// repository with deploy.sh and a chart, the seed's GitRepo, ScheduleTrigger, WebhookTrigger and Action
// as written (the repository's address, the CA of its HTTPS server and the webhook Secret are the only
// additions), the controller as a process. The Job's init container clones the commit, the worker runs
// `./deploy.sh ./chart/` with the seed's environment, and deploy.sh runs `helm upgrade --install` against
// the same cluster with the Job's service account.

await onRealNode(t, 'the seed flow on a real node', flow);

async function flow(cluster: NodeCluster): Promise<void> {
  const { kubectl } = cluster;
  const password = `pw-${randomBytes(12).toString('hex')}`;
  const webhookToken = `tok-${randomBytes(12).toString('hex')}`;
  const servers = await startGitServers({
    host: cluster.network.hostIp,
    auth: { basic: { username: 'deployer', password } },
    ssh: false,
    daemon: false,
  });
  t.teardown(() => servers.stop());
  const fx = servers.fixtures;
  await fx.create('cool-project');

  const first = (await fx.commit('cool-project', seedProjectFiles('one'), 'first')).trim();

  const NS = 'default';
  const yaml = (docs: unknown[]) => docs.map((d) => stringify(d)).join('---\n');
  await kubectl(
    ['apply', '-f', '-'],
    yaml([
      ...seedPrerequisites({
        namespace: NS,
        username: 'deployer',
        password,
        caCert: servers.https.caCert,
        webhookToken,
        serviceAccount: true,
      }),
      await seedGitRepo(servers.urls.https('cool-project')),
      await seedExample('action.yaml'),
    ]),
  );
  const { base } = await clusterController(t, cluster, []);

  const helm = async (args: readonly string[]) =>
    run(join(cluster.binDir, 'helm'), args, {
      env: {
        ...process.env,
        KUBECONFIG: cluster.kubeconfig,
        HELM_CONFIG_HOME: join(tmpdir(), 'ger-node-flow-helm', 'config'),
        HELM_CACHE_HOME: join(tmpdir(), 'ger-node-flow-helm', 'cache'),
      },
    });

  const jobs = nodeJobs(cluster);
  const jobsOf = (trigger: string) => jobs.jobsOf(NS, trigger);
  const jobFor = (trigger: string, commit: string) => jobs.jobFor(NS, trigger, commit);
  const { logsOf, podLogs } = jobs;
  /** "Run now" on the seed's ScheduleTrigger: its next check runs at once, not in 5 minutes. */
  const runNow = () =>
    kubectl([
      'annotate',
      '--overwrite',
      '-n',
      NS,
      'scheduletrigger',
      'cool-trigger',
      `git-events-runner.rs/run-requested-at=${Date.now()}`,
    ]);
  const configRevision = async () =>
    (
      await kubectl(['get', 'configmap', 'cool-project-repo-config', '-n', NS, '-o', 'jsonpath={.data.revision}'])
    ).trim();

  await t.test('ScheduleTrigger: the Job clones the commit and deploy.sh deploys the chart with helm', async (t) => {
    await kubectl(['apply', '-f', '-'], stringify(await seedExample('scheduletrigger.yaml')));
    // The first check of a source counts as a change: one Job for the commit main is at.
    const job = await jobFor('cool-trigger', first);
    t.ok(succeeded(job), `Job ${job.metadata?.name} succeeded\n${await podLogs(job)}`);
    const out = await logsOf(job, 'action-worker');
    t.match(out, /Has been successfully deployed/, 'deploy.sh says so');
    const release = await helm(['status', 'cool-project-repo', '-n', NS, '-o', 'json']);
    t.equal(release.code, 0, `helm status: ${release.stderr}`);
    t.match(JSON.parse(release.stdout || '{}'), {
      name: 'cool-project-repo',
      info: { status: 'deployed' },
      version: 1,
    });
    t.equal(await configRevision(), 'one', "the release has the first commit's values");
    const pod = JSON.parse(
      await kubectl(['get', 'pods', '-n', NS, '-l', `job-name=${job.metadata?.name}`, '-o', 'json']),
    ) as {
      items: { spec: { serviceAccountName: string; containers: { env: { name: string; value: string }[] }[] } }[];
    };
    t.equal(pod.items[0]?.spec.serviceAccountName, 'git-events-runner-jobs', "the Job's service account");
    const env = Object.fromEntries((pod.items[0]?.spec.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
    t.match(env, {
      TRIGGER_SOURCE_NAME: 'cool-project-repo',
      TRIGGER_SOURCE_COMMIT: first,
      TRIGGER_SOURCE_REF_NAME: 'main',
      TRIGGER_KIND: 'ScheduleTrigger',
      TRIGGER_NAME: 'cool-trigger',
    });

    // A commit on main, then "run now": the next Job deploys exactly that commit's content.
    const second = (await fx.commit('cool-project', { 'configs/values.yaml': 'revision: two\n' }, 'second')).trim();
    await runNow();
    const job2 = await jobFor('cool-trigger', second);
    t.ok(succeeded(job2), `Job ${job2.metadata?.name} succeeded`);
    t.equal(await configRevision(), 'two', "the release has the second commit's values");
    const release2 = JSON.parse((await helm(['status', 'cool-project-repo', '-n', NS, '-o', 'json'])).stdout || '{}');
    t.equal(release2.version, 2, 'helm upgraded the release');
  });

  await t.test('a failing deploy.sh: a Failed Job, and the trigger says so', async (t) => {
    // A values file the chart cannot render: helm fails, deploy.sh prints its failure and exits 1.
    const broken = (await fx.commit('cool-project', BROKEN_TEMPLATE, 'broken')).trim();
    await runNow();
    const job = await jobFor('cool-trigger', broken);
    t.notOk(succeeded(job), 'the Job failed');
    t.match(await logsOf(job, 'action-worker'), /Something went wrong/);
    const status = async () =>
      JSON.parse(await kubectl(['get', 'scheduletrigger', 'cool-trigger', '-n', NS, '-o', 'json'])) as {
        status?: { checkedSources?: Record<string, { lastJob?: { name?: string; phase?: string } }> };
      };
    let last: { name?: string; phase?: string } | undefined;
    for (let i = 0; i < 60; i++) {
      last = (await status()).status?.checkedSources?.['cool-project-repo']?.lastJob;
      if (last?.phase === 'Failed') break;
      await sleep(500);
    }
    t.match(last, { name: job.metadata?.name, phase: 'Failed' }, "the trigger's status names the failed Job");
    const events = await kubectl([
      'get',
      'events',
      '-n',
      NS,
      '--field-selector',
      'involvedObject.name=cool-trigger,reason=JobFailed',
      '-o',
      'jsonpath={.items[*].message}',
    ]);
    t.match(events, job.metadata?.name ?? '', 'a JobFailed Event names the Job');
    // Back to a good chart for the next test.
    await fx.commit('cool-project', { 'chart/templates/broken.yaml': null }, 'fixed');
  });

  await t.test(
    'WebhookTrigger fired by kubectl git-events fire --wait: returns when the Job ends, with its result',
    async (t) => {
      await kubectl(['apply', '-f', '-'], stringify(await seedExample('webhooktrigger.yaml')));
      const plugin = await kubectlPlugin(t, cluster.binDir, cluster.kubeconfig);
      const fire = (extra: readonly string[]) =>
        plugin(['fire', '-n', NS, 'coll-trigger', '--url', base, '--wait', '--timeout', '4m', ...extra]);
      const head = (await fx.resolve('cool-project', 'main')).trim();
      const before = (await jobsOf('coll-trigger')).length;
      const ok = await fire([]);
      t.equal(ok.code, 0, `fire --wait exits 0 when the Job succeeds:\n${ok.stdout}${ok.stderr}`);
      const jobs = await jobsOf('coll-trigger');
      t.equal(jobs.length, before + 1, 'one Job');
      const job = jobs.at(-1);
      t.ok(job !== undefined && finished(job) && succeeded(job), 'the Job had finished when fire returned');
      t.match(ok.stdout, job?.metadata?.name ?? '', 'fire names the Job');
      t.equal(job?.metadata?.annotations?.['git-events-runner.rs/commit'], head, 'the commit main is at');
      if (job !== undefined) t.match(await logsOf(job, 'action-worker'), /Has been successfully deployed/);

      await fx.commit('cool-project', BROKEN_TEMPLATE, 'broken again');
      const bad = await fire([]);
      t.equal(bad.code, 1, `fire --wait exits 1 when the Job fails:\n${bad.stdout}${bad.stderr}`);
      t.match(`${bad.stdout}${bad.stderr}`, /[Ff]ailed/, 'and says the Job failed');
      await fx.commit('cool-project', { 'chart/templates/broken.yaml': null }, 'fixed again');
    },
  );
}

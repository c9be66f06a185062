import { spawn } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { alive, eventually, kubectlOk, repoRoot, run, testCluster } from '../src/index.js';
import { nodeUnavailable } from '../src/node-cluster.js';

// `npm run dev` (the main job): starts everything, prints what to try, and Ctrl-C stops it all.

const { binDir } = testCluster();
// A real node by default; where none can run, the demo is started with --no-node (and says so).
const noNode = nodeUnavailable();
if (noNode !== undefined) t.comment(`no real node here (${noNode}): the demo runs with --no-node`);
const stateDir = join(await mkdtemp(join(tmpdir(), 'ger-dev-test-')), 'state');

t.test('npm run dev: control plane, admission, controller, demo repository, examples; SIGINT stops all', async (t) => {
  t.setTimeout(8 * 60_000);
  const child = spawn(
    process.execPath,
    [
      join(repoRoot(), 'e2e', 'dist', 'src', 'cli.js'),
      'dev',
      '--state-dir',
      stateDir,
      ...(noNode === undefined ? [] : ['--no-node']),
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await eventually(
    async () => out,
    (o) => o.includes('Ctrl-C stops everything') || child.exitCode !== null,
    300_000,
  );
  t.match(
    out,
    /export KUBECONFIG=\S+/,
    out.includes('KUBECONFIG') ? 'prints KUBECONFIG' : `no KUBECONFIG; stderr: ${err.slice(-800)}`,
  );
  const kubeconfig = /export KUBECONFIG=(\S+)/.exec(out)?.[1] ?? '';
  const webhook = /curl -X POST -H 'x-trigger-auth: (\S+)' (\S+)/.exec(out);
  t.ok(webhook, 'prints a curl line for the webhook');
  t.match(out, /kubectl git-events status/);

  const kubectl = (args: string[]) => kubectlOk(binDir, kubeconfig, args);
  t.match(await kubectl(['get', 'git-events', '-n', 'demo', '-o', 'name']), /scheduletrigger.*cool-trigger/);
  const jobs = await eventually(
    () => kubectl(['get', 'jobs', '-n', 'demo', '-o', 'name']),
    (s) => s.trim().length > 0,
    30_000,
  );
  t.match(jobs, /^job\.batch\/run-deploy-sh-/m, 'the ScheduleTrigger ran the demo repository');
  if (noNode === undefined) {
    // The Job runs on the node, and the printed way to read its log works.
    const job = jobs.trim().split('\n')[0] ?? '';
    await kubectlOk(binDir, kubeconfig, ['wait', '-n', 'demo', '--for=condition=Complete', '--timeout=180s', job]);
    t.match(out, /kubectl logs -n demo job\//, "prints how to read a Job's log");
    const logs = await kubectl(['logs', '-n', 'demo', job]);
    t.match(logs, /deploying [0-9a-f]{40} of cool-project-repo from \.\/chart\//, "the Job's worker ran deploy.sh");
    t.match(logs, /values\.yaml/, 'in the cloned repository');
    t.match(out, /A real node/, 'says a real node runs the Jobs');
  } else {
    t.match(out, /There is no node \(--no-node\)/, 'says Jobs do not run');
  }
  // The printed `fire`, run as printed with the printed PATH: as root (CI) it goes through the API server's
  // service proxy to the chart's webhook Service, with no --url.
  const fire = /^ {2}(kubectl git-events fire coll-trigger .*)$/m.exec(out)?.[1] ?? '';
  const pathLine = /export PATH=(\S+):\$PATH/.exec(out)?.[1] ?? '';
  if (process.getuid?.() === 0) t.notMatch(fire, /--url/, `the printed fire needs no --url: ${fire}`);
  t.ok(fire !== '' && pathLine !== '', 'prints the fire command and the PATH line');
  const fired = await run('sh', ['-c', fire], {
    env: { PATH: `${pathLine}:/usr/local/bin:/usr/bin:/bin`, KUBECONFIG: kubeconfig, HOME: stateDir },
  });
  t.equal(fired.code, 0, `${fire}: ${fired.stderr}`);
  t.match(fired.stdout, /coll-trigger fired \(.*\): task \S+/, 'prints the task it started');
  if (noNode === undefined) t.match(fired.stdout, /Succeeded/, '--wait followed its Job to the end');

  const webhooks = await kubectl(['get', 'validatingwebhookconfigurations', '-o', 'name']);
  t.match(webhooks, /git-events-runner-validating/, 'the admission webhooks are registered');
  const res = await fetch(`${webhook?.[2]}`, { method: 'POST', headers: { 'x-trigger-auth': webhook?.[1] ?? '' } });
  t.equal(res.status, 202, 'the printed webhook call works');

  const state = JSON.parse(await readFile(join(stateDir, 'cluster', 'state.json'), 'utf8')) as { pids: number[] };
  child.kill('SIGINT');
  t.equal(await exited, 0, 'Ctrl-C exits 0');
  t.match(err, /stopped/);
  t.ok(
    state.pids.every((pid) => !alive(pid)),
    'etcd and kube-apiserver are gone',
  );
});

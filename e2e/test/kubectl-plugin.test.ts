import { execFile, spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { API_VERSION, GROUP, VERSION } from '@git-events-runner/shared';
import { BatchV1Api, CustomObjectsApi, RbacAuthorizationV1Api, type V1Job } from '@kubernetes/client-node';
import t, { type Test } from 'tap';
import { parse, stringify } from 'yaml';
import { startGitServers } from '../src/git-servers.js';
import {
  addLoopbackAddress,
  completedJobStatus,
  eventually,
  exposeWebhookService,
  isolatedCluster,
  mintKubeconfig,
  repoRoot,
  run,
  startControllerProcess,
  WEBHOOK_SERVICE,
} from '../src/index.js';

// `kubectl git-events` (the built plugin, found by the kubectl built here on PATH as kubectl-git_events)
// against its own control plane, a running controller and a real git server. The controller's webhook
// server listens on a TEST-NET-1 address added to the loopback interface, behind a Service, an Endpoints
// object and a Pod whose status carries that address: kube-apiserver's service proxy only forwards to
// endpoints that are Pods with that IP, never to 127.0.0.0/8, so this is how the proxy route is tested
// without a kubelet. Jobs never run here: the tests complete them through the status subresource.

const execFileP = promisify(execFile);
const ESC = '\u001b';
const plane = await isolatedCluster(t);
const { kc, core, kubectl } = plane;
const batch = kc.makeApiClient(BatchV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
const planeDir = dirname(plane.kubeconfig);

// ---------------------------------------------------------------- an address the service proxy accepts

const address = await addLoopbackAddress();
t.teardown(async () => {
  await address?.remove();
});
const HOST = address?.ip ?? '127.0.0.1';
const proxySkip = address === undefined ? 'cannot add an address to lo (needs root and iproute2)' : false;

// ---------------------------------------------------------------- git, controller, plugin on PATH

const servers = await startGitServers({ ssh: false, daemon: false });
t.teardown(() => servers.stop());
await servers.fixtures.create('app');
const first = await servers.fixtures.commit('app', { 'deploy.sh': 'echo deploy\n' }, 'first');

const controller = await startControllerProcess({
  kubeconfig: plane.kubeconfig,
  namespace: 'ger-system',
  host: HOST,
});
t.teardown(() => controller.stop('SIGKILL'));
const hooksUrl = `http://${HOST}:${controller.webhooksPort}`;

const work = await mkdtemp(join(tmpdir(), 'kubectl-plugin-'));
t.teardown(() => rm(work, { recursive: true, force: true }));
const pluginBin = join(work, 'bin');
const cli = join(repoRoot(), 'kubectl-plugin', 'dist', 'src', 'cli.js');
await execFileP('mkdir', ['-p', pluginBin]);
// npm makes a package's bin executable when it installs it; the build output here is not.
await chmod(cli, 0o755);
await symlink(cli, join(pluginBin, 'kubectl-git_events'));
// `#!/usr/bin/env node` must find Node 24: this test's own node goes first on PATH.
const PATH = [pluginBin, dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':');

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `kubectl git-events ARGS` through the kubectl built here. */
function plugin(args: readonly string[], options: { kubeconfig?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Ran> {
  return run(join(plane.binDir, 'kubectl'), ['git-events', ...args], {
    env: { PATH, HOME: work, KUBECONFIG: options.kubeconfig ?? plane.kubeconfig, ...options.env },
  });
}

/** Cells of a kubectl-style table, by the header's column positions. */
function table(text: string): Record<string, string>[] {
  const [header = '', ...lines] = text.split('\n').filter((l) => l.trim() !== '');
  const names = header.split(/\s{2,}/);
  const starts: number[] = [];
  let from = 0;
  for (const name of names) {
    const at = header.indexOf(name, from);
    starts.push(at);
    from = at + name.length;
  }
  return lines.map((line) =>
    Object.fromEntries(
      names.map((name, i) => [name, line.slice(starts[i], i + 1 < starts.length ? starts[i + 1] : undefined).trim()]),
    ),
  );
}

function oneLineError(t: Test, r: Ran, pattern: RegExp, what: string): void {
  t.equal(r.code, 1, `${what}: exit code 1`);
  t.equal(r.stderr.trimEnd().split('\n').length, 1, `${what}: one line on stderr: ${r.stderr}`);
  t.match(r.stderr, /^error: /, `${what}: kubectl's "error:" form`);
  t.match(r.stderr, pattern, `${what}: says why`);
  t.notMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
}

// ---------------------------------------------------------------- the webhook Service, as the chart names it

const SVC_NS = WEBHOOK_SERVICE.namespace;
if (address === undefined) await core.createNamespace({ body: { metadata: { name: SVC_NS } } });
else await exposeWebhookService(plane.binDir, plane.kubeconfig, { ip: HOST, port: controller.webhooksPort });

// ---------------------------------------------------------------- triggers in every state

const NS = 'kp';
const OTHER = 'kp-other';
const TOKEN = 'kp-tok-3f9a1c77';
const GH_SECRET = 'kp-gh-hmac-51e0';
for (const name of [NS, OTHER, 'kp-empty']) await core.createNamespace({ body: { metadata: { name } } });
await core.createNamespacedSecret({
  namespace: NS,
  body: { metadata: { name: 'hook-auth' }, stringData: { token: TOKEN } },
});
await core.createNamespacedSecret({
  namespace: NS,
  body: { metadata: { name: 'gh' }, stringData: { secret: GH_SECRET } },
});
const obj = (kind: string, namespace: string, name: string, spec: unknown) =>
  stringify({ apiVersion: API_VERSION, kind, metadata: { name, namespace }, spec });
const action = { kind: 'Action', name: 'act' };
await kubectl(
  ['apply', '-f', '-'],
  [
    obj('GitRepo', NS, 'src', { repoUri: servers.urls.http('app') }),
    obj('GitRepo', NS, 'broken', { repoUri: servers.urls.http('missing-repo') }),
    obj('Action', NS, 'act', {}),
    obj('ScheduleTrigger', NS, 'healthy', { sources: { names: ['src'] }, schedule: { interval: '1h' }, action }),
    obj('ScheduleTrigger', NS, 'failing', { sources: { names: ['broken'] }, schedule: { interval: '1h' }, action }),
    obj('ScheduleTrigger', NS, 'paused', {
      suspend: true,
      sources: { names: ['src'] },
      schedule: { cron: '0 3 * * *', timeZone: 'Europe/Paris' },
      action,
    }),
    obj('ScheduleTrigger', NS, 'nightly', {
      sources: { names: ['src'], watchOn: { onChangeOnly: false } },
      schedule: { interval: '1h' },
      action,
    }),
    obj('WebhookTrigger', NS, 'hook', {
      sources: { names: ['src'], watchOn: { onChangeOnly: false } },
      action,
      webhook: { authConfig: { secretRef: { name: 'hook-auth' }, key: 'token' } },
    }),
    obj('WebhookTrigger', NS, 'gh', {
      sources: { names: ['src'], watchOn: { onChangeOnly: false } },
      action,
      webhook: { multiSource: true, authConfig: { secretRef: { name: 'gh' }, key: 'secret', provider: 'github' } },
    }),
    obj('GitRepo', OTHER, 'src', { repoUri: servers.urls.http('app') }),
    obj('ScheduleTrigger', OTHER, 'elsewhere', {
      suspend: true,
      sources: { names: ['src'] },
      schedule: { interval: '1h' },
      action,
    }),
  ].join('---\n'),
);

await kubectl(['-n', NS, 'label', 'webhooktriggers', 'hook', 'team=web']);

type Status = {
  lastRun?: string;
  checkedSources?: Record<
    string,
    { commitHash?: string; lastJob?: { name: string; phase: string }; lastError?: unknown }
  >;
  conditions?: { type: string; status: string; reason: string }[];
};
async function triggerObject(name: string, plural = 'scheduletriggers', namespace = NS) {
  return (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, name })) as {
    metadata: { annotations?: Record<string, string> };
    status?: Status;
  };
}
const reason = (s: Status | undefined) => s?.conditions?.find((c) => c.type === 'Ready')?.reason;

async function complete(job: V1Job): Promise<void> {
  await batch.replaceNamespacedJobStatus({
    name: job.metadata?.name ?? '',
    namespace: job.metadata?.namespace ?? '',
    body: { ...job, status: completedJobStatus(new Date().toISOString()) },
  });
}

async function jobsOf(trigger: string): Promise<V1Job[]> {
  return (
    await batch.listNamespacedJob({ namespace: NS, labelSelector: `git-events-runner.rs/trigger-name=${trigger}` })
  ).items;
}

/** Waits for a Job of the trigger that is not in `known`, and completes it. */
async function completeNextJob(trigger: string, known: ReadonlySet<string>): Promise<string> {
  const jobs = await eventually(
    () => jobsOf(trigger),
    (js) => js.some((j) => !known.has(j.metadata?.name ?? '')),
    30_000,
  );
  const job = jobs.find((j) => !known.has(j.metadata?.name ?? ''));
  if (job === undefined) throw new Error(`no new Job for ${trigger}`);
  await complete(job);
  return job.metadata?.name ?? '';
}

// The first checks: healthy starts a Job (first commit seen), failing cannot reach its repository, paused waits.
const healthy = await eventually(
  () => triggerObject('healthy'),
  (o) => o.status?.checkedSources?.src?.lastJob !== undefined,
  30_000,
);
const healthyJob = healthy.status?.checkedSources?.src?.lastJob?.name ?? '';
await completeNextJob('healthy', new Set());
await eventually(
  () => triggerObject('healthy'),
  (o) => o.status?.checkedSources?.src?.lastJob?.phase === 'Succeeded',
  30_000,
);
await eventually(
  () => triggerObject('failing'),
  (o) => reason(o.status) === 'CheckFailed',
  30_000,
);
await eventually(
  () => triggerObject('paused'),
  (o) => reason(o.status) === 'Suspended',
  30_000,
);
const nightlyFirst = await eventually(
  () => triggerObject('nightly'),
  (o) => o.status?.lastRun !== undefined && o.status.lastRun !== 'Never',
  30_000,
);
t.ok(nightlyFirst.status?.lastRun, 'nightly ran once at start');

// ---------------------------------------------------------------- status

t.test('status: an empty namespace', async (t) => {
  const r = await plugin(['status', '-n', 'kp-empty']);
  t.equal(r.code, 0);
  t.equal(r.stdout, '', 'nothing on stdout');
  t.equal(r.stderr, 'No triggers found in kp-empty namespace.\n', "kubectl's wording on stderr");
  const json = await plugin(['status', '-n', 'kp-empty', '-o', 'json']);
  t.equal(json.code, 0);
  t.same(JSON.parse(json.stdout), { kind: 'TriggerStatusList', items: [] }, 'an empty list in JSON');
});

t.test('status: the cells of healthy, failing, suspended and webhook triggers', async (t) => {
  const r = await plugin(['status', '-n', NS]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stderr, '', 'no notes for an admin');
  t.notOk(r.stdout.includes(ESC), 'no colour when stdout is not a terminal');
  const rows = table(r.stdout);
  t.same(
    Object.keys(rows[0] ?? {}),
    [
      'KIND',
      'NAME',
      'STATE',
      'READY',
      'SCHEDULE/HOOK',
      'LAST RUN',
      'SOURCE',
      'REF',
      'COMMIT',
      'CHANGED',
      'LAST JOB',
      'PHASE',
    ],
    'columns',
  );
  const row = (name: string) => rows.find((x) => x.NAME === name) ?? {};
  t.same(
    rows.map((x) => `${x.KIND}/${x.NAME}`),
    ['Schedule/failing', 'Schedule/healthy', 'Schedule/nightly', 'Schedule/paused', 'Webhook/gh', 'Webhook/hook'],
    'one row per source, sorted by kind and name',
  );
  const h = row('healthy');
  t.equal(h.STATE, 'Idle');
  t.equal(h.READY, 'Checked');
  t.equal(h['SCHEDULE/HOOK'], 'every 1h');
  t.match(h['LAST RUN'], /^\d+s ago$/);
  t.equal(h.SOURCE, 'src');
  t.equal(h.REF, 'branch:main');
  t.equal(h.COMMIT, first.slice(0, 7), 'short commit');
  t.match(h.CHANGED, /^\d+s ago$/);
  t.equal(h['LAST JOB'], healthyJob);
  t.equal(h.PHASE, 'Succeeded', 'the Job completed through the status subresource');
  const f = row('failing');
  t.equal(f.READY, 'CheckFailed');
  t.equal(f.SOURCE, 'broken');
  t.equal(f.COMMIT, '<none>');
  t.equal(f['LAST JOB'], '<none>');
  t.equal(f.PHASE, '<none>');
  const p = row('paused');
  t.equal(p.STATE, 'Suspended');
  t.equal(p.READY, 'Suspended');
  t.equal(p['SCHEDULE/HOOK'], '0 3 * * * (Europe/Paris)');
  const w = row('hook');
  t.equal(w.KIND, 'Webhook');
  t.equal(w['SCHEDULE/HOOK'], `/${NS}/hook/src`, 'the webhook path of the source');

  const wide = await plugin(['status', '-n', NS, '-o', 'wide']);
  t.equal(wide.code, 0);
  const wrows = table(wide.stdout);
  t.same(
    Object.keys(wrows[0] ?? {}).slice(-5),
    ['ACTION', 'POLICY', 'JOB DURATION', 'ERROR', 'MESSAGE'],
    'wide adds columns',
  );
  const wf = wrows.find((x) => x.NAME === 'failing') ?? {};
  t.equal(wf.ACTION, 'Action/act');
  t.equal(wf.POLICY, 'Allow');
  t.match(wf.ERROR, /^\w+: /, 'the source error: reason and message');
  t.match(wf.MESSAGE, /broken/, 'the Ready message names the source');
  t.equal(wrows.find((x) => x.NAME === 'healthy')?.['JOB DURATION'], '0s');
});

t.test(
  'status: colour on a terminal only, never with NO_COLOR',
  { skip: !(await hasScript()) && 'no script(1)' },
  async (t) => {
    // script(1) gives the plugin a pseudo-terminal as stdout.
    const tty = (env: Record<string, string>) =>
      run('script', ['-qec', `kubectl git-events status -n ${NS}`, '/dev/null'], {
        env: { PATH: `${plane.binDir}:${PATH}`, HOME: work, KUBECONFIG: plane.kubeconfig, TERM: 'xterm', ...env },
      });
    const coloured = await tty({});
    t.equal(coloured.code, 0);
    t.ok(coloured.stdout.includes(`${ESC}[32mChecked${ESC}[39m`), 'Ready in green on a terminal');
    const plain = await tty({ NO_COLOR: '1' });
    t.equal(plain.code, 0);
    t.match(plain.stdout, /Checked/);
    t.notOk(plain.stdout.includes(`${ESC}[3`), 'NO_COLOR: no colour');
  },
);

async function hasScript(): Promise<boolean> {
  return execFileP('script', ['--version']).then(
    () => true,
    () => false,
  );
}

t.test('status: json and yaml carry the same data and parse', async (t) => {
  const json = await plugin(['status', '-n', NS, '-o', 'json']);
  const yaml = await plugin(['status', '-n', NS, '-o', 'yaml']);
  t.equal(json.code, 0);
  t.equal(yaml.code, 0);
  const fromJson = JSON.parse(json.stdout) as { kind: string; items: Record<string, unknown>[] };
  t.same(parse(yaml.stdout), fromJson, 'YAML and JSON round-trip to the same value');
  t.equal(fromJson.kind, 'TriggerStatusList');
  const h = fromJson.items.find((i) => i.name === 'healthy') as {
    state: string;
    ready: { status: string; reason: string };
    schedule: { interval: string };
    sources: { name: string; commit: string; lastJob: { name: string; phase: string; phaseFrom: string } }[];
  };
  t.equal(h.state, 'Idle');
  t.same(h.ready.status, 'True');
  t.equal(h.schedule.interval, '1h');
  t.equal(h.sources[0]?.commit, first, 'the full commit in JSON');
  t.same(h.sources[0]?.lastJob, { ...h.sources[0]?.lastJob, name: healthyJob, phase: 'Succeeded', phaseFrom: 'job' });
  t.notMatch(json.stdout, new RegExp(`${TOKEN}|${GH_SECRET}`), 'no secret in the output');

  const one = await plugin(['status', '-n', NS, 'wtrig/hook', '-o', 'yaml']);
  t.equal(one.code, 0);
  const detail = parse(one.stdout) as {
    kind: string;
    name: string;
    webhook: unknown;
    events: unknown[];
    jobs: unknown[];
  };
  t.equal(detail.kind, 'WebhookTrigger', 'one trigger: the object itself');
  t.same(detail.webhook, {
    multiSource: false,
    auth: { provider: 'token', secretName: 'hook-auth', secretKey: 'token' },
  });
  t.ok(Array.isArray(detail.events) && Array.isArray(detail.jobs), 'with its Events and Jobs');

  oneLineError(t, await plugin(['status', '-n', NS, '-o', 'xml']), /unknown output format "xml"/, 'bad -o');
});

t.test('status: namespace, context and kubeconfig flags', async (t) => {
  // A kubeconfig whose context defaults to NS, and a second context for OTHER.
  const config = parse(await readFile(plane.kubeconfig, 'utf8')) as {
    contexts: { name: string; context: { namespace?: string } }[];
  };
  const base = config.contexts[0]!;
  config.contexts = [
    { name: 'kp', context: { ...base.context, namespace: NS } },
    { name: 'other', context: { ...base.context, namespace: OTHER } },
  ];
  const file = join(work, 'contexts.kubeconfig');
  await writeFile(file, stringify({ ...config, 'current-context': 'kp' }), { mode: 0o600 });
  const names = (r: Ran) =>
    table(r.stdout).map((x) => (x.NAMESPACE === undefined ? x.NAME : `${x.NAMESPACE}/${x.NAME}`));

  const fromContext = await plugin(['status'], { kubeconfig: file });
  t.equal(fromContext.code, 0, fromContext.stderr);
  t.ok(names(fromContext).includes('healthy'), "the context's namespace");
  const otherContext = await plugin(['status', '--context', 'other'], { kubeconfig: file });
  t.same(names(otherContext), ['elsewhere'], '--context switches cluster, user and namespace');
  const flagBefore = await plugin(['-n', OTHER, 'status'], { kubeconfig: file });
  t.same(names(flagBefore), ['elsewhere'], '-n before the command');
  const kubeconfigFlag = await plugin(['status', '--kubeconfig', file, '--namespace', OTHER], {
    kubeconfig: '/nonexistent',
  });
  t.same(names(kubeconfigFlag), ['elsewhere'], '--kubeconfig wins over KUBECONFIG');
  const all = await plugin(['status', '-A'], { kubeconfig: file });
  t.equal(all.code, 0);
  t.equal(table(all.stdout)[0]?.NAMESPACE !== undefined, true, '-A adds NAMESPACE');
  t.ok(names(all).includes(`${NS}/healthy`) && names(all).includes(`${OTHER}/elsewhere`), 'every namespace');
  const selected = await plugin(['status', '-n', NS, '-l', 'team=web']);
  t.same(names(selected), ['hook'], '-l selects by label');
  oneLineError(
    t,
    await plugin(['status', '--context', 'nope'], { kubeconfig: file }),
    /context "nope" does not exist/,
    'unknown context',
  );
  oneLineError(t, await plugin(['status', '-A', 'healthy']), /across all namespaces/, '-A with a name');
  oneLineError(
    t,
    await plugin(['status', '-n', NS, 'ghost']),
    /"ghost" not found in namespace "kp"/,
    'unknown trigger',
  );
});

t.test('status TRIGGER: the detailed view with Jobs and Events', async (t) => {
  const r = await plugin(['status', '-n', NS, 'healthy']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^Name:\s+healthy$/m);
  t.match(r.stdout, /^Kind:\s+ScheduleTrigger$/m);
  t.match(r.stdout, /^Ready:\s+True \(Checked\): 1 source\(s\) checked$/m);
  t.match(r.stdout, /^Schedule:\s+every 1h$/m);
  const jobs = r.stdout.slice(r.stdout.indexOf('Recent Jobs:'), r.stdout.indexOf('Events:'));
  t.match(
    jobs,
    new RegExp(`${healthyJob}\\s+src\\s+${first.slice(0, 7)}\\s+Succeeded`),
    'the Job, its source and phase',
  );
  const events = r.stdout.slice(r.stdout.indexOf('Events:'));
  t.match(events, /Normal\s+JobCreated\s+1\s+Job /, 'the JobCreated Event');
});

// ---------------------------------------------------------------- fire

/**
 * Runs `fire ... --wait` and completes the Job it follows once the plugin has reported it unfinished, so
 * the output must show the Job before and after it completed.
 */
async function followedFire(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ r: Ran; job: string }> {
  const child = spawn(join(plane.binDir, 'kubectl'), ['git-events', ...args], {
    env: { PATH, HOME: work, KUBECONFIG: plane.kubeconfig, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const done = new Promise<Ran>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  const seen = await eventually(
    async () => /job\.batch\/(\S+): (Queued|Running)\n/.exec(stdout)?.[1],
    (name) => name !== undefined || exited(),
    30_000,
  );
  if (seen === undefined) {
    child.kill('SIGKILL');
    const r = await done;
    return { r, job: '' };
  }
  await complete(await batch.readNamespacedJob({ namespace: NS, name: seen }));
  return { r: await done, job: seen };
}

t.test(
  'fire through the service proxy, token from the Secret; --wait sees the Job complete',
  { skip: proxySkip },
  async (t) => {
    const { r, job } = await followedFire(['fire', '-n', NS, 'hook', '--wait', '--timeout', '60s']);
    t.equal(r.code, 0, r.stderr);
    const id = /task ([0-9a-f-]{36})/.exec(r.stdout)?.[1];
    t.ok(id, 'prints the task id');
    t.match(r.stdout, `webhooktrigger.git-events-runner.rs/hook fired (source src): task ${id}`);
    t.match(r.stdout, `task ${id}: Succeeded`);
    t.match(
      r.stdout,
      new RegExp(`job\\.batch/${job}: (Queued|Running)\\n(.*\\n)*job\\.batch/${job}: Succeeded\\n`),
      'an unfinished phase, then Complete',
    );
    t.notMatch(r.stdout + r.stderr, TOKEN, 'the token is never printed');
  },
);

t.test('fire with --url and --token, --token-env; provider signatures', async (t) => {
  const direct = await plugin(['fire', '-n', NS, 'hook', '--url', hooksUrl, '--token', TOKEN, '-o', 'json']);
  t.equal(direct.code, 0, direct.stderr);
  const result = JSON.parse(direct.stdout) as { kind: string; taskId: string; source: string };
  t.equal(result.kind, 'WebhookTrigger');
  t.equal(result.source, 'src');
  t.match(result.taskId, /^[0-9a-f-]{36}$/);
  const task = await eventually(
    () =>
      fetch(`${hooksUrl}/tasks/${result.taskId}`, { headers: { 'x-trigger-auth': TOKEN } }).then(
        (x) => x.json() as Promise<{ state: string; jobs: string[] }>,
      ),
    (x) => x.state === 'Succeeded',
    20_000,
  );
  t.equal(task.jobs.length, 1, 'the webhook server ran the check and started a Job');

  const fromEnv = await plugin(['fire', '-n', NS, 'hook', '--url', hooksUrl, '--token-env', 'HOOK_TOKEN'], {
    env: { HOOK_TOKEN: TOKEN },
  });
  t.equal(fromEnv.code, 0, fromEnv.stderr);
  oneLineError(
    t,
    await plugin(['fire', '-n', NS, 'hook', '--url', hooksUrl, '--token-env', 'UNSET_VAR']),
    /UNSET_VAR: the environment variable is not set/,
    'unset --token-env',
  );
  // GitHub-style trigger: the plugin signs a push event with the secret read from the Secret.
  const signed = await plugin(['fire', '-n', NS, 'gh', '--url', hooksUrl]);
  t.equal(signed.code, 0, signed.stderr);
  t.match(signed.stdout, /fired \(every source\): task [0-9a-f-]{36}/, 'multi-source: every source');
});

t.test('fire with a wrong token: a clear error and exit 1', async (t) => {
  const wrong = await plugin(['fire', '-n', NS, 'hook', '--url', hooksUrl, '--token', 'not-the-token']);
  oneLineError(t, wrong, /refused the token .*403 forbidden/, 'wrong token');
  t.notMatch(wrong.stderr, /not-the-token/, 'the token is not echoed');
  if (proxySkip === false) {
    const proxied = await plugin(['fire', '-n', NS, 'hook', '--token', 'not-the-token']);
    oneLineError(t, proxied, /refused the token/, 'wrong token through the proxy');
  }
  oneLineError(
    t,
    await plugin(['fire', '-n', NS, 'hook', 'nosuch', '--url', hooksUrl]),
    /has no source "nosuch"/,
    'unknown source',
  );
  oneLineError(t, await plugin(['fire', '-n', NS, 'paused']), /is suspended/, 'suspended trigger');
  oneLineError(
    t,
    await plugin(['fire', '-n', NS, 'hook', '--service', 'kp/missing-svc']),
    /webhook Service kp\/missing-svc not found/,
    'missing Service',
  );
  oneLineError(
    t,
    await plugin(['fire', '-n', NS, 'hook', '--service', 'no-slash']),
    /invalid --service "no-slash"/,
    'bad --service',
  );
});

t.test('fire a ScheduleTrigger: the run-now annotation; --wait follows the run and its Job', async (t) => {
  const { r, job } = await followedFire(['fire', '-n', NS, 'strig/nightly', '--wait', '--timeout', '60s']);
  t.equal(r.code, 0, r.stderr);
  t.match(
    r.stdout,
    /scheduletrigger\.git-events-runner\.rs\/nightly run requested \(git-events-runner\.rs\/run-requested-at=/,
  );
  t.match(r.stdout, /: checked\n/);
  t.match(r.stdout, `job.batch/${job}: Succeeded\n`);
  const after = await triggerObject('nightly');
  t.equal(
    after.metadata.annotations?.['git-events-runner.rs/run-requested-at'],
    undefined,
    'the controller removed the request',
  );
});

// ---------------------------------------------------------------- users with fewer rights

t.test('users without rights get clear messages; readers of triggers only get a degraded view', async (t) => {
  const nobody = await mintKubeconfig(planeDir, 'nobody');
  const denied = await plugin(['status', '-n', NS], { kubeconfig: nobody });
  oneLineError(t, denied, /forbidden: User "nobody" cannot list resource/, 'status without rights');
  oneLineError(
    t,
    await plugin(['fire', '-n', NS, 'hook'], { kubeconfig: nobody }),
    /forbidden: User "nobody"/,
    'fire without rights',
  );

  await rbac.createNamespacedRole({
    namespace: NS,
    body: {
      metadata: { name: 'trigger-reader' },
      rules: [{ apiGroups: [GROUP], resources: ['scheduletriggers', 'webhooktriggers'], verbs: ['get', 'list'] }],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: NS,
    body: {
      metadata: { name: 'trigger-reader' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'trigger-reader' },
      subjects: [{ kind: 'User', name: 'reader', apiGroup: 'rbac.authorization.k8s.io' }],
    },
  });
  await rbac.createNamespacedRole({
    namespace: SVC_NS,
    body: {
      metadata: { name: 'hook-proxy' },
      rules: [{ apiGroups: [''], resources: ['services/proxy'], verbs: ['get', 'create'] }],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: SVC_NS,
    body: {
      metadata: { name: 'hook-proxy' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'hook-proxy' },
      subjects: [{ kind: 'User', name: 'reader', apiGroup: 'rbac.authorization.k8s.io' }],
    },
  });
  const reader = await mintKubeconfig(planeDir, 'reader');
  const status = await eventually(
    () => plugin(['status', '-n', NS], { kubeconfig: reader }),
    (r) => r.code === 0,
  );
  t.equal(status.code, 0, status.stderr);
  t.match(
    status.stderr,
    /^note: you may not list Jobs in namespace kp: phases are those last recorded on the triggers\n$/,
  );
  const h = table(status.stdout).find((x) => x.NAME === 'healthy');
  t.equal(h?.PHASE, 'Succeeded', 'the phase recorded on the trigger');
  const detail = await plugin(['status', '-n', NS, 'healthy'], { kubeconfig: reader });
  t.equal(detail.code, 0, detail.stderr);
  t.match(detail.stdout, /Recent Jobs:\n {2}<not shown: you may not list Jobs in this namespace>/);
  t.match(detail.stdout, /Events:\n {2}<not shown: you may not list Events in this namespace>/);

  oneLineError(
    t,
    await plugin(['fire', '-n', NS, 'hook'], { kubeconfig: reader }),
    /you may not read Secret kp\/hook-auth .*pass --token-env VAR/,
    'no Secret access and no token',
  );
  if (proxySkip === false) {
    const { r, job } = await followedFire(
      ['fire', '-n', NS, 'hook', '--token-env', 'T', '--wait', '--timeout', '60s', '--kubeconfig', reader],
      { T: TOKEN },
    );
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /following the phases recorded on the trigger/, 'Jobs unreadable: follows the trigger status');
    t.match(r.stdout, `job.batch/${job}: Succeeded\n`);
  }
});

import { readFile } from 'node:fs/promises';
import { API_VERSION } from '@git-events-runner/shared';
import fc from 'fast-check';
import t from 'tap';
import { stringify } from 'yaml';
import { appCluster, eventually, startControllerProcess } from '../src/index.js';
import { shippedController } from '../src/shipped.js';

// The webhook API against a running controller, its own control plane and a real git server.

const plane = await appCluster(t, { 'deploy.sh': 'echo\n' }, 'first');
const { core, kubectl, batch, servers } = plane;
const controller = await startControllerProcess({ kubeconfig: plane.kubeconfig, namespace: 'ger-system' });
t.teardown(() => controller.stop('SIGKILL'));
const base = `http://127.0.0.1:${controller.webhooksPort}`;

const ns = 'hooks';
const TOKEN = 'tok-8Jq2-webhook';
await core.createNamespace({ body: { metadata: { name: ns } } });
await core.createNamespacedSecret({
  namespace: ns,
  body: { metadata: { name: 'hook-auth' }, stringData: { token: TOKEN } },
});
const obj = (kind: string, name: string, spec: unknown) =>
  stringify({ apiVersion: API_VERSION, kind, metadata: { name, namespace: ns }, spec });
const auth = { secretRef: { name: 'hook-auth' }, key: 'token' };
await core.createNamespacedSecret({
  namespace: ns,
  body: { metadata: { name: 'gh' }, stringData: { secret: 'gh-hmac-secret' } },
});
await kubectl(
  ['apply', '-f', '-'],
  [
    obj('WebhookTrigger', 'github', {
      sources: { names: ['src'], watchOn: { onChangeOnly: false, reference: { branch: 'main' } } },
      action: { kind: 'Action', name: 'act' },
      webhook: { multiSource: true, authConfig: { secretRef: { name: 'gh' }, key: 'secret', provider: 'github' } },
    }),
    obj('GitRepo', 'src', { repoUri: servers.urls.http('app') }),
    obj('GitRepo', 'other', { repoUri: servers.urls.http('app') }),
    obj('Action', 'act', {}),
    obj('WebhookTrigger', 'multi', {
      sources: { names: ['src', 'other'], watchOn: { onChangeOnly: false } },
      action: { kind: 'Action', name: 'act' },
      webhook: { multiSource: true, authConfig: auth },
    }),
    obj('WebhookTrigger', 'single', {
      sources: { names: ['src'] },
      action: { kind: 'Action', name: 'act' },
      webhook: { multiSource: false, authConfig: auth },
    }),
    obj('WebhookTrigger', 'open', {
      sources: { names: ['src'] },
      action: { kind: 'Action', name: 'act' },
      webhook: { multiSource: false },
    }),
    obj('WebhookTrigger', 'nosecret', {
      sources: { names: ['src'] },
      action: { kind: 'Action', name: 'act' },
      webhook: { multiSource: false, authConfig: { secretRef: { name: 'gone' }, key: 'token' } },
    }),
    obj('WebhookTrigger', 'paused', {
      suspend: true,
      sources: { names: ['src'] },
      action: { kind: 'Action', name: 'act' },
      webhook: { multiSource: true },
    }),
  ].join('---\n'),
);
// The controller's cache sees the triggers shortly after they are created.
await eventually(
  () => fetch(`${base}/${ns}/paused`, { method: 'POST' }).then((r) => r.status),
  (s) => s !== 404,
);

async function post(path: string, headers: Record<string, string> = {}, body?: string) {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers, ...(body !== undefined ? { body } : {}) });
  return {
    status: res.status,
    body: (await res.json().catch(() => ({}))) as { status?: string; message?: string; task_id?: string },
  };
}
const withToken = { 'x-trigger-auth': TOKEN };

t.test("the original's response table", async (t) => {
  const cases: [string, Record<string, string>, number, string][] = [
    [`/${ns}/nope`, withToken, 404, "trigger doesn't exist"],
    [`/${ns}/nope/src`, withToken, 404, "trigger doesn't exist"],
    [`/${ns}/single`, withToken, 400, "multi-source hook isn't allowed"],
    [`/${ns}/single/ghost`, withToken, 404, "source doesn't exist in the trigger"],
    [`/${ns}/single/src`, {}, 401, 'authorization is required'],
    [`/${ns}/single/src`, { 'x-trigger-auth': 'wrong' }, 403, 'forbidden'],
    [`/${ns}/single/src`, { 'x-trigger-auth': `${TOKEN}\n`.trim().slice(0, -1) }, 403, 'forbidden'],
    [`/${ns}/nosecret/src`, withToken, 500, 'unable to complete authorization'],
    [`/${ns}/paused`, {}, 409, 'trigger is suspended'],
  ];
  for (const [path, headers, code, message] of cases) {
    const r = await post(path, headers);
    t.equal(r.status, code, `${path} -> ${code}`);
    t.same(r.body, { status: 'error', message }, `${path} body`);
  }
  const ok = await post(`/${ns}/single/src`, withToken);
  t.equal(ok.status, 202);
  t.equal(ok.body.status, 'ok');
  t.equal(ok.body.message, 'job has been scheduled');
  t.match(ok.body.task_id, /^[0-9a-f-]{36}$/);
  t.equal((await post(`/${ns}/open/src`)).status, 202, 'a trigger without authConfig needs no token');
  const notFound = await fetch(`${base}/a/b/c/d`, { method: 'POST' });
  t.equal(notFound.status, 404);
  t.equal((await fetch(`${base}/${ns}/single/src`)).status, 404, 'GET on a hook path is not a route');
});

t.test('all sources with multiSource, GET /tasks/{id} shows the Jobs; onChangeOnly decides', async (t) => {
  const r = await post(`/${ns}/multi`, withToken);
  t.equal(r.status, 202);
  const id = r.body.task_id ?? '';
  const task = await eventually(
    () =>
      fetch(`${base}/tasks/${id}`, { headers: withToken }).then(
        (x) => x.json() as Promise<{ state: string; jobs: string[] }>,
      ),
    (x) => x.state === 'Succeeded',
    15_000,
  );
  t.equal(task.state, 'Succeeded');
  t.equal(task.jobs.length, 2, 'one Job per source (onChangeOnly: false)');
  const existing = (await batch.listNamespacedJob({ namespace: ns })).items.map((j) => j.metadata?.name);
  for (const job of task.jobs) t.ok(existing.includes(job), `${job} exists`);
  t.equal((await fetch(`${base}/tasks/${id}`)).status, 401, 'the task needs the trigger authorization');
  t.equal((await fetch(`${base}/tasks/not-a-task`, { headers: withToken })).status, 404);

  // onChangeOnly: true. The first call sees the commit for the first time (a Job); the next one no change.
  const first = await post(`/${ns}/open/src`);
  await eventually(
    () => fetch(`${base}/tasks/${first.body.task_id}`).then((x) => x.json() as Promise<{ state: string }>),
    (x) => x.state !== 'Pending' && x.state !== 'Running',
  );
  const again = await post(`/${ns}/open/src`);
  const done = await eventually(
    () =>
      fetch(`${base}/tasks/${again.body.task_id}`).then((x) => x.json() as Promise<{ state: string; jobs: string[] }>),
    (x) => x.state === 'Succeeded',
  );
  t.same(done.jobs, [], 'an unchanged repository with onChangeOnly: true creates no Job');
});

t.test('body limit and token rotation', async (t) => {
  const big = await fetch(`${base}/${ns}/single/src`, {
    method: 'POST',
    headers: { ...withToken, 'content-type': 'application/json' },
    body: 'x'.repeat(1024 * 1024 + 10),
  });
  t.equal(big.status, 413, 'bodies over 1 MiB are refused');
  await core.replaceNamespacedSecret({
    namespace: ns,
    name: 'hook-auth',
    body: { metadata: { name: 'hook-auth' }, stringData: { token: 'rotated-token' } },
  });
  t.equal(
    await eventually(
      () => post(`/${ns}/single/src`, { 'x-trigger-auth': 'rotated-token' }).then((r) => r.status),
      (s) => s === 202,
    ),
    202,
    'the new token works',
  );
  t.equal((await post(`/${ns}/single/src`, withToken)).status, 403, 'the old one stops working');
  t.notOk(controller.logs().includes(TOKEN) || controller.logs().includes('rotated-token'), 'tokens are never logged');
});

t.test('GitHub deliveries: signature, ping, unwatched ref, redelivery', async (t) => {
  const { createHmac } = await import('node:crypto');
  const send = async (event: string, payload: unknown, delivery: string, secret = 'gh-hmac-secret') => {
    const raw = JSON.stringify(payload);
    const signature = `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;
    const res = await fetch(`${base}/${ns}/github`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': event,
        'x-github-delivery': delivery,
        'x-hub-signature-256': signature,
      },
      body: raw,
    });
    return { status: res.status, body: (await res.json()) as { message?: string; task_id?: string } };
  };
  t.match(
    await kubectl(['-n', ns, 'get', 'webhooktriggers', '-o', 'name']),
    'webhooktrigger.git-events-runner.rs/github',
  );
  const bad = await send('push', { ref: 'refs/heads/main' }, 'd-bad', 'wrong-secret');
  t.equal(bad.status, 403, `a bad signature is refused: ${JSON.stringify(bad)}`);
  const unsigned = await fetch(`${base}/${ns}/github`, {
    method: 'POST',
    headers: { 'x-github-event': 'push' },
    body: '{}',
  });
  t.equal(unsigned.status, 401, 'no signature: 401');
  const ping = await send('ping', { zen: 'hi' }, 'd-ping');
  t.equal(ping.status, 200);
  t.equal(ping.body.message, 'pong');
  const other = await send('push', { ref: 'refs/heads/feature' }, 'd-other');
  t.equal(other.status, 200);
  t.match(other.body.message, /does not watch: ignored/);
  const before = (await batch.listNamespacedJob({ namespace: ns })).items.length;
  const first = await send('push', { ref: 'refs/heads/main' }, 'd-1');
  t.equal(first.status, 202);
  const again = await send('push', { ref: 'refs/heads/main' }, 'd-1');
  t.equal(again.status, 202);
  t.equal(again.body.task_id, first.body.task_id, 'a redelivery answers with the same task');
  const task = await eventually(
    () =>
      fetch(`${base}/tasks/${first.body.task_id}`, { headers: { 'x-trigger-auth': 'gh-hmac-secret' } }).then(
        (x) => x.json() as Promise<{ state: string; jobs: string[] }>,
      ),
    (x) => x.state === 'Succeeded',
    15_000,
  );
  t.equal(task.jobs.length, 1, 'the watched ref started one check and one Job');
  await new Promise((r) => setTimeout(r, 1000));
  t.equal(
    (await batch.listNamespacedJob({ namespace: ns })).items.length,
    before + 1,
    'no second Job for the redelivery',
  );
});

t.test('rate limits per source and trigger answer 429 with Retry-After; metrics have bounded labels', async (t) => {
  const limited = await startControllerProcess({
    kubeconfig: plane.kubeconfig,
    namespace: 'ger-system',
    args: ['--hooks-rrl-source', '1/60', '--hooks-rrl-trigger', '3/60'],
  });
  t.teardown(() => limited.stop('SIGKILL'));
  const url = `http://127.0.0.1:${limited.webhooksPort}`;
  await eventually(
    () => fetch(`${url}/${ns}/open/src`, { method: 'POST' }).then((r) => r.status),
    (s) => s !== 404,
  );
  const second = await fetch(`${url}/${ns}/open/src`, { method: 'POST' });
  t.equal(second.status, 429, 'the source limit allows one per minute');
  t.ok(Number(second.headers.get('retry-after')) > 0, 'Retry-After says when');
  t.equal(second.headers.get('x-ratelimit-after'), second.headers.get('retry-after'));
  t.match(await second.text(), /^Too Many Requests! Wait for \d+s$/);
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) statuses.push((await fetch(`${url}/${ns}/open`, { method: 'POST' })).status);
  t.ok(statuses.includes(429), `the trigger limit applies to all routes of the trigger: ${statuses.join(',')}`);
  for (let i = 0; i < 20; i++) await fetch(`${url}/random-${i}/path-${i}`, { method: 'POST' });
  const metrics = (await limited.get('/metrics')).body;
  t.match(
    metrics,
    /^git_events_runner_webhook_requests_total\{namespace="hooks",trigger_name="open",status="429"\} \d+$/m,
  );
  t.match(
    metrics,
    /^git_events_runner_webhook_requests_total\{namespace="",trigger_name="",status="404"\} 20$/m,
    'unknown paths share one series',
  );
  t.notMatch(metrics, /random-/, 'a random path never creates a series');
});

t.test('random paths, headers and bodies: no crash, no 5xx but 503', async (t) => {
  const header = fc.tuple(
    fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
    fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 200 }),
  );
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(fc.webPath(), fc.constantFrom(`/${ns}/single/src`, `/${ns}/multi`, `/${ns}/github`, '/tasks/x')),
      fc.array(header, { maxLength: 6 }),
      fc.uint8Array({ maxLength: 4096 }),
      fc.constantFrom('POST', 'GET', 'PUT', 'DELETE'),
      async (path, headers, body, method) => {
        let status: number;
        try {
          const res = await fetch(`${base}${path.startsWith('/') ? path : `/${path}`}`, {
            method,
            headers: Object.fromEntries(headers),
            ...(method === 'GET' ? {} : { body }),
          });
          await res.arrayBuffer();
          status = res.status;
        } catch (err: unknown) {
          // The client refused to build the request (an invalid header or URL): nothing reached the server.
          if (err instanceof TypeError) return true;
          throw err;
        }
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        return status < 500 || status === 503;
      },
    ),
    { numRuns: 300 },
  );
  t.ok(statuses.size > 0, `answers: ${JSON.stringify([...statuses])}`);
  t.equal((await controller.get('/ready')).status, 200, 'the controller is still up and ready');
});

t.test('a flood of hostile requests leaves memory bounded', async (t) => {
  // A replica as the image and chart run it: the bundle, with the V8 heap limits and process environment of
  // values.yaml (controller.nodeOptions, controller.mallocArenaMax). A leak would end in an out-of-memory crash; a bounded process stays alive,
  // ready and within its resident budget.
  const { mkdtemp } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { entry, nodeArgs, env } = await shippedController(await mkdtemp(join(tmpdir(), 'ger-flood-')));
  const flooded = await startControllerProcess({
    kubeconfig: plane.kubeconfig,
    namespace: 'ger-system',
    entry,
    nodeArgs,
    env,
  });
  t.teardown(() => flooded.stop('SIGKILL'));
  const url = `http://127.0.0.1:${flooded.webhooksPort}`;
  await eventually(
    () => fetch(`${url}/${ns}/single/src`, { method: 'POST' }).then((r) => r.status),
    (s) => s !== 404,
  );
  const pid = flooded.child.pid ?? 0;
  const rss = async () =>
    Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN) / 1024;
  const body = new Uint8Array(64 * 1024).fill(120);
  const statuses = new Map<number, number>();
  let next = 0;
  let peak = 0;
  const TOTAL = 20_000;
  // Unknown triggers and sources (no key may be kept for them), bad tokens, 64 KiB bodies, 64 at a time.
  const worker = async () => {
    while (next < TOTAL) {
      const i = next++;
      const path =
        i % 3 === 0 ? `/ns-${i}/trigger-${i}/src` : i % 3 === 1 ? `/${ns}/single/source-${i}` : `/${ns}/single/src`;
      const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'x-trigger-auth': `wrong-${i}` }, body });
      await res.arrayBuffer();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (i % 1000 === 0) peak = Math.max(peak, await rss());
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
  peak = Math.max(peak, await rss());
  t.ok(
    [...statuses.keys()].every((s) => s < 500 || s === 503),
    `answers: ${JSON.stringify(Object.fromEntries(statuses))}`,
  );
  t.ok(peak < 256, `RSS peaked at ${peak.toFixed(0)} MiB over ${TOTAL} hostile requests (node ${nodeArgs.join(' ')})`);
  const metrics = (await flooded.get('/metrics')).body;
  t.notMatch(metrics, /trigger-\d|source-\d|ns-\d/, 'no metric series for names that do not exist');
  t.equal((await flooded.get('/ready')).status, 200, 'alive and ready');
  t.equal(flooded.child.exitCode, null);
});

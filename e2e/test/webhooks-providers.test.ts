import { createHmac, randomUUID } from 'node:crypto';
import { API_VERSION } from '@git-events-runner/shared';
import t from 'tap';
import { stringify } from 'yaml';
import { startHangingServer } from '../src/git-servers.js';
import { appCluster, eventually, startControllerProcess } from '../src/index.js';

// GitLab, Gitea and Bitbucket Server deliveries with real-shaped payloads, and load shedding (503) when
// webhook checks pile up, against a running controller, its own control plane and a real git server.

const plane = await appCluster(t, { 'deploy.sh': 'echo\n' }, 'first');
const { core, kubectl, batch, servers, head } = plane;
const controller = await startControllerProcess({ kubeconfig: plane.kubeconfig, namespace: 'ger-system' });
t.teardown(() => controller.stop('SIGKILL'));
const base = `http://127.0.0.1:${controller.webhooksPort}`;

const ns = 'providers';
const SECRET = 'prov-hmac-9f2c';
await core.createNamespace({ body: { metadata: { name: ns } } });
await core.createNamespacedSecret({
  namespace: ns,
  body: { metadata: { name: 'hook' }, stringData: { secret: SECRET } },
});
const obj = (kind: string, name: string, spec: unknown) =>
  stringify({ apiVersion: API_VERSION, kind, metadata: { name, namespace: ns }, spec });
const trigger = (provider: string) =>
  obj('WebhookTrigger', provider, {
    sources: { names: ['src'], watchOn: { onChangeOnly: false, reference: { branch: 'main' } } },
    action: { kind: 'Action', name: 'act' },
    webhook: { multiSource: false, authConfig: { secretRef: { name: 'hook' }, key: 'secret', provider } },
  });
await kubectl(
  ['apply', '-f', '-'],
  [
    obj('GitRepo', 'src', { repoUri: servers.urls.http('app') }),
    obj('Action', 'act', {}),
    trigger('gitlab'),
    trigger('gitea'),
    trigger('bitbucket'),
  ].join('---\n'),
);
await eventually(
  () => fetch(`${base}/${ns}/bitbucket/src`, { method: 'POST' }).then((r) => r.status),
  (s) => s !== 404,
);

const hmac = (body: string, secret = SECRET) => createHmac('sha256', secret).update(body).digest('hex');
const repository = { name: 'app', full_name: 'team/app', clone_url: servers.urls.http('app') };

// Payloads as the providers document them (trimmed to the fields a receiver reads, plus some it doesn't).
const gitlabPush = (ref: string) => ({
  object_kind: 'push',
  event_name: 'push',
  before: '0'.repeat(40),
  after: head,
  ref,
  checkout_sha: head,
  user_name: 'Jane',
  project: { id: 7, name: 'app', path_with_namespace: 'team/app', git_http_url: servers.urls.http('app') },
  commits: [{ id: head, message: 'first', author: { name: 'Jane', email: 'jane@example.com' } }],
  total_commits_count: 1,
  repository: { name: 'app', url: servers.urls.http('app') },
});
const giteaPush = (ref: string) => ({
  ref,
  before: '0'.repeat(40),
  after: head,
  compare_url: '',
  commits: [{ id: head, message: 'first\n', author: { name: 'Jane', email: 'jane@example.com' } }],
  repository,
  pusher: { login: 'jane' },
  sender: { login: 'jane' },
});
const bitbucketPush = (ref: string) => ({
  eventKey: 'repo:refs_changed',
  date: '2026-11-25T10:00:00+0000',
  actor: { name: 'jane', displayName: 'Jane' },
  repository: { slug: 'app', project: { key: 'TEAM' } },
  changes: [
    {
      ref: { id: ref, displayId: ref.replace(/^refs\/heads\//, ''), type: 'BRANCH' },
      refId: ref,
      fromHash: '0'.repeat(40),
      toHash: head,
      type: 'UPDATE',
    },
  ],
});

interface Delivery {
  readonly push: (ref: string) => unknown;
  /** Headers of a delivery of `event` with this body and id; `secret` signs (or is) the proof. */
  readonly headers: (
    event: 'push' | 'ping' | 'other',
    body: string,
    id: string,
    secret?: string,
  ) => Record<string, string>;
  readonly ping?: unknown;
}

const providers: Record<'gitlab' | 'gitea' | 'bitbucket', Delivery> = {
  gitlab: {
    push: gitlabPush,
    headers: (event, _body, id, secret = SECRET) => ({
      'content-type': 'application/json',
      'x-gitlab-event': event === 'push' ? 'Push Hook' : 'Merge Request Hook',
      'x-gitlab-event-uuid': id,
      'x-gitlab-token': secret,
    }),
  },
  gitea: {
    push: giteaPush,
    ping: { hook_id: 1, zen: 'hi' },
    headers: (event, body, id, secret = SECRET) => ({
      'content-type': 'application/json',
      'x-gitea-event': event === 'other' ? 'issues' : event,
      'x-gitea-delivery': id,
      'x-gitea-signature': hmac(body, secret),
    }),
  },
  bitbucket: {
    push: bitbucketPush,
    ping: { test: true },
    headers: (event, body, id, secret = SECRET) => ({
      'content-type': 'application/json; charset=utf-8',
      'x-event-key': event === 'push' ? 'repo:refs_changed' : event === 'ping' ? 'diagnostics:ping' : 'pr:opened',
      'x-request-id': id,
      'x-hub-signature': `sha256=${hmac(body, secret)}`,
    }),
  },
};

async function deliver(provider: keyof typeof providers, headers: Record<string, string>, body: string) {
  const res = await fetch(`${base}/${ns}/${provider}/src`, { method: 'POST', headers, body });
  return { status: res.status, body: (await res.json()) as { message?: string; task_id?: string } };
}

for (const provider of ['gitlab', 'gitea', 'bitbucket'] as const) {
  t.test(`${provider}: signature or token, unwatched ref, ping, push and redelivery`, async (t) => {
    const p = providers[provider];
    const jobsBefore = (await batch.listNamespacedJob({ namespace: ns })).items.length;
    const body = JSON.stringify(p.push('refs/heads/main'));

    const bad = await deliver(provider, p.headers('push', body, randomUUID(), 'not-the-secret'), body);
    t.equal(bad.status, 403, 'a wrong secret is refused');
    const proofless = Object.fromEntries(
      Object.entries(p.headers('push', body, randomUUID())).filter(
        ([k]) => !['x-gitlab-token', 'x-gitea-signature', 'x-hub-signature'].includes(k),
      ),
    );
    t.equal((await deliver(provider, proofless, body)).status, 401, 'no proof: 401');
    // A signature over other bytes than those sent (a tampered body) is refused too.
    if (provider !== 'gitlab') {
      const tampered = await deliver(provider, p.headers('push', body, randomUUID()), body.replace('main', 'mainx'));
      t.equal(tampered.status, 403, 'the signature covers the exact body');
    }

    if (p.ping !== undefined) {
      const pingBody = JSON.stringify(p.ping);
      const ping = await deliver(provider, p.headers('ping', pingBody, randomUUID()), pingBody);
      t.equal(ping.status, 200, 'ping answers 200');
    }
    const otherBody = JSON.stringify({ action: 'opened' });
    const other = await deliver(provider, p.headers('other', otherBody, randomUUID()), otherBody);
    t.equal(other.status, 200, 'another event kind is acknowledged, not acted on');
    t.match(other.body.message, /ignored/);

    const feature = JSON.stringify(p.push('refs/heads/feature'));
    const unwatched = await deliver(provider, p.headers('push', feature, randomUUID()), feature);
    t.equal(unwatched.status, 200);
    t.match(unwatched.body.message, /does not watch: ignored/);

    const id = randomUUID();
    const first = await deliver(provider, p.headers('push', body, id), body);
    t.equal(first.status, 202, JSON.stringify(first.body));
    const again = await deliver(provider, p.headers('push', body, id), body);
    t.equal(again.status, 202);
    t.equal(again.body.task_id, first.body.task_id, 'a redelivery answers with the first task');
    // Task lookups carry the secret itself in the provider's header (no body to sign).
    const lookupHeader = { 'x-trigger-auth': SECRET };
    const task = await eventually(
      () =>
        fetch(`${base}/tasks/${first.body.task_id}`, { headers: lookupHeader }).then(
          (x) => x.json() as Promise<{ state: string; jobs: string[] }>,
        ),
      (x) => x.state === 'Succeeded',
      15_000,
    );
    t.equal(task.jobs.length, 1, 'the push to the watched ref started one Job');
    const jobs = (await batch.listNamespacedJob({ namespace: ns })).items;
    t.equal(jobs.length, jobsBefore + 1, 'exactly one new Job: none for the rejected, ignored or redelivered ones');
    const job = jobs.find((j) => j.metadata?.name === task.jobs[0]);
    t.equal(job?.metadata?.labels?.['git-events-runner.rs/trigger-kind'], 'WebhookTrigger');
    t.match(JSON.stringify(job?.spec?.template), head, 'the Job carries the commit git reported');
  });
}

t.test('checks piling up: the server sheds load with a quick 503 and Retry-After, then recovers', async (t) => {
  const hanging = await startHangingServer();
  t.teardown(() => hanging.stop());
  await kubectl(
    ['apply', '-f', '-'],
    [
      obj('GitRepo', 'stuck', { repoUri: hanging.url('app') }),
      obj('WebhookTrigger', 'slow', {
        sources: { names: ['stuck'], watchOn: { onChangeOnly: false } },
        action: { kind: 'Action', name: 'act' },
        webhook: { multiSource: false },
      }),
    ].join('---\n'),
  );
  const shedding = await startControllerProcess({
    kubeconfig: plane.kubeconfig,
    namespace: 'ger-system',
    args: ['--webhooks-parallelism', '1', '--webhooks-max-pending', '3', '--git-timeout-seconds', '4'],
  });
  t.teardown(() => shedding.stop('SIGKILL'));
  const url = `http://127.0.0.1:${shedding.webhooksPort}/${ns}/slow/stuck`;
  await eventually(
    () => fetch(url, { method: 'POST' }).then((r) => r.status),
    (s) => s === 202,
  );
  // The first check hangs on the git server; the next deliveries wait behind it until 3 wait.
  for (let i = 0; i < 3; i++) t.equal((await fetch(url, { method: 'POST' })).status, 202, `delivery ${i} queued`);
  const shed = await eventually(
    async () => {
      const started = performance.now();
      const res = await fetch(url, { method: 'POST' });
      await res.arrayBuffer();
      return { status: res.status, ms: performance.now() - started, retryAfter: res.headers.get('retry-after') };
    },
    (r) => r.status === 503,
    3000,
  );
  t.equal(shed.status, 503, 'a backlog at its bound is refused, not queued');
  t.ok(shed.ms < 100, `the refusal is quick (${shed.ms.toFixed(1)} ms)`);
  t.ok(Number(shed.retryAfter) > 0, 'Retry-After tells when to come back');
  t.equal((await shedding.get('/alive')).status, 200, 'the process is alive');
  // The stuck checks time out (4 s each, one at a time; the waiting ones go as one batch) and it recovers.
  const recovered = await eventually(
    () => fetch(url, { method: 'POST' }).then((r) => r.status),
    (s) => s === 202,
    20_000,
  );
  t.equal(recovered, 202, 'accepting again once the backlog drained');
});

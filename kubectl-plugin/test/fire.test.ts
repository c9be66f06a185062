import { createHmac } from 'node:crypto';
import t from 'tap';
import { apiErrorParts, PluginError, type PluginErrorCode, toPluginError } from '../src/errors.js';
import {
  DEFAULT_SERVICE,
  type HttpAnswer,
  hookRequest,
  hookTarget,
  interpretHookAnswer,
  interpretTaskAnswer,
  parseBaseUrl,
  parseServiceRef,
  type Route,
  serviceProxyPath,
  taskHeaders,
} from '../src/fire/request.js';
import { parseTriggerName, qualifiedName } from '../src/kube/names.js';
import type { WebhookTriggerObject } from '../src/kube/types.js';

function codeOf(fn: () => unknown): PluginErrorCode | 'no error' | 'other error' {
  try {
    fn();
    return 'no error';
  } catch (err: unknown) {
    return err instanceof PluginError ? err.code : 'other error';
  }
}

function trigger(webhook: WebhookTriggerObject['spec']['webhook'], names = ['app', 'infra']): WebhookTriggerObject {
  return {
    kind: 'WebhookTrigger',
    metadata: { name: 'deploy', namespace: 'ci' },
    spec: { sources: { names }, action: { kind: 'Action', name: 'run' }, webhook },
  };
}
const TOKEN = 's3cret-token';
const tokenTrigger = trigger({ authConfig: { secretRef: { name: 'hook' }, key: 'token' } });

t.test('--service: [https:]NAMESPACE/NAME[:PORT], the chart as default', async (t) => {
  t.same(parseServiceRef(DEFAULT_SERVICE), {
    scheme: 'http',
    namespace: 'git-events-runner',
    name: 'git-events-runner-webhooks',
    port: 'webhooks',
  });
  t.same(parseServiceRef('ops/hooks'), { scheme: 'http', namespace: 'ops', name: 'hooks', port: 'webhooks' });
  t.same(parseServiceRef('https:ops/hooks:8443'), { scheme: 'https', namespace: 'ops', name: 'hooks', port: '8443' });
  for (const bad of ['hooks', 'ops/', '/hooks', 'Ops/hooks', 'ops/hooks:', 'ops/hooks:a:b', 'ftp:ops/hooks', 'a/b/c']) {
    t.equal(
      codeOf(() => parseServiceRef(bad)),
      'Usage',
      `"${bad}" is refused`,
    );
  }
  t.throws(() => parseServiceRef('hooks'), {
    message: /^invalid --service "hooks": expected \[https:\]NAMESPACE\/NAME\[:PORT\]/,
  });
  t.equal(
    serviceProxyPath(parseServiceRef('ops/hooks'), '/ci/deploy/app'),
    '/api/v1/namespaces/ops/services/hooks%3Awebhooks/proxy/ci/deploy/app',
  );
  t.equal(
    serviceProxyPath(parseServiceRef('https:ops/hooks:443'), '/tasks/x'),
    '/api/v1/namespaces/ops/services/https%3Ahooks%3A443/proxy/tasks/x',
  );
});

t.test('--url: absolute http(s) without credentials', async (t) => {
  t.equal(parseBaseUrl('http://127.0.0.1:8080').host, '127.0.0.1:8080');
  t.equal(parseBaseUrl('https://hooks.example.com/prefix/').pathname, '/prefix/');
  for (const bad of ['hooks.example.com', 'ftp://x', 'http://u:p@x', 'http://x/?a=1', 'http://x/#f']) {
    t.equal(
      codeOf(() => parseBaseUrl(bad)),
      'Usage',
      `"${bad}" is refused`,
    );
  }
});

t.test('which hook: the named source, every source, or the only one', async (t) => {
  t.same(hookTarget(tokenTrigger, 'infra'), { path: '/ci/deploy/infra', source: 'infra' });
  t.throws(() => hookTarget(tokenTrigger, 'nope'), {
    code: 'Usage',
    message: /has no source "nope" \(sources: app, infra\)/,
  });
  t.throws(() => hookTarget(tokenTrigger, undefined), {
    code: 'Usage',
    message: /name a SOURCE \(one of app, infra\)/,
  });
  t.same(hookTarget(trigger({}, ['only']), undefined), { path: '/ci/deploy/only', source: 'only' });
  t.same(hookTarget(trigger({ multiSource: true }), undefined), { path: '/ci/deploy', source: undefined });
});

t.test('requests: the token in its header, provider events signed with the secret', async (t) => {
  t.same(hookRequest(tokenTrigger, TOKEN, 'x-trigger-auth'), { headers: { 'x-trigger-auth': TOKEN }, body: '' });
  t.same(
    hookRequest(trigger({ authConfig: { secretRef: { name: 'h' }, key: 'k', header: 'X-Deploy-Token' } }), TOKEN, 'x'),
    { headers: { 'x-deploy-token': TOKEN }, body: '' },
    "the trigger's own header",
  );
  t.same(hookRequest(trigger({}), undefined, 'x-trigger-auth'), { headers: {}, body: '' }, 'no auth: nothing to send');
  const hmac = (body: string) => createHmac('sha256', TOKEN).update(body).digest('hex');
  const provider = (p: 'github' | 'gitlab' | 'gitea' | 'bitbucket') =>
    hookRequest(trigger({ authConfig: { secretRef: { name: 'h' }, key: 'k', provider: p } }), TOKEN, 'x-trigger-auth');
  const gh = provider('github');
  t.equal(gh.body, '{}', 'a payload that names no ref: the controller asks git');
  t.equal(gh.headers['x-github-event'], 'push');
  t.equal(gh.headers['x-hub-signature-256'], `sha256=${hmac('{}')}`);
  t.same(provider('gitlab').headers, {
    'content-type': 'application/json',
    'x-gitlab-event': 'Push Hook',
    'x-gitlab-token': TOKEN,
  });
  t.equal(provider('gitea').headers['x-gitea-signature'], hmac('{}'));
  t.equal(provider('gitea').headers['x-gitea-event'], 'push');
  t.equal(provider('bitbucket').headers['x-hub-signature'], `sha256=${hmac('{}')}`);
  t.equal(provider('bitbucket').headers['x-event-key'], 'repo:refs_changed');
  t.same(
    taskHeaders(
      trigger({ authConfig: { secretRef: { name: 'h' }, key: 'k', provider: 'github' } }),
      TOKEN,
      'x-trigger-auth',
    ),
    { 'x-trigger-auth': TOKEN },
    'task lookups carry the secret in the token header, whatever the provider',
  );
});

const url: Route = { kind: 'url', url: 'http://hooks' };
const proxy: Route = { kind: 'proxy', service: parseServiceRef('ops/hooks') };
const hookAnswer = (status: number, body: unknown, retryAfter?: string): HttpAnswer => ({
  status,
  body: typeof body === 'string' ? body : JSON.stringify(body),
  ...(retryAfter === undefined ? {} : { retryAfter }),
});

t.test("the webhook server's answers become clear errors", async (t) => {
  const id = '0b7c4a36-3c1e-4c6e-9a43-1d2f6b1f8e11';
  t.equal(
    interpretHookAnswer(hookAnswer(202, { status: 'ok', message: 'job has been scheduled', task_id: id }), url, 'T'),
    id,
  );
  const cases: [HttpAnswer, PluginErrorCode, RegExp][] = [
    [hookAnswer(401, { status: 'error', message: 'authorization is required' }), 'NoToken', /wants a token/],
    [
      hookAnswer(403, { status: 'error', message: 'forbidden' }),
      'TokenRejected',
      /refused the token for T \(403 forbidden\)/,
    ],
    [
      hookAnswer(404, { status: 'error', message: "trigger doesn't exist" }),
      'NotFound',
      /answered 404 \(trigger doesn't exist\)/,
    ],
    [hookAnswer(409, { status: 'error', message: 'trigger is suspended' }), 'Suspended', /is suspended/],
    [hookAnswer(429, 'Too Many Requests! Wait for 7s', '7'), 'HookRefused', /retry in 7s/],
    [
      hookAnswer(500, { status: 'error', message: 'unable to complete authorization' }),
      'HookRefused',
      /cannot read T's token Secret/,
    ],
    [hookAnswer(503, 'busy', '5'), 'HookRefused', /overloaded/],
    [hookAnswer(200, { status: 'ok', message: 'pong' }), 'HookRefused', /answered 200 for T: pong/],
    [hookAnswer(202, { status: 'ok' }), 'HookRefused', /answered 202/],
  ];
  for (const [answer, code, message] of cases) {
    t.throws(() => interpretHookAnswer(answer, url, 'T'), { code, message }, `${answer.status} ${answer.body}`);
  }
  try {
    interpretHookAnswer(hookAnswer(403, { status: 'error', message: 'forbidden' }), url, 'T');
  } catch (err: unknown) {
    t.notMatch(String(err), TOKEN, 'the message never carries the token');
  }
});

t.test("the API server's proxy errors are told apart from the webhook server's", async (t) => {
  const status = (code: number, message: string) =>
    hookAnswer(code, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message, code });
  t.throws(() => interpretHookAnswer(status(404, 'services "hooks" not found'), proxy, 'T'), {
    code: 'ServiceUnavailable',
    message:
      /webhook Service ops\/hooks not found .*--service NAMESPACE\/NAME\[:PORT\] \(or set KUBECTL_GIT_EVENTS_SERVICE\) or --url/,
  });
  t.throws(() => interpretHookAnswer(status(503, 'no endpoints available for service "hooks"'), proxy, 'T'), {
    code: 'ServiceUnavailable',
    message: /has no ready endpoint .*is the controller running\?/,
  });
  t.throws(
    () =>
      interpretHookAnswer(
        status(403, 'services "hooks" is forbidden: User "bob" cannot create resource "services/proxy"'),
        proxy,
        'T',
      ),
    {
      code: 'Forbidden',
      message:
        /User "bob" cannot create resource "services\/proxy".*needs "create" and "get" on services\/proxy in ops/,
    },
  );
  t.throws(
    () => interpretHookAnswer(hookAnswer(403, { status: 'error', message: 'forbidden' }), proxy, 'T'),
    {
      code: 'TokenRejected',
    },
    "the webhook server's 403 through the proxy is about the token",
  );
  t.throws(
    () => interpretHookAnswer(status(404, 'x'), url, 'T'),
    { code: 'NotFound' },
    'no proxy, no Status special case',
  );
});

t.test('task answers', async (t) => {
  t.same(
    interpretTaskAnswer(
      hookAnswer(200, {
        status: 'ok',
        state: 'Failed',
        jobs: ['j1', 3],
        errors: [{ source: 'app', reason: 'AuthFailed', message: 'no' }],
      }),
      url,
      'id',
    ),
    { state: 'Failed', jobs: ['j1'], errors: [{ source: 'app', reason: 'AuthFailed', message: 'no' }] },
  );
  t.throws(() => interpretTaskAnswer(hookAnswer(404, { message: "task doesn't exist" }), url, 'id'), {
    code: 'NotFound',
  });
  t.throws(() => interpretTaskAnswer(hookAnswer(401, {}), url, 'id'), { code: 'TokenRejected' });
  t.throws(() => interpretTaskAnswer(hookAnswer(200, { state: 'Weird' }), url, 'id'), { code: 'HookRefused' });
});

t.test('API errors: the server message, one line; unreachable servers', async (t) => {
  const forbidden = Object.assign(new Error('HTTP-Code: 403\nMessage: Unknown API Status Code!\nBody: ...'), {
    code: 403,
    body: JSON.stringify({
      kind: 'Status',
      message:
        'scheduletriggers.git-events-runner.rs is forbidden: User "nobody" cannot list resource "scheduletriggers"',
      reason: 'Forbidden',
      code: 403,
    }),
  });
  t.same(apiErrorParts(forbidden)?.code, 403);
  const e = toPluginError(forbidden, 'list ScheduleTriggers');
  t.equal(e.code, 'Forbidden');
  t.equal(
    e.message,
    'scheduletriggers.git-events-runner.rs is forbidden: User "nobody" cannot list resource "scheduletriggers" (Forbidden)',
  );
  t.equal(toPluginError(Object.assign(new Error('x'), { code: 401, body: '' }), 'list').code, 'Unauthorized');
  t.match(
    toPluginError(Object.assign(new Error('x'), { code: 500, body: '{}' }), 'list things').message,
    'cannot list things: HTTP 500',
  );
  const refused = new TypeError('fetch failed', {
    cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' }),
  });
  const u = toPluginError(refused, 'list', 'https://127.0.0.1:6443');
  t.equal(u.code, 'Unreachable');
  t.equal(
    u.message,
    'cannot reach the server https://127.0.0.1:6443 (ECONNREFUSED) - did you specify the right host or port?',
  );
  t.equal(toPluginError(new Error('odd\nsecond line'), 'list').message, 'cannot list: odd', 'first line only');
});

t.test('TRIGGER arguments: NAME or KIND/NAME', async (t) => {
  t.same(parseTriggerName('deploy'), { kinds: ['ScheduleTrigger', 'WebhookTrigger'], name: 'deploy' });
  t.same(parseTriggerName('wtrig/deploy'), { kinds: ['WebhookTrigger'], name: 'deploy' });
  t.same(parseTriggerName('ScheduleTriggers.git-events-runner.rs/nightly'), {
    kinds: ['ScheduleTrigger'],
    name: 'nightly',
  });
  t.same(parseTriggerName('strig/a.b-c'), { kinds: ['ScheduleTrigger'], name: 'a.b-c' });
  t.throws(() => parseTriggerName('pods/x'), { code: 'Usage', message: /unknown trigger kind "pods"/ });
  t.throws(() => parseTriggerName('Bad_Name'), { code: 'Usage', message: /invalid trigger name "Bad_Name"/ });
  t.throws(() => parseTriggerName('strig/'), { code: 'Usage' });
  t.equal(qualifiedName('WebhookTrigger', 'x'), 'webhooktrigger.git-events-runner.rs/x');
});

import { Writable } from 'node:stream';
import t, { type Test } from 'tap';
import { buildApp } from '../src/app.js';
import type { ClusterChecks } from '../src/cluster.js';
import { createLogger } from '../src/logger.js';
import { Metrics } from '../src/metrics.js';
import { parsePolicy } from '../src/policy.js';
import type { AdmissionReviewResponse } from '../src/review.js';
import { admissionRequest, reviewBody } from './requests.js';

// The fastify app over inject(): routes, answers, metrics, logs. Cluster checks are exercised for real in
// e2e/test/admission.test.ts; here requests that need none assert that none is made.

function setup(t: Test, checks?: ClusterChecks) {
  let logs = '';
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs += String(chunk);
      done();
    },
  });
  const consulted: string[] = [];
  const app = buildApp({
    logger: createLogger('json', 'debug', sink),
    policy: parsePolicy('minInterval: 30s'),
    metrics: new Metrics(),
    checks: checks ?? {
      access: async () => {
        consulted.push('access');
        return [];
      },
      exists: async (refs) => {
        consulted.push('exists');
        return refs.map(() => true);
      },
    },
    now: () => new Date('2025-06-01T00:00:00Z'),
  });
  t.teardown(() => app.close());
  return { app, logs: () => logs, consulted };
}

const post = async (app: ReturnType<typeof buildApp>, url: string, payload: unknown) => {
  const res = await app.inject({ method: 'POST', url, payload: payload as object });
  return { status: res.statusCode, body: res.json() as AdmissionReviewResponse & { message?: string } };
};

const trigger = (interval: string) =>
  admissionRequest('ScheduleTrigger', {
    sources: { names: ['repo'] },
    schedule: { interval },
    action: { kind: 'Action', name: 'act' },
  });

t.test('POST /mutate answers an AdmissionReview with the uid and a JSONPatch', async (t) => {
  const { app } = setup(t);
  const request = trigger('90s');
  const { status, body } = await post(app, '/mutate', reviewBody(request));
  t.equal(status, 200);
  t.equal(body.apiVersion, 'admission.k8s.io/v1');
  t.equal(body.kind, 'AdmissionReview');
  t.equal(body.response.uid, request.uid);
  t.equal(body.response.allowed, true);
  t.equal(body.response.patchType, 'JSONPatch');
  const ops = JSON.parse(Buffer.from(body.response.patch ?? '', 'base64').toString()) as unknown[];
  t.same(
    ops.find((o) => (o as { path: string }).path === '/spec/schedule/interval'),
    { op: 'replace', path: '/spec/schedule/interval', value: '1m30s' },
  );
});

t.test('POST /validate denies with a status; the cluster is not asked about a denied object', async (t) => {
  const { app, consulted, logs } = setup(t);
  const { status, body } = await post(app, '/validate', reviewBody(trigger('5s')));
  t.equal(status, 200, 'a denial is an answer, not an HTTP error');
  t.equal(body.response.allowed, false);
  t.same(body.response.status, {
    code: 403,
    reason: 'Forbidden',
    message: `spec.schedule.interval: "5s" is shorter than 30s, the shortest interval this cluster's admission policy allows (minInterval)`,
  });
  t.same(consulted, []);
  const allowed = await post(app, '/validate', reviewBody(trigger('5m')));
  t.equal(allowed.body.response.allowed, true);
  t.same(consulted, ['exists'], 'references looked up; no Secret involved');
  const line = logs()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((l) => l.msg === 'denied');
  t.match(line, { kind: 'ScheduleTrigger', namespace: 'team-a', name: 'obj', user: 'alice', webhook: 'validate' });
  t.notMatch(logs(), /"spec"|"schedule"|"sources"/, 'objects are never logged');
});

t.test('bad bodies: 400 naming the field', async (t) => {
  const { app } = setup(t);
  const missing = await post(app, '/validate', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' });
  t.equal(missing.status, 400);
  t.match(missing.body.message, /not an admission\.k8s\.io\/v1 AdmissionReview request: request: /);
  const garbage = await app.inject({
    method: 'POST',
    url: '/mutate',
    payload: '{nope',
    headers: { 'content-type': 'application/json' },
  });
  t.equal(garbage.statusCode, 400);
});

t.test('a failing check refuses the request (fail closed) and says where to look', async (t) => {
  const { app, logs } = setup(t, {
    access: async () => {
      throw new Error('boom');
    },
    exists: async (refs) => refs.map(() => true),
  });
  const request = admissionRequest('ClusterGitRepo', {
    repoUri: 'https://git.example.com/r.git',
    authConfig: { type: 'token', secretRef: { name: 's', namespace: 'n' } },
  });
  const { status, body } = await post(app, '/validate', reviewBody(request));
  t.equal(status, 200);
  t.match(body.response, {
    allowed: false,
    status: { code: 500, reason: 'InternalError', message: /its log has the details/ },
  });
  t.match(logs(), /"msg":"review failed"/);
});

t.test('GET /healthz and /metrics', async (t) => {
  const { app } = setup(t);
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).body, 'ok');
  await post(app, '/validate', reviewBody(trigger('5s')));
  await post(app, '/mutate', reviewBody(trigger('90s')));
  const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  t.match(
    metrics,
    /git_events_admission_requests_total\{webhook="validate",kind="ScheduleTrigger",operation="CREATE",result="denied"\} 1/,
  );
  t.match(
    metrics,
    /git_events_admission_requests_total\{webhook="mutate",kind="ScheduleTrigger",operation="CREATE",result="patched"\} 1/,
  );
  t.match(metrics, /git_events_admission_request_duration_seconds_count\{webhook="validate"\} 1/);
  t.match(metrics, /process_cpu_seconds_total/);
});

import t from 'tap';
import { type Policy, parsePolicy } from '../src/policy.js';
import type { AdmissionRequest } from '../src/review.js';
import { completeValidation, planValidation } from '../src/rules/validate.js';
import { admissionRequest } from './requests.js';

// ScheduleTrigger and WebhookTrigger: schedules, minimum interval, policy on Cluster kinds, references, warnings.

const now = new Date('2025-06-01T00:00:00Z');
const strict = parsePolicy('minInterval: 30s\nshortInterval: 5m\n');

function judge(
  request: AdmissionRequest,
  policy: Policy = strict,
  exists: (i: number) => boolean | undefined = () => true,
) {
  const plan = planValidation(request, policy, now);
  return {
    plan,
    response: completeValidation(
      plan,
      plan.secretReads.map(() => ({ result: 'allowed' as const })),
      plan.references.map((_, i) => exists(i)),
    ),
  };
}

const sources = { kind: 'GitRepo', names: ['repo'] };
const action = { kind: 'Action', name: 'act' };
const scheduled = (schedule: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  admissionRequest('ScheduleTrigger', { sources, schedule, action, ...extra });

t.test('schedules that parse are allowed; references are looked up', async (t) => {
  for (const schedule of [
    { interval: '5m' },
    { interval: '1h 30m' },
    { interval: '30s' },
    { cron: '0 */5 * * *' },
    { cron: 'TZ=Europe/Berlin 0 3 * * MON-FRI' },
    { cron: '0 0 3 * * *', timeZone: 'America/New_York' },
    { cron: '@daily' },
    { cron: '0 0 L * *' },
  ]) {
    const { response } = judge(scheduled(schedule));
    t.equal(response.allowed, true, JSON.stringify(schedule));
  }
  const { plan, response } = judge(scheduled({ interval: '5m' }), strict, () => false);
  t.same(plan.references, [
    { field: 'spec.sources.names[0]', kind: 'GitRepo', namespace: 'team-a', name: 'repo' },
    { field: 'spec.action.name', kind: 'Action', namespace: 'team-a', name: 'act' },
  ]);
  t.equal(response.allowed, true, 'a missing reference is a warning, not a denial');
  t.same(response.warnings, [
    'spec.sources.names[0]: GitRepo team-a/repo does not exist (yet)',
    'spec.action.name: Action team-a/act does not exist (yet)',
  ]);
  const cluster = judge(
    admissionRequest('WebhookTrigger', {
      sources: { kind: 'ClusterGitRepo', names: ['shared', 'other'] },
      action: { kind: 'ClusterAction', name: 'deploy' },
      webhook: { multiSource: true, authConfig: { secretRef: { name: 'hook' }, key: 'token' } },
    }),
    strict,
    () => undefined,
  );
  t.same(
    cluster.plan.references.map((r) => [r.kind, r.namespace, r.name]),
    [
      ['ClusterGitRepo', undefined, 'shared'],
      ['ClusterGitRepo', undefined, 'other'],
      ['ClusterAction', undefined, 'deploy'],
    ],
  );
  t.same(cluster.response.warnings, ['could not check whether 3 referenced object(s) exist']);
});

t.test('every bad schedule is refused naming the field', async (t) => {
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ interval: '5 parsecs' }, 'spec.schedule.interval', /invalid interval "5 parsecs": unknown unit "parsecs"/],
    [{ interval: '90' }, 'spec.schedule.interval', /invalid interval "90"/],
    [{ interval: '200y' }, 'spec.schedule.interval', /longer than 100 years/],
    [
      { interval: '10s' },
      'spec.schedule.interval',
      /"10s" is shorter than 30s, the shortest interval this cluster's admission policy allows \(minInterval\)/,
    ],
    [{ interval: '0s' }, 'spec.schedule.interval', /shorter than 30s/],
    [{ cron: '61 * * * *' }, 'spec.schedule.cron', /invalid cron expression "61 \* \* \* \*"/],
    [{ cron: '* * * *' }, 'spec.schedule.cron', /expected 5, 6 or 7 fields, got 4/],
    [{ cron: '0 0 1 * MON' }, 'spec.schedule.cron', /cannot both be restricted/],
    [{ cron: '0 0 30 2 *' }, 'spec.schedule.cron', /has no future fire time/],
    [{ cron: 'TZ=Mars/Olympus 0 * * * *' }, 'spec.schedule.cron', /invalid time zone "Mars\/Olympus"/],
    [
      { cron: '0 * * * *', timeZone: 'Europe/Atlantis' },
      'spec.schedule.timeZone',
      /invalid time zone "Europe\/Atlantis"/,
    ],
    [{ cron: '0 * * * *', timeZone: '+01:00' }, 'spec.schedule.timeZone', /not an IANA zone name/],
    [{ interval: '5m', timeZone: 'Nowhere' }, 'spec.schedule.timeZone', /unknown IANA zone/],
    [{ cron: '*/5 * * * * *' }, 'spec.schedule.cron', /fires 5s apart, more often than 30s/],
    [{ cron: '0,10 * * * * *' }, 'spec.schedule.cron', /fires 10s apart/],
    [{ interval: '5m', cron: '0 * * * *' }, 'spec.schedule', /exactly one of interval or cron must be set/],
    [{}, 'spec.schedule', /exactly one of interval or cron must be set/],
  ];
  for (const [schedule, field, message] of cases) {
    const { response } = judge(scheduled(schedule));
    t.equal(response.allowed, false, JSON.stringify(schedule));
    t.ok(response.status?.message.startsWith(`${field}: `), `${response.status?.message} names ${field}`);
    t.match(response.status?.message, message);
  }
  const { response } = judge(scheduled({ interval: '10s' }));
  t.equal(response.status?.code, 403, 'a policy limit is Forbidden');
  t.equal(judge(scheduled({ cron: '61 * * * *' })).response.status?.code, 422, 'a malformed schedule is Invalid');
});

t.test('the default policy: a 10s minimum', async (t) => {
  const policy = parsePolicy('');
  t.equal(judge(scheduled({ interval: '10s' }), policy).response.allowed, true);
  t.equal(judge(scheduled({ interval: '9s' }), policy).response.allowed, false);
  t.equal(judge(scheduled({ interval: '9999ms' }), policy).response.allowed, false);
});

t.test('the clock is injected: a cron expression must fire after now', async (t) => {
  const request = scheduled({ cron: '0 0 0 1 1 * 2030' });
  t.equal(planValidation(request, strict, new Date('2029-01-01T00:00:00Z')).problems.length, 0);
  t.match(planValidation(request, strict, new Date('2031-01-01T00:00:00Z')).problems, [
    { field: 'spec.schedule.cron', message: /no future fire time/ },
  ]);
});

t.test('warnings: onChangeOnly false with a short schedule, ignored fields, open webhooks', async (t) => {
  const warnings = (request: AdmissionRequest) => {
    const { response } = judge(request);
    t.equal(response.allowed, true);
    return response.warnings ?? [];
  };
  const always = { ...sources, watchOn: { onChangeOnly: false } };
  t.same(warnings(admissionRequest('ScheduleTrigger', { sources: always, schedule: { interval: '1m' }, action })), [
    'spec.sources.watchOn.onChangeOnly: false with interval 1m: the action runs every 1m whether or not the sources changed',
  ]);
  t.same(warnings(admissionRequest('ScheduleTrigger', { sources: always, schedule: { interval: '5m' }, action })), []);
  t.same(warnings(scheduled({ interval: '1m' })), [], 'onChangeOnly true (default) is not warned about');
  t.match(warnings(admissionRequest('ScheduleTrigger', { sources: always, schedule: { cron: '* * * * *' }, action })), [
    /onChangeOnly: false with a cron schedule firing 1m apart/,
  ]);
  t.same(warnings(scheduled({ interval: '5m', timeZone: 'UTC' })), [
    'spec.schedule.timeZone: applies only to cron; ignored for an interval',
  ]);
  t.same(warnings(scheduled({ cron: 'TZ=UTC 0 * * * *', timeZone: 'Europe/Paris' })), [
    'spec.schedule.timeZone: ignored: the TZ= prefix of schedule.cron wins',
  ]);
  t.same(warnings(scheduled({ interval: '5m' }, { startingDeadlineSeconds: 60 })), [
    'spec.startingDeadlineSeconds: applies only to cron; ignored for an interval',
  ]);
  const hook = (webhook: unknown) =>
    admissionRequest('WebhookTrigger', { sources, action, webhook: webhook as Record<string, unknown> });
  t.same(warnings(hook({ multiSource: false })), [
    "spec.webhook.authConfig: not set: anyone who can reach the controller's webhook port can start this trigger's checks",
  ]);
  t.same(warnings(hook({ multiSource: false, authConfig: { secretRef: { name: 's' }, key: 'token' } })), []);
});

t.test('webhook auth header must be a header name', async (t) => {
  const { response } = judge(
    admissionRequest('WebhookTrigger', {
      sources,
      action,
      webhook: { authConfig: { secretRef: { name: 's' }, key: 'k', header: 'x trigger auth' } },
    }),
  );
  t.equal(response.allowed, false);
  t.match(response.status?.message, /^spec\.webhook\.authConfig\.header: "x trigger auth" is not an HTTP header name/);
});

t.test('policy: namespaced triggers and Cluster kinds', async (t) => {
  const closed = parsePolicy('allowClusterGitRepos: false\nallowClusterActions: false\n');
  const spec = {
    sources: { kind: 'ClusterGitRepo', names: ['shared'] },
    schedule: { interval: '5m' },
    action: { kind: 'ClusterAction', name: 'deploy' },
  };
  const denied = judge(admissionRequest('ScheduleTrigger', spec), closed).response;
  t.equal(denied.allowed, false);
  t.equal(denied.status?.code, 403);
  t.equal(
    denied.status?.message,
    "spec.sources.kind: this cluster's admission policy does not let namespaced triggers use ClusterGitRepos (allowClusterGitRepos: false); spec.action.kind: this cluster's admission policy does not let namespaced triggers run ClusterActions (allowClusterActions: false)",
  );
  t.equal(judge(admissionRequest('ScheduleTrigger', spec)).response.allowed, true, 'allowed by default');
  t.equal(
    judge(admissionRequest('ScheduleTrigger', { ...spec, sources }), parsePolicy('allowClusterGitRepos: false'))
      .response.allowed,
    true,
  );
});

t.test('updates: ratcheting of unchanged fields; metadata-only updates pass', async (t) => {
  const old = { sources, schedule: { interval: '10s' }, action };
  const suspend = judge(admissionRequest('ScheduleTrigger', { ...old, suspend: true }, { old })).response;
  t.equal(suspend.allowed, true, 'a trigger below a newer minimum can still be suspended');
  t.match(suspend.warnings, [
    /spec\.schedule\.interval: "10s" is shorter than 30s.*\(allowed because this field did not change\)/,
  ]);
  const shorter = judge(
    admissionRequest('ScheduleTrigger', { ...old, schedule: { interval: '5s' } }, { old }),
  ).response;
  t.equal(shorter.allowed, false, 'changing the interval is judged');
  const broken = { sources, schedule: { cron: 'nonsense' }, action };
  const metadata = judge(admissionRequest('ScheduleTrigger', broken, { old: broken })).response;
  t.same(metadata, { uid: metadata.uid, allowed: true }, 'no verdict on an unchanged spec (finalizers, annotations)');
});

t.test('watchOn.reference.semver: a range is allowed, anything else refused naming the field', async (t) => {
  const watching = (semver: string) =>
    scheduled({ interval: '5m' }, { sources: { ...sources, watchOn: { reference: { semver } } } });
  for (const range of ['>=1.2.0 <2.0.0', '^1.4', '~2.1.x', '1.x || >=3']) {
    t.equal(judge(watching(range)).response.allowed, true, range);
  }
  for (const range of ['>=banana', 'v1.2.3.4.5', '>=1.2.0 <']) {
    const { response } = judge(watching(range));
    t.equal(response.allowed, false, range);
    t.match(response.status?.message, `spec.sources.watchOn.reference.semver: "${range}" is not a semver range`);
    t.equal(response.status?.code, 422);
  }
  // Exactly one of branch, tag, commit or semver (the CRD's CEL rule, also checked here).
  const both = scheduled(
    { interval: '5m' },
    { sources: { ...sources, watchOn: { reference: { semver: '^1', branch: 'main' } } } },
  );
  t.match(judge(both).response.status?.message, /exactly one of branch, tag, commit or semver must be set/);
});

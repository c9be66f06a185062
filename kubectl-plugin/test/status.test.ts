import t from 'tap';
import { painter } from '../src/format/color.js';
import { renderTable } from '../src/format/table.js';
import type { JobInfo, ScheduleTriggerObject, WebhookTriggerObject } from '../src/kube/types.js';
import {
  compareTriggers,
  recentEvents,
  recentJobs,
  referenceText,
  scheduleText,
  summarise,
  type TriggerDetail,
} from '../src/status/model.js';
import { renderDetail, renderStatusTable, tableHeaders, tableRows } from '../src/status/render.js';

const NOW = Date.parse('2025-06-01T12:00:00Z');
const COMMIT = '0123456789abcdef0123456789abcdef01234567';
const plain = painter(false);

const healthy: ScheduleTriggerObject = {
  kind: 'ScheduleTrigger',
  metadata: { name: 'deploy', namespace: 'ci', uid: 'u-1', generation: 2 },
  spec: {
    sources: { names: ['app', 'infra'] },
    schedule: { interval: '5m' },
    action: { kind: 'Action', name: 'run' },
  },
  status: {
    state: 'Idle',
    lastRun: '2025-06-01T11:55:00Z',
    observedGeneration: 2,
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        reason: 'Checked',
        message: '2 source(s) checked',
        lastTransitionTime: '2025-06-01T11:00:00Z',
      },
    ],
    checkedSources: {
      app: {
        commitHash: COMMIT,
        changed: '2025-06-01T11:50:00Z',
        lastJob: { name: 'run-app-1', phase: 'Queued', commit: COMMIT },
      },
      infra: {
        commitHash: COMMIT,
        lastError: { reason: 'AuthFailed', message: 'bad credentials', time: '2025-06-01T11:55:00Z' },
      },
    },
  },
};

const hook: WebhookTriggerObject = {
  kind: 'WebhookTrigger',
  metadata: { name: 'on-push', namespace: 'ci', generation: 1 },
  spec: {
    sources: { names: ['app'], kind: 'ClusterGitRepo', watchOn: { reference: { tag: 'v1' }, files: ['src/**'] } },
    action: { kind: 'ClusterAction', name: 'deploy' },
    webhook: { multiSource: true, authConfig: { secretRef: { name: 'hook' }, key: 'token', provider: 'github' } },
    suspend: true,
  },
};

const liveJob: JobInfo = {
  name: 'run-app-1',
  namespace: 'ci',
  phase: 'Succeeded',
  triggerUid: 'u-1',
  source: 'app',
  commit: COMMIT,
  created: '2025-06-01T11:50:00Z',
  startTime: '2025-06-01T11:50:10Z',
  completionTime: '2025-06-01T11:51:40Z',
};

t.test('summarise: a checked ScheduleTrigger, the live Job phase wins over the recorded one', async (t) => {
  const s = summarise(healthy, new Map([[liveJob.name, liveJob]]));
  t.equal(s.state, 'Idle');
  t.same(s.ready, { status: 'True', reason: 'Checked', message: '2 source(s) checked', since: '2025-06-01T11:00:00Z' });
  t.equal(s.stale, false);
  t.same(s.schedule, { interval: '5m' });
  t.same(s.reference, { type: 'branch', name: 'main' }, "the schema's default reference");
  t.equal(s.onChangeOnly, true);
  t.equal(s.concurrencyPolicy, 'Allow');
  t.same(
    s.sources.map((x) => x.name),
    ['app', 'infra'],
    'every source of the spec, in order',
  );
  t.same(s.sources[0]?.lastJob, {
    name: 'run-app-1',
    phase: 'Succeeded',
    phaseFrom: 'job',
    commit: COMMIT,
    startTime: '2025-06-01T11:50:10Z',
    completionTime: '2025-06-01T11:51:40Z',
  });
  t.same(s.sources[1]?.lastError, { reason: 'AuthFailed', message: 'bad credentials', time: '2025-06-01T11:55:00Z' });
  t.equal(s.webhook, undefined);

  const recorded = summarise(healthy);
  t.equal(recorded.sources[0]?.lastJob?.phase, 'Queued', 'Jobs unreadable: the phase recorded on the trigger');
  t.equal(recorded.sources[0]?.lastJob?.phaseFrom, 'status');
});

t.test('summarise: a suspended WebhookTrigger without status; a stale status', async (t) => {
  const s = summarise(hook);
  t.equal(s.state, 'Suspended', 'suspend shows whatever the status says');
  t.equal(s.suspended, true);
  t.equal(s.ready, undefined, 'no controller reported yet');
  t.same(s.reference, { type: 'tag', name: 'v1' });
  t.same(s.files, ['src/**']);
  t.same(s.webhook, {
    multiSource: true,
    triggerPath: '/ci/on-push',
    auth: { provider: 'github', secretName: 'hook', secretKey: 'token' },
  });
  t.equal(s.sources[0]?.hookPath, '/ci/on-push/app');
  t.equal(s.sources[0]?.kind, 'ClusterGitRepo');
  t.equal(summarise({ ...hook, spec: { ...hook.spec, suspend: false } }).state, 'Unknown');
  const stale = summarise({ ...healthy, metadata: { ...healthy.metadata, generation: 3 } });
  t.equal(stale.stale, true, 'observedGeneration behind generation');
  const requested = summarise({
    ...healthy,
    metadata: { ...healthy.metadata, annotations: { 'git-events-runner.rs/run-requested-at': 'now' } },
  });
  t.equal(requested.runRequested, 'now');
});

t.test('small formatters and ordering', async (t) => {
  t.equal(scheduleText({ interval: '1h30m' }), 'every 1h30m');
  t.equal(scheduleText({ cron: '0 3 * * *' }), '0 3 * * *');
  t.equal(scheduleText({ cron: '0 3 * * *', timeZone: 'Europe/Paris' }), '0 3 * * * (Europe/Paris)');
  t.equal(referenceText({ type: 'commit', name: COMMIT }), 'commit:0123456');
  t.equal(referenceText({ type: 'tag', name: 'v1.2' }), 'tag:v1.2');
  const a = summarise(hook);
  const b = summarise(healthy);
  const c = summarise({ ...healthy, metadata: { ...healthy.metadata, namespace: 'a' } });
  t.same(
    [a, b, c].sort(compareTriggers).map((x) => `${x.namespace}/${x.kind}/${x.name}`),
    ['a/ScheduleTrigger/deploy', 'ci/ScheduleTrigger/deploy', 'ci/WebhookTrigger/on-push'],
  );
  const older = { ...liveJob, name: 'old', created: '2025-05-01T00:00:00Z' };
  const foreign = { ...liveJob, name: 'other', triggerUid: 'u-2' };
  t.same(
    recentJobs([older, liveJob, foreign], 'u-1', 5).map((j) => j.name),
    ['run-app-1', 'old'],
    'newest first, own Jobs',
  );
  t.same(recentJobs([liveJob], 'u-1', 0), []);
  t.same(recentJobs([liveJob], undefined, 5), [], 'a trigger without uid has no Jobs');
  t.same(
    recentEvents(
      [
        { type: 'Normal', reason: 'A', message: '', count: 1, lastSeen: '2025-01-01T00:00:00Z' },
        { type: 'Normal', reason: 'B', message: '', count: 1, lastSeen: '2025-02-01T00:00:00Z' },
      ],
      1,
    ).map((e) => e.reason),
    ['B'],
  );
});

t.test('table: one row per source with the cells the issue lists', async (t) => {
  const triggers = [summarise(healthy, new Map([[liveJob.name, liveJob]])), summarise(hook)];
  t.same(tableHeaders({ wide: false, namespaces: false }), [
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
  ]);
  const rows = tableRows(triggers, { now: NOW, wide: false, namespaces: false, paint: plain });
  t.same(rows, [
    [
      'Schedule',
      'deploy',
      'Idle',
      'Checked',
      'every 5m',
      '5m ago',
      'app',
      'branch:main',
      '0123456',
      '10m ago',
      'run-app-1',
      'Succeeded',
    ],
    [
      'Schedule',
      'deploy',
      'Idle',
      'Checked',
      'every 5m',
      '5m ago',
      'infra',
      'branch:main',
      '0123456',
      '<none>',
      '<none>',
      '<none>',
    ],
    [
      'Webhook',
      'on-push',
      'Suspended',
      '<none>',
      '/ci/on-push/app',
      '<none>',
      'app',
      'tag:v1',
      '<none>',
      '<none>',
      '<none>',
      '<none>',
    ],
  ]);
  const wide = tableRows(triggers, { now: NOW, wide: true, namespaces: true, paint: plain });
  t.same(tableHeaders({ wide: true, namespaces: true }).slice(0, 1), ['NAMESPACE']);
  t.same(wide[0]?.slice(-5), ['Action/run', 'Allow', '90s', '<none>', '2 source(s) checked']);
  t.same(wide[1]?.slice(-2), ['AuthFailed: bad credentials', '2 source(s) checked'], 'the source error in wide');
  t.equal(wide[0]?.[0], 'ci', 'the namespace first');
  const empty = summarise({ ...healthy, spec: { ...healthy.spec, sources: { names: [] } } });
  t.same(
    tableRows([empty], { now: NOW, wide: false, namespaces: false, paint: plain })[0]?.slice(6),
    ['<none>', 'branch:main', '<none>', '<none>', '<none>', '<none>'],
    'a trigger without sources still gets a row',
  );
  const coloured = renderStatusTable(triggers, { now: NOW, wide: false, namespaces: false, paint: painter(true) });
  t.match(coloured, '\u001b[32mChecked\u001b[39m', 'Ready True in green');
  t.match(coloured, '\u001b[33mSuspended\u001b[39m', 'suspended in yellow');
  t.equal(
    renderStatusTable(triggers, { now: NOW, wide: false, namespaces: false, paint: plain }),
    renderTable(tableHeaders({ wide: false, namespaces: false }), rows),
  );
});

t.test('detail: the trigger, its sources, Jobs and Events; unreadable Jobs and Events say so', async (t) => {
  const detail: TriggerDetail = {
    ...summarise(healthy, new Map([[liveJob.name, liveJob]])),
    jobs: [liveJob],
    events: [
      {
        type: 'Warning',
        reason: 'CheckFailed',
        message: 'infra: bad credentials',
        count: 2,
        lastSeen: '2025-06-01T11:55:00Z',
      },
    ],
  };
  const out = renderDetail(detail, { now: NOW, wide: false, paint: plain });
  t.match(out, /^Name: +deploy$/m);
  t.match(out, /^Ready: +True \(Checked\): 2 source\(s\) checked$/m);
  t.match(out, /^Schedule: +every 5m$/m);
  t.match(out, /^Last run: +2025-06-01T11:55:00Z \(5m ago\)$/m);
  t.match(out, /^ {2}app +GitRepo +0123456 +10m ago +run-app-1 +Succeeded +90s +<none>$/m);
  t.match(out, /^ {2}infra .* AuthFailed: bad credentials \(5m ago\)$/m);
  t.match(
    out,
    /Recent Jobs:\n {2}NAME +SOURCE +COMMIT +PHASE +AGE +DURATION\n {2}run-app-1 +app +0123456 +Succeeded +10m +90s\n/,
  );
  t.match(
    out,
    /Events:\n {2}LAST SEEN +TYPE +REASON +COUNT +MESSAGE\n {2}5m ago +Warning +CheckFailed +2 +infra: bad credentials\n/,
  );
  t.notMatch(out, /Webhook:/, 'no webhook lines for a ScheduleTrigger');

  const hidden = renderDetail(
    { ...summarise(hook), jobs: null, events: null },
    { now: NOW, wide: false, paint: plain },
  );
  t.match(hidden, /^State: +Suspended$/m);
  t.match(hidden, /^Ready: +<none> \(no controller has reported on this trigger yet\)$/m);
  t.match(hidden, /^Webhook: +POST \/ci\/on-push\/\{source\}, POST \/ci\/on-push \(every source\)$/m);
  t.match(hidden, /^Authorization: +github signature, Secret hook, key token$/m);
  t.match(hidden, /^Watching: +tag:v1, files src\/\*\*$/m);
  t.match(hidden, /Recent Jobs:\n {2}<not shown: you may not list Jobs in this namespace>\n/);
  t.match(hidden, /Events:\n {2}<not shown: you may not list Events in this namespace>\n/);
  const none = renderDetail({ ...summarise(hook), jobs: [], events: [] }, { now: NOW, wide: false, paint: plain });
  t.match(none, /Recent Jobs:\n {2}<none>\nEvents:\n {2}<none>\n$/);
});

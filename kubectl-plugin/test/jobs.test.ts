import type { CoreV1Event, V1Job } from '@kubernetes/client-node';
import t from 'tap';
import { eventInfo, finished, jobInfo, jobPhase } from '../src/kube/jobs.js';

const at = (iso: string) => new Date(iso);

t.test("Job phases, as the controller's queue counts them", async (t) => {
  t.equal(jobPhase({ spec: { suspend: true, template: {} } }), 'Queued', 'suspended: waiting in the queue');
  t.equal(jobPhase({ spec: { suspend: false, template: {} } }), 'Running');
  t.equal(jobPhase({ status: { conditions: [{ type: 'Complete', status: 'True' }] } }), 'Succeeded');
  t.equal(jobPhase({ status: { succeeded: 1 } }), 'Succeeded');
  t.equal(jobPhase({ status: { conditions: [{ type: 'Failed', status: 'True' }] } }), 'Failed');
  t.equal(jobPhase({ status: { conditions: [{ type: 'Failed', status: 'False' }] } }), 'Running');
  t.same((['Queued', 'Running', 'Succeeded', 'Failed', 'Expired', 'Deleted'] as const).map(finished), [
    false,
    false,
    true,
    true,
    true,
    true,
  ]);
});

t.test('jobInfo reads the labels and annotations the controller writes', async (t) => {
  const job: V1Job = {
    metadata: {
      name: 'run-1',
      namespace: 'ci',
      creationTimestamp: at('2025-06-01T11:00:00Z'),
      labels: { 'git-events-runner.rs/trigger-uid': 'u-1', 'git-events-runner.rs/source-name': 'app-trunc' },
      annotations: { 'git-events-runner.rs/source': 'app', 'git-events-runner.rs/commit': 'abc' },
    },
    status: {
      startTime: at('2025-06-01T11:00:05Z'),
      conditions: [
        {
          type: 'Failed',
          status: 'True',
          reason: 'BackoffLimitExceeded',
          message: 'Job has reached the specified backoff limit',
        },
      ],
    },
  };
  t.same(jobInfo(job), {
    name: 'run-1',
    namespace: 'ci',
    phase: 'Failed',
    triggerUid: 'u-1',
    source: 'app',
    commit: 'abc',
    created: '2025-06-01T11:00:00.000Z',
    startTime: '2025-06-01T11:00:05.000Z',
    message: 'BackoffLimitExceeded: Job has reached the specified backoff limit',
  });
  t.same(jobInfo({}), { name: '', namespace: '', phase: 'Running' }, 'nothing invented');
});

t.test('eventInfo: the newest time the Event carries, never the epoch of a null timestamp', async (t) => {
  const modern: CoreV1Event = {
    metadata: {},
    involvedObject: {},
    type: 'Warning',
    reason: 'CheckFailed',
    message: 'infra: not found\nsecond line',
    eventTime: at('2025-06-01T11:00:00Z'),
    lastTimestamp: new Date(0),
  };
  t.same(eventInfo(modern), {
    type: 'Warning',
    reason: 'CheckFailed',
    message: 'infra: not found',
    count: 1,
    lastSeen: '2025-06-01T11:00:00.000Z',
  });
  const series: CoreV1Event = {
    ...modern,
    series: { count: 4, lastObservedTime: at('2025-06-01T11:30:00Z') },
  };
  t.same(eventInfo(series).count, 4);
  t.equal(eventInfo(series).lastSeen, '2025-06-01T11:30:00.000Z');
  const legacy: CoreV1Event = { metadata: {}, involvedObject: {}, count: 2, lastTimestamp: at('2025-06-01T10:00:00Z') };
  t.same(eventInfo(legacy), { type: '', reason: '', message: '', count: 2, lastSeen: '2025-06-01T10:00:00.000Z' });
});

import type { V1Job } from '@kubernetes/client-node';
import t from 'tap';
import { jobPhase } from '../src/runtime/queue.js';
import { slimJob } from '../src/runtime/world.js';

// The Job cache keeps only what the queue and the checks read; these are the fields they read.

const full: V1Job = {
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: {
    name: 'act-0123456789ab',
    namespace: 'ns',
    uid: 'u-1',
    resourceVersion: '42',
    creationTimestamp: new Date('2026-12-06T04:00:00Z'),
    labels: { 'app.kubernetes.io/managed-by': 'git-events-runner', 'git-events-runner.rs/trigger-uid': 't-1' },
    annotations: { 'git-events-runner.rs/trigger': 'hook', 'git-events-runner.rs/source': 'src' },
    managedFields: [{ manager: 'controller', operation: 'Update' }],
  },
  spec: {
    suspend: false,
    backoffLimit: 0,
    template: { spec: { containers: [{ name: 'worker', image: 'x'.repeat(10_000) }], restartPolicy: 'Never' } },
  },
  status: {
    active: 1,
    startTime: new Date('2026-12-06T04:00:01Z'),
    conditions: [{ type: 'Complete', status: 'True', message: 'm'.repeat(1000), lastTransitionTime: new Date() }],
    succeeded: 1,
    uncountedTerminatedPods: { succeeded: ['p'] },
  },
};

t.test('slimJob keeps what the controller reads and drops the Pod template', async (t) => {
  const slim = slimJob(full);
  t.same(slim.metadata, {
    name: 'act-0123456789ab',
    namespace: 'ns',
    uid: 'u-1',
    resourceVersion: '42',
    creationTimestamp: full.metadata?.creationTimestamp,
    labels: full.metadata?.labels,
    annotations: full.metadata?.annotations,
  });
  t.same(slim.spec, { suspend: false });
  t.same(slim.status, {
    active: 1,
    succeeded: 1,
    startTime: full.status?.startTime,
    conditions: [{ type: 'Complete', status: 'True' }],
  });
  t.equal(jobPhase(slim), jobPhase(full), 'the same phase as the full Job');
  t.ok(JSON.stringify(slim).length < 1000, 'small');
  t.same(slimJob(slim), slim, 'slimming twice changes nothing');
});

t.test('slimJob on sparse objects: nothing invented', async (t) => {
  t.same(slimJob({}), {});
  t.same(slimJob({ metadata: { resourceVersion: '7' } }), { metadata: { resourceVersion: '7' } });
  const queued = slimJob({ metadata: { name: 'j' }, spec: { suspend: true, template: {} } });
  t.equal(jobPhase(queued), 'Queued');
});

import t from 'tap';
import { auditMillis, createdAt } from '../src/audit.js';

// bench:webhooks times Job creations from the API server's audit log; these are its readings.

t.test('auditMillis: microseconds kept, anything else refused', async (t) => {
  t.equal(auditMillis('2026-12-03T17:55:01.123456Z'), Date.UTC(2026, 11, 3, 17, 55, 1) + 123.456);
  t.equal(auditMillis('2026-12-03T17:55:01Z'), Date.UTC(2026, 11, 3, 17, 55, 1));
  t.equal(auditMillis('2026-12-03T17:55:01.5Z'), Date.UTC(2026, 11, 3, 17, 55, 1) + 500);
  t.ok(Number.isNaN(auditMillis('2026-12-03 17:55:01')), 'no T');
  t.ok(Number.isNaN(auditMillis('2026-12-03T17:55:01.123+01:00')), 'not UTC');
  t.ok(Number.isNaN(auditMillis('')));
});

t.test(
  'createdAt: successful creates by name with both times; other stages, verbs, failures, missing times and torn lines ignored',
  async (t) => {
    const event = (over: Record<string, unknown>) =>
      JSON.stringify({
        kind: 'Event',
        verb: 'create',
        stage: 'ResponseComplete',
        stageTimestamp: '2026-12-03T17:55:01.000250Z',
        requestReceivedTimestamp: '2026-12-03T17:55:00.990125Z',
        responseStatus: { code: 201 },
        requestObject: { metadata: { name: 'job-a' } },
        ...over,
      });
    const log = [
      event({}),
      event({ requestObject: { metadata: { name: 'job-b' } }, stageTimestamp: '2026-12-03T17:55:02.5Z' }),
      event({ requestObject: { metadata: { name: 'job-c' } }, responseStatus: { code: 409 } }),
      event({ requestObject: { metadata: { name: 'job-d' } }, stage: 'ResponseStarted' }),
      event({ requestObject: { metadata: { name: 'job-e' } }, verb: 'update' }),
      event({ requestObject: { metadata: {} } }),
      event({ requestObject: { metadata: { name: 'job-f' } }, requestReceivedTimestamp: undefined }),
      // Level Metadata: no body, the name in objectRef.
      event({ requestObject: undefined, objectRef: { resource: 'jobs', name: 'job-g' } }),
      event({ requestObject: undefined, objectRef: { resource: 'jobs', name: '' } }),
      '{"kind":"Event","verb":"cre',
      '',
    ].join('\n');
    const got = createdAt(log);
    t.same([...got.keys()], ['job-a', 'job-b', 'job-g']);
    t.same(got.get('job-a'), {
      received: Date.UTC(2026, 11, 3, 17, 55, 0) + 990.125,
      completed: Date.UTC(2026, 11, 3, 17, 55, 1) + 0.25,
    });
    t.same(got.get('job-b'), {
      received: Date.UTC(2026, 11, 3, 17, 55, 0) + 990.125,
      completed: Date.UTC(2026, 11, 3, 17, 55, 2) + 500,
    });
    t.equal(createdAt('').size, 0);
  },
);

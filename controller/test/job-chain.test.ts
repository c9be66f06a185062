import type { V1Job } from '@kubernetes/client-node';
import t from 'tap';
import { chainHead, isActive, predecessorOf, successorName } from '../src/jobs/index.js';

// Forbid and Replace Jobs form a chain per trigger and source: each names its predecessor, and its own
// name derives from it, so replicas starting "the next Job" collide on the name at the API server.

const job = (name: string, predecessor: string | undefined, created = '2026-12-06T10:00:00Z', status = {}): V1Job => ({
  metadata: {
    name,
    creationTimestamp: new Date(created),
    ...(predecessor === undefined ? {} : { annotations: { 'git-events-runner.rs/predecessor': predecessor } }),
  },
  status,
});

t.test('the head is the Job no other Job follows, whatever the order and the timestamps', async (t) => {
  // All three within one second: creationTimestamp cannot order them, the chain does.
  const a = job('a', '');
  const b = job('b', 'a');
  const c = job('c', 'b');
  t.equal(chainHead([c, a, b])?.metadata?.name, 'c');
  t.equal(chainHead([b, a])?.metadata?.name, 'b');
  t.equal(chainHead([a])?.metadata?.name, 'a');
  t.equal(chainHead([]), undefined);
  // The middle expired (TTL): the newest still names a Job that is gone, and stays the head.
  t.equal(chainHead([a, c])?.metadata?.name, 'c');
});

t.test('Jobs from before chains: the newest by time, then by name, on every replica alike', async (t) => {
  const old1 = job('x-old', undefined, '2026-12-06T09:00:00Z');
  const old2 = job('y-old', undefined, '2026-12-06T09:30:00Z');
  t.equal(chainHead([old2, old1])?.metadata?.name, 'y-old');
  const same1 = job('m', undefined, '2026-12-06T09:30:00Z');
  t.equal(chainHead([same1, old2])?.metadata?.name, 'y-old', 'same second: by name');
  t.equal(chainHead([old2, same1])?.metadata?.name, 'y-old', 'in any order');
  // A chain Job following a legacy one is the head.
  t.equal(chainHead([old1, job('n', 'x-old', '2026-12-06T08:00:00Z')])?.metadata?.name, 'n');
  t.equal(predecessorOf(old1), undefined);
  t.equal(predecessorOf(job('n', '')), '');
});

t.test('successor names: deterministic, distinct per predecessor, action, trigger and source', async (t) => {
  const n = successorName('deploy', 'uid-1', 'app', 'deploy-abc');
  t.equal(n, successorName('deploy', 'uid-1', 'app', 'deploy-abc'), 'the same on every replica');
  t.match(n, /^deploy-[0-9a-f]{12}$/);
  const others = [
    successorName('deploy', 'uid-1', 'app', undefined),
    successorName('deploy', 'uid-1', 'app', 'deploy-abd'),
    successorName('other', 'uid-1', 'app', 'deploy-abc'),
    successorName('deploy', 'uid-2', 'app', 'deploy-abc'),
    successorName('deploy', 'uid-1', 'lib', 'deploy-abc'),
  ];
  t.equal(new Set([n, ...others]).size, 6);
});

t.test('active: neither succeeded nor failed, not being deleted', async (t) => {
  t.ok(isActive(job('a', '')));
  t.notOk(isActive(job('a', '', undefined, { succeeded: 1 })));
  t.notOk(isActive(job('a', '', undefined, { failed: 1 })));
  t.notOk(isActive({ metadata: { name: 'a', deletionTimestamp: new Date() } }));
});

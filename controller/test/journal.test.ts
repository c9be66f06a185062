import { MAX_PENDING_WEBHOOKS, type PendingWebhook } from '@git-events-runner/shared';
import t from 'tap';
import { pendingVerdict, withoutPending, withPending } from '../src/webhooks/journal.js';
import { TaskStore } from '../src/webhooks/tasks.js';

const entry = (task: string, acceptedAt = '2026-11-25T10:00:00.000Z'): PendingWebhook => ({
  task,
  runKey: `request:${task}`,
  source: 'repo',
  acceptedAt,
  replica: 'pod-a',
});

t.test('withPending lists a request once and keeps the rest of the status', async (t) => {
  const status = { lastRun: '2026-11-25T09:00:00Z', checkedSources: { repo: { commitHash: 'abc' } } };
  const one = withPending(status, entry('t1'));
  t.same(
    one.pendingWebhooks?.map((p) => p.task),
    ['t1'],
  );
  t.equal(one.lastRun, status.lastRun, 'other fields kept');
  t.same(one.checkedSources, status.checkedSources);
  const again = withPending(one, entry('t1'));
  t.same(
    again.pendingWebhooks?.map((p) => p.task),
    ['t1'],
    'a task already listed is not added twice',
  );
  t.same(
    withPending(again, entry('t2')).pendingWebhooks?.map((p) => p.task),
    ['t1', 't2'],
    'in acceptance order',
  );
  t.same(
    withPending(undefined, entry('t3')).pendingWebhooks?.map((p) => p.task),
    ['t3'],
    'from no status at all',
  );
});

t.test('withPending leaves a full list as it is (the caller refuses the request)', async (t) => {
  const full = { pendingWebhooks: Array.from({ length: MAX_PENDING_WEBHOOKS }, (_, i) => entry(`t${i}`)) };
  const next = withPending(full, entry('one-more'));
  t.equal(next.pendingWebhooks?.length, MAX_PENDING_WEBHOOKS);
  t.notOk(
    next.pendingWebhooks?.some((p) => p.task === 'one-more'),
    'not listed, so it is not acknowledged either',
  );
});

t.test('withoutPending removes the settled tasks and drops an empty list', async (t) => {
  const status = withPending(withPending({ lastRun: 'x' }, entry('t1')), entry('t2'));
  const left = withoutPending(status, new Set(['t1']));
  t.same(
    left?.pendingWebhooks?.map((p) => p.task),
    ['t2'],
  );
  const none = withoutPending(left, new Set(['t2', 'unknown']));
  t.same(none, { lastRun: 'x' }, 'no empty pendingWebhooks field left behind');
  t.equal(withoutPending(status, new Set()), status, 'nothing to settle: the same object');
  t.equal(withoutPending(status, new Set(['other'])), status, 'nothing listed matches: the same object');
  t.equal(withoutPending(undefined, new Set(['t1'])), undefined);
});

t.test('pendingVerdict: wait while young or running here, settle when done here, replay otherwise', async (t) => {
  const accepted = Date.parse('2026-11-25T10:00:00.000Z');
  const e = entry('t1');
  const at = (ms: number, local: 'absent' | 'running' | 'finished') =>
    pendingVerdict(e, { now: accepted + ms, replayAfterMs: 60_000, local });
  t.equal(at(59_999, 'absent'), 'wait', 'its replica may still be checking it');
  t.equal(at(60_000, 'absent'), 'replay', 'old and unknown here: its replica stopped');
  t.equal(at(120_000, 'running'), 'wait', 'this process is still checking it');
  t.equal(at(120_000, 'finished'), 'settle', 'checked here, only the removal was not written');
  t.equal(at(10, 'finished'), 'wait', 'young entries are left to the write under way');
  t.equal(
    pendingVerdict(entry('t2', 'not a time'), { now: accepted, replayAfterMs: 60_000, local: 'absent' }),
    'replay',
    'an entry that cannot be dated is not kept forever',
  );
});

t.test('TaskStore.restore keeps the id and run key; forget drops a task', async (t) => {
  const store = new TaskStore({ now: () => 1000 });
  const restored = store.restore({
    id: 'abc',
    namespace: 'ns',
    trigger: 'hook',
    source: 'repo',
    runKey: 'delivery:42',
    createdAt: 500,
  });
  t.equal(store.get('abc'), restored);
  t.equal(restored.runKey, 'delivery:42');
  t.equal(restored.state, 'Pending');
  const created = store.create('ns', 'hook', undefined);
  t.match(created.runKey, /^request:/);
  store.forget(created.id);
  t.equal(store.get(created.id), undefined);
  t.equal(store.size, 1);
});

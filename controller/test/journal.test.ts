import type { WebhookJournalEntry } from '@git-events-runner/shared';
import t from 'tap';
import { decodeEntry, encodeEntry, journalName, journalPatch, pendingVerdict } from '../src/webhooks/journal.js';
import { TaskStore } from '../src/webhooks/tasks.js';

const entry = (task: string, acceptedAt = '2026-11-25T10:00:00.000Z'): WebhookJournalEntry => ({
  task,
  namespace: 'ns',
  trigger: 'hook',
  source: 'repo',
  runKey: `request:${task}`,
  acceptedAt,
  replica: 'pod-a',
});

t.test('journalName: next to the runtime ConfigMap, a valid name whatever its length', async (t) => {
  t.equal(journalName('git-events-runner-config'), 'git-events-runner-config-journal');
  t.equal(journalName('c'.repeat(253)).length, 253);
});

t.test('entries survive the round trip; anything else is refused', async (t) => {
  const e = entry('0b5c2d9e-1f3a-4b7c-9d2e-5f6a7b8c9d0e');
  t.same(decodeEntry(e.task, encodeEntry(e)), e);
  const { source: _s, ...noSource } = e;
  t.same(decodeEntry(e.task, encodeEntry(noSource)), noSource, 'source is optional (all sources)');
  t.equal(decodeEntry('other', encodeEntry(e)), undefined, 'the key must be the task id');
  for (const bad of [
    '',
    '{',
    'null',
    '[]',
    '"x"',
    JSON.stringify({ ...e, runKey: '' }),
    JSON.stringify({ ...e, acceptedAt: 'yesterday' }),
    JSON.stringify({ ...e, extra: 1 }),
    JSON.stringify({ ...e, task: 'a/b' }),
    JSON.stringify({ ...e, namespace: undefined }),
  ]) {
    t.equal(decodeEntry(e.task, bad), undefined, bad.slice(0, 60));
  }
});

t.test('journalPatch: adds as values, removals as nulls, in one merge patch', async (t) => {
  t.same(journalPatch([entry('t1'), entry('t2')], ['t0']), {
    data: { t0: null, t1: encodeEntry(entry('t1')), t2: encodeEntry(entry('t2')) },
  });
  t.same(journalPatch([], []), { data: {} });
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

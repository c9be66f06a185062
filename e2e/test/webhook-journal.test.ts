import { JournalError, journalName, WebhookJournal } from '@git-events-runner/controller';
import type { WebhookJournalEntry } from '@git-events-runner/shared';
import {
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1ConfigMap,
  Watch,
} from '@kubernetes/client-node';
import t from 'tap';
import { eventually, testCluster, testNamespace } from '../src/index.js';

// The webhook journal against a real API server: group commits, removals, the lazy records of
// --webhooks-ack immediate, its bound, a server that is gone, and values that are not entries.

const cluster = testCluster();
const core = cluster.kc.makeApiClient(CoreV1Api);
const NAME = journalName('git-events-runner-config');
const warnings: string[] = [];
const log = { warn: (_obj: unknown, msg?: string) => warnings.push(msg ?? '') } as never;

const entry = (task: string): WebhookJournalEntry => ({
  task,
  namespace: 'team',
  trigger: 'hook',
  source: 'repo',
  runKey: `request:${task}`,
  acceptedAt: new Date().toISOString(),
  replica: 'pod-a',
});
const keysOf = async (namespace: string) =>
  Object.keys(
    (await core.readNamespacedConfigMap({ namespace, name: NAME }).catch(() => undefined as V1ConfigMap | undefined))
      ?.data ?? {},
  ).sort();

/** Every write of the journal as a watch sees it: the keys after each. */
async function watchWrites(namespace: string): Promise<{ writes: string[][]; stop: () => void }> {
  const writes: string[][] = [];
  const req = await new Watch(cluster.kc).watch(
    `/api/v1/namespaces/${namespace}/configmaps`,
    { fieldSelector: `metadata.name=${NAME}` },
    (_type: string, cm: V1ConfigMap) => writes.push(Object.keys(cm.data ?? {}).sort()),
    () => {},
  );
  return { writes, stop: () => req.abort() };
}

t.test('records at once in few writes, removals later, and nothing for a request that ended first', async (t) => {
  const ns = await testNamespace(cluster, 'journal');
  const journal = new WebhookJournal({ core, namespace: ns, name: NAME, log });
  const { writes, stop } = await watchWrites(ns);
  t.teardown(stop);
  const ids = Array.from({ length: 30 }, (_, i) => `t${String(i).padStart(2, '0')}`);
  // Thirty requests in one go: the first write creates the journal, the rest share one or two more.
  await Promise.all(ids.map((id) => journal.record(entry(id))));
  t.same(await keysOf(ns), ids, 'every recorded request is in the ConfigMap once record() resolves');
  t.equal(journal.size, 30);
  const cm = await core.readNamespacedConfigMap({ namespace: ns, name: NAME });
  t.equal(cm.metadata?.labels?.['git-events-runner.rs/webhook-journal'], 'true');
  t.same(JSON.parse(cm.data?.t00 ?? '{}'), {
    ...entry('t00'),
    acceptedAt: JSON.parse(cm.data?.t00 ?? '{}').acceptedAt,
  });
  await eventually(
    async () => writes.length,
    (n) => n >= 1,
  );
  t.ok(writes.length <= 5, `30 records took ${writes.length} writes`);

  journal.settle(ids.slice(0, 20));
  t.same(
    await eventually(
      () => keysOf(ns),
      (k) => k.length === 10,
    ),
    ids.slice(20),
    'settled requests leave the journal',
  );
  // --webhooks-ack immediate: a lazy record whose check ends before the write goes out is never written.
  const before = writes.length;
  const lazy = journal.record(entry('lazy'), false);
  journal.settle(['lazy']);
  await lazy;
  await new Promise((r) => setTimeout(r, 600));
  t.equal(writes.length, before, 'no write for a request that ended before its record went out');
  t.notOk((await keysOf(ns)).includes('lazy'));
  // A lazy record that stays goes out after a pause.
  await journal.record(entry('slow'), false);
  t.ok((await keysOf(ns)).includes('slow'), 'a lazy record is written eventually');
  await journal.stop(2000);
});

t.test('the leader reads every entry, drops values that are not entries, adopts and removes', async (t) => {
  const ns = await testNamespace(cluster, 'journal');
  const a = new WebhookJournal({ core, namespace: ns, name: NAME, log });
  const leader = new WebhookJournal({ core, namespace: ns, name: NAME, log });
  await a.record(entry('from-a'));
  await core.patchNamespacedConfigMap(
    { namespace: ns, name: NAME, body: { data: { junk: 'not json', other: JSON.stringify(entry('mismatch')) } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  const snap = await leader.read();
  t.same(
    snap.entries.map((e) => e.task),
    ['from-a'],
  );
  t.same([...snap.invalid].sort(), ['junk', 'other'], 'unreadable values and keys that are not their task id');
  leader.adopt([...snap.invalid, 'from-a']);
  leader.settle([...snap.invalid, 'from-a']);
  t.same(
    await eventually(
      () => keysOf(ns),
      (k) => k.length === 0,
    ),
    [],
    "the leader's removals of another replica's entries",
  );
  t.same(await new WebhookJournal({ core, namespace: `${ns}-none`, name: NAME, log }).read(), {
    entries: [],
    invalid: [],
  });
  await a.stop(1000);
  await leader.stop(1000);
});

t.test('bounded: a full share and an unreachable server refuse with a code', async (t) => {
  const ns = await testNamespace(cluster, 'journal');
  const journal = new WebhookJournal({ core, namespace: ns, name: NAME, log, max: 3 });
  await Promise.all(['a', 'b', 'c'].map((id) => journal.record(entry(id))));
  await t.rejects(journal.record(entry('d')), { name: 'JournalError', code: 'Full' });
  journal.settle(['a']);
  await eventually(
    () => keysOf(ns),
    (k) => k.length === 2,
  );
  await journal.record(entry('d'));
  t.same(await keysOf(ns), ['b', 'c', 'd'], 'room again once a request ended');

  const gone = new KubeConfig();
  gone.loadFromOptions({
    clusters: [{ name: 'gone', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
    users: [{ name: 'u', token: 'x' }],
    contexts: [{ name: 'c', cluster: 'gone', user: 'u' }],
    currentContext: 'c',
  });
  const dead = new WebhookJournal({ core: gone.makeApiClient(CoreV1Api), namespace: ns, name: NAME, log });
  const err = await dead.record(entry('e')).catch((e: unknown) => e);
  t.ok(err instanceof JournalError, 'a JournalError');
  t.equal((err as JournalError).code, 'NotRecorded');
  t.ok((err as JournalError).cause !== undefined, 'with its cause');
  t.equal(dead.size, 0, 'nothing kept for a record that failed');
  await journal.stop(1000);
  await dead.stop(100);
});

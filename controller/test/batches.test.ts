import t from 'tap';
import { Batches } from '../src/runtime/batches.js';

function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

t.test('items of a busy key wait and run together as the next batch', async (t) => {
  const runs: { key: string; items: number[] }[] = [];
  const gates: { resolve(): void }[] = [];
  const b = new Batches<number>(async (key, items) => {
    runs.push({ key, items });
    const gate = deferred();
    gates.push(gate);
    await gate.promise;
  });
  b.submit('a', 1);
  b.submit('a', 2);
  b.submit('a', 3);
  b.submit('b', 10);
  t.same(
    runs,
    [
      { key: 'a', items: [1] },
      { key: 'b', items: [10] },
    ],
    'the first item of each key starts at once',
  );
  t.equal(b.waiting, 2);
  gates[0]?.resolve();
  await new Promise((r) => setImmediate(r));
  t.same(runs[2], { key: 'a', items: [2, 3] }, 'the waiting items run as one batch');
  b.submit('a', 4);
  gates[2]?.resolve();
  await new Promise((r) => setImmediate(r));
  t.same(runs[3], { key: 'a', items: [4] });
  gates[3]?.resolve();
  gates[1]?.resolve();
  await new Promise((r) => setImmediate(r));
  t.equal(b.size, 0, 'idle keys are forgotten');
});

t.test('a failing run does not stop the key', async (t) => {
  const seen: number[][] = [];
  const b = new Batches<number>(async (_key, items) => {
    seen.push(items);
    if (items.includes(1)) throw new Error('boom');
  });
  b.submit('k', 1);
  b.submit('k', 2);
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  t.same(seen, [[1], [2]]);
  t.equal(b.size, 0);
});

t.test('a released batch lets the next one start, up to depth at once; items never join a started batch', async (t) => {
  const runs: number[][] = [];
  const ends: { resolve(): void }[] = [];
  const releases: (() => void)[] = [];
  const b = new Batches<number>(
    async (_key, items, release) => {
      runs.push(items);
      releases.push(release);
      const end = deferred();
      ends.push(end);
      await end.promise;
    },
    { depth: 2 },
  );
  const tick = () => new Promise((r) => setImmediate(r));
  b.submit('k', 1);
  b.submit('k', 2);
  t.same(runs, [[1]], 'the next batch waits while the first has not released');
  releases[0]?.();
  t.same(runs, [[1], [2]], 'released: the waiting items start as the second batch');
  b.submit('k', 3);
  b.submit('k', 4);
  releases[1]?.();
  t.same(runs, [[1], [2]], 'two batches run: a third waits for one to end, released or not');
  t.equal(b.waiting, 2);
  ends[0]?.resolve();
  await tick();
  t.same(runs, [[1], [2], [3, 4]], 'the first ended: the waiting items start together');
  releases[2]?.();
  releases[2]?.();
  b.submit('k', 5);
  t.equal(runs.length, 3, 'released twice, still two batches run: the new item waits for room');
  ends[1]?.resolve();
  await tick();
  t.same(runs.at(-1), [5], 'room again: it starts');
  const idle = b.idle();
  ends[2]?.resolve();
  ends[3]?.resolve();
  await idle;
  t.equal(b.size, 0, 'idle again');
});

t.test('with depth 1 a release is ignored: the next batch starts when this one ends', async (t) => {
  const runs: number[][] = [];
  const ends: { resolve(): void }[] = [];
  const b = new Batches<number>(async (_key, items, release) => {
    runs.push(items);
    release();
    const end = deferred();
    ends.push(end);
    await end.promise;
  });
  b.submit('k', 1);
  b.submit('k', 2);
  t.same(runs, [[1]]);
  const idle = b.idle();
  ends[0]?.resolve();
  await new Promise((r) => setImmediate(r));
  t.same(runs, [[1], [2]]);
  ends[1]?.resolve();
  await idle;
  t.equal(b.size, 0);
});

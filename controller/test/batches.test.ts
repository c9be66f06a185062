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

import t from 'tap';
import type { SourceRead } from '../src/runtime/check.js';
import { ReadOrder } from '../src/runtime/read-order.js';

const tick = () => new Promise((r) => setImmediate(r));
const C1: SourceRead = { commit: 'c1' };
const C2: SourceRead = { commit: 'c2' };
const C3: SourceRead = { commit: 'c3' };

t.test('overlapping batches that read the same commit act on it without asking again', async (t) => {
  const order = new ReadOrder();
  const a = order.begin('k');
  const b = order.begin('k');
  let asked = 0;
  const askAgain = async () => {
    asked++;
    return C3;
  };
  const bActs = b.agree('src', C2, askAgain);
  t.equal(await a.agree('src', C2, askAgain), C2, 'the first batch has nobody to compare with');
  a.done();
  t.equal(await bActs, C2);
  t.equal(asked, 0);
  b.done();
  await tick();
  t.equal(order.size, 0, 'the key is forgotten once every batch read');
});

t.test('a later batch whose overlapping read differs asks again, whichever commit is newer', async (t) => {
  const order = new ReadOrder();
  const a = order.begin('k');
  const b = order.begin('k');
  const asks: string[] = [];
  // b read before a did (an older commit, c1) though it started later: it must not act on c1.
  const bActs = b.agree('src', C1, async () => {
    asks.push('b');
    return C2;
  });
  let bDone = false;
  bActs.then(() => {
    bDone = true;
  });
  await tick();
  t.notOk(bDone, 'b waits for what a acted on');
  t.equal(await a.agree('src', C2, async () => C3), C2);
  a.done();
  t.equal(await bActs, C2, 'b acts on its new exchange');
  t.same(asks, ['b']);
  b.done();
});

t.test('a batch that read nothing of a source passes on what the batches before it read', async (t) => {
  const order = new ReadOrder();
  const a = order.begin('k');
  const b = order.begin('k');
  const c = order.begin('k');
  t.equal(await a.agree('src', C2, async () => C3), C2);
  a.done();
  b.done(); // b failed before its exchange
  let asked = false;
  t.equal(
    await c.agree('src', C1, async () => {
      asked = true;
      return C2;
    }),
    C2,
    'c compares with a, past b',
  );
  t.ok(asked);
  c.done();
});

t.test('keys, sources and file hashes are compared apart', async (t) => {
  const order = new ReadOrder();
  const a = order.begin('k1');
  const b = order.begin('k2');
  const never = async (): Promise<SourceRead> => {
    throw new Error('must not ask again');
  };
  t.equal(await b.agree('src', C1, never), C1, 'another key is not waited for');
  t.equal(await a.agree('src', C2, never), C2);
  a.done();
  b.done();
  const c = order.begin('k1');
  const d = order.begin('k1');
  await c.agree('x', { commit: 'c1', fileHash: 'h1' }, never);
  c.done();
  t.equal((await d.agree('y', C1, never)).commit, 'c1', 'another source is not compared');
  let asked = 0;
  const e = order.begin('k1');
  d.done();
  const acted = await e.agree('x', { commit: 'c1', fileHash: 'h2' }, async () => {
    asked++;
    return { commit: 'c1', fileHash: 'h2' };
  });
  t.equal(asked, 1, 'same commit, other files: asked again');
  t.equal(acted.fileHash, 'h2');
  e.done();
});

t.test('a batch that begins after the ones before it read compares with none of them', async (t) => {
  const order = new ReadOrder();
  const a = order.begin('k');
  await a.agree('src', C2, async () => C3);
  a.done();
  await tick();
  const b = order.begin('k');
  let asked = false;
  t.equal(
    await b.agree('src', C1, async () => {
      asked = true;
      return C3;
    }),
    C1,
    'its exchange started after the earlier one ended: its read is the newer one',
  );
  t.notOk(asked);
  b.done();
});

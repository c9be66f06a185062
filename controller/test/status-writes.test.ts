import t from 'tap';
import { StatusWrites } from '../src/runtime/status-writes.js';

interface Obj {
  rv: number;
  status: string[] | undefined;
}

// A store with optimistic concurrency, like the API server's status subresource.
function store() {
  const state: Obj = { rv: 1, status: undefined };
  const writes: { first: Obj | undefined; status: string[] }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let failNext = false;
  const write = async (compute: (fresh: string[] | undefined, generation: number) => string[], first?: Obj) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise((r) => setImmediate(r));
    inFlight--;
    if (failNext) {
      failNext = false;
      throw new Error('server down');
    }
    const base = first !== undefined && first.rv === state.rv ? first : { ...state };
    const next = compute(base.status, 1);
    writes.push({ first, status: next });
    state.rv++;
    state.status = next;
    return { ...state };
  };
  return {
    state,
    writes,
    write,
    get maxInFlight() {
      return maxInFlight;
    },
    failOnce() {
      failNext = true;
    },
  };
}

t.test('writes of one trigger never overlap, and those that waited go out as one write', async (t) => {
  const s = store();
  const w = new StatusWrites<string[], Obj>();
  const append = (x: string) => (fresh: string[] | undefined) => [...(fresh ?? []), x];
  await Promise.all(['a', 'b', 'c', 'd'].map((x) => w.write('ns/t', append(x), undefined, s.write)));
  t.equal(s.maxInFlight, 1, 'one write at a time');
  t.same(s.state.status, ['a', 'b', 'c', 'd'], 'every computation applied, in order');
  t.equal(s.writes.length, 2, 'the first alone, the three that waited together');
  t.same(s.writes[1]?.first?.rv, 2, 'the second batch starts from what the first wrote');
  t.equal(w.size, 0, 'nothing left pending');
});

t.test('different triggers write in parallel', async (t) => {
  const s = store();
  const w = new StatusWrites<string[], Obj>();
  await Promise.all(['x', 'y'].map((k) => w.write(k, () => [k], undefined, s.write)));
  t.equal(s.maxInFlight, 2);
});

t.test('a failed write rejects only the callers it carried; the next batch still goes out', async (t) => {
  const s = store();
  const w = new StatusWrites<string[], Obj>();
  s.failOnce();
  const first = w.write('k', () => ['first'], undefined, s.write);
  const second = w.write('k', (fresh) => [...(fresh ?? []), 'second'], undefined, s.write);
  await t.rejects(first, { message: 'server down' });
  await second;
  t.same(s.state.status, ['second']);
  t.equal(w.size, 0);
});

t.test('with a gap, writes arriving within it after a write go out together, on top of that write', async (t) => {
  const s = store();
  const sleeps: { ms: number; resolve(): void }[] = [];
  const w = new StatusWrites<string[], Obj>({
    gapMs: 200,
    sleep: (ms) => new Promise<void>((resolve) => sleeps.push({ ms, resolve })),
  });
  const append = (x: string) => (fresh: string[] | undefined) => [...(fresh ?? []), x];
  const stale: Obj = { rv: 0, status: undefined };
  const a = w.write('k', append('a'), stale, s.write);
  await a;
  t.equal(s.writes.length, 1, 'the first write goes out at once');
  t.equal(w.size, 1, 'the key stays open for the gap');
  t.same(
    sleeps.map((x) => x.ms),
    [200],
  );
  const later = ['b', 'c'].map((x) => w.write('k', append(x), stale, s.write));
  await new Promise((r) => setImmediate(r));
  t.equal(s.writes.length, 1, 'writes within the gap wait for it');
  sleeps[0]?.resolve();
  await Promise.all(later);
  t.equal(s.writes.length, 2, 'and go out as one');
  t.same(s.writes[1]?.first?.rv, 2, 'starting from the object the last write returned, not the stale copy');
  t.same(s.state.status, ['a', 'b', 'c']);
  sleeps[1]?.resolve();
  await new Promise((r) => setImmediate(r));
  t.equal(w.size, 0, 'nothing came within the second gap: the key is closed');
});

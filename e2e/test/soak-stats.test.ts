import t from 'tap';
import { account, eligibleRepos, exact, judgeTrend, linearTrend, percentile } from '../src/soak-stats.js';

// The soak's verdicts are only as good as these figures.

t.test('linearTrend: slope in MiB/h with a confidence interval; judgeTrend needs enough samples', async (t) => {
  // x in hours: 180 MiB flat plus noise over one hour, then the same with +30 MiB/h.
  const flat = Array.from({ length: 60 }, (_, i) => ({ x: i / 60, y: 180 + (i % 2 === 0 ? 1 : -1) }));
  const growing = flat.map((p) => ({ x: p.x, y: p.y + 30 * p.x }));
  const f = linearTrend(flat);
  const g = linearTrend(growing);
  t.ok(f !== undefined && Math.abs(f.slope) < 1, `flat slope ${f?.slope}`);
  t.ok(g !== undefined && Math.abs(g.slope - 30) < 1, `growing slope ${g?.slope}`);
  t.ok(f !== undefined && f.spanMinutes > 58 && f.spanMinutes < 60);
  const min = { samples: 10, spanMinutes: 5 };
  t.equal(judgeTrend(f, 20, min).verdict, 'pass');
  t.equal(judgeTrend(g, 20, min).verdict, 'FAIL');
  t.equal(judgeTrend(linearTrend(flat.slice(0, 4)), 20, min).verdict, 'inconclusive', 'too few samples');
  t.equal(linearTrend(flat.slice(0, 2)), undefined, 'no trend from two points');
});

t.test('percentile, commit spacing and the Job accounting', async (t) => {
  t.equal(percentile([5, 1, 4, 2, 3], 0.5), 3);
  t.equal(
    percentile(
      Array.from({ length: 100 }, (_, i) => i + 1),
      0.99,
    ),
    99,
  );
  t.same(
    eligibleRepos(
      ['a', 'b', 'c'],
      new Map([
        ['a', 1000],
        ['b', 9000],
      ]),
      10_000,
      5000,
    ),
    ['a', 'c'],
  );
  const ok = account(new Set(['t1@c1', 't2@c1']), ['t1@c1', 't2@c1']);
  t.ok(exact(ok));
  const bad = account(new Set(['t1@c1', 't2@c1']), ['t1@c1', 't1@c1', 't3@c9']);
  t.same(bad.missing, ['t2@c1']);
  t.same(bad.unexpected, ['t3@c9']);
  t.same(bad.duplicated, [['t1@c1', 2]]);
  t.notOk(exact(bad));
});

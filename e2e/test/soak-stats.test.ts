import t from 'tap';
import { memoryTrends, memoryVerdict, type Sample } from '../src/soak-report.js';
import {
  account,
  allowUnanswered,
  eligibleRepos,
  exact,
  judgeTrend,
  linearTrend,
  percentile,
  pooledTrend,
  unansweredRequests,
} from '../src/soak-stats.js';

// The soak's verdicts are only as good as these figures.

t.test(
  'linearTrend: slope in MiB/h with a confidence interval; judgeTrend needs enough samples and a clear interval',
  async (t) => {
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
    // The verdict goes by the whole interval, not the slope alone: one that spans the limit cannot tell.
    const trend = { n: 100, spanMinutes: 30, mean: 180 };
    t.equal(judgeTrend({ ...trend, slope: 15, ci95: 4 }, 20, min).verdict, 'pass');
    t.equal(judgeTrend({ ...trend, slope: 15, ci95: 6 }, 20, min).verdict, 'inconclusive', 'below, but not surely');
    t.equal(judgeTrend({ ...trend, slope: 25, ci95: 6 }, 20, min).verdict, 'inconclusive', 'above, but not surely');
    t.equal(judgeTrend({ ...trend, slope: 25, ci95: 4 }, 20, min).verdict, 'FAIL');
    t.match(judgeTrend({ ...trend, slope: 25, ci95: 6 }, 20, min).why, /spans 20 MiB\/h/);
    t.equal(linearTrend(flat.slice(0, 2)), undefined, 'no trend from two points');
  },
);

t.test('pooledTrend: level shifts between processes are not growth; growth inside each is', async (t) => {
  // Three replicas, 10 minutes each, one after the other, flat at 200, 150 and 100 MiB: joined into one
  // series that falls; each on its own is flat.
  const level = [200, 150, 100];
  const flat = level.map((y0, r) =>
    Array.from({ length: 60 }, (_, i) => ({ x: (r * 600 + i * 10) / 3600, y: y0 + (i % 2 === 0 ? 1 : -1) })),
  );
  const joined = linearTrend(flat.flat());
  t.ok(joined !== undefined && joined.slope < -100, `joined slope ${joined?.slope}`);
  const pooled = pooledTrend(flat);
  t.ok(pooled !== undefined && Math.abs(pooled.slope) < 1, `pooled slope ${pooled?.slope}`);
  t.equal(pooled?.n, 180);
  t.ok(pooled !== undefined && pooled.spanMinutes > 9 && pooled.spanMinutes < 10, 'span: the longest piece');
  // The same pieces growing 60 MiB/h each, and rising levels (a fresh replica starting higher) too.
  const growing = flat.map((g) => g.map((p) => ({ x: p.x, y: p.y + 60 * p.x })));
  const g = pooledTrend(growing);
  t.ok(g !== undefined && Math.abs(g.slope - 60) < 2, `growing pooled slope ${g?.slope}`);
  t.ok(g !== undefined && g.ci95 > 0 && g.ci95 < 10, `ci ${g?.ci95}`);
  t.equal(pooledTrend([[{ x: 0, y: 1 }], [{ x: 1, y: 2 }]]), undefined, 'no piece with two points');
  // Processes that disagree: four replicas whose own slopes are -40, +40, -20 and +20 MiB/h. Their 240
  // samples taken as independent give a narrow interval; clustered by process the interval covers what
  // the processes show (the pooled slope is 0, and a fifth replica could as well drift at 30).
  const rates = [-40, 40, -20, 20];
  const drift = rates.map((rate, r) =>
    Array.from({ length: 60 }, (_, i) => {
      const x = (r * 600 + i * 10) / 3600;
      return { x, y: 150 + rate * (x - r / 6) + (i % 2 === 0 ? 0.5 : -0.5), cluster: `p${r}` };
    }),
  );
  const naive = pooledTrend(drift.map((g) => g.map(({ x, y }) => ({ x, y }))));
  const robust = pooledTrend(drift);
  t.ok(naive !== undefined && robust !== undefined && Math.abs(robust.slope) < 1, `slope ${robust?.slope}`);
  t.equal(robust?.clusters, 4);
  t.equal(naive?.clusters, undefined, 'no clusters named: the samples are taken as independent');
  t.ok(naive !== undefined && naive.ci95 < 10, `independent ci ${naive?.ci95}`);
  t.ok(robust !== undefined && robust.ci95 > 30, `clustered ci ${robust?.ci95}`);
  // Processes that agree: the same four growing at 60 MiB/h each; the clustered interval is narrow.
  const agree = pooledTrend(drift.map((g, r) => g.map((p) => ({ ...p, y: p.y + (60 - (rates[r] ?? 0)) * p.x }))));
  t.ok(
    agree !== undefined && Math.abs(agree.slope - 60) < 2 && agree.ci95 < 5,
    `agreeing ${agree?.slope} ± ${agree?.ci95}`,
  );
  // Two processes are too few to say how processes vary: the interval falls back to the samples.
  t.equal(pooledTrend(drift.slice(0, 2))?.clusters, undefined);
  t.equal(pooledTrend([]), undefined);
});

t.test("memoryTrends: judged across the run at equal age; each stint's warm-up is shown, not judged", async (t) => {
  // Two leaders in turn, 10 minutes each, each ramping 20 MiB over its life (warm-up); `shift` lifts the
  // second one at equal age (memory that builds up with the run). One follower throughout, flat.
  const run = (shift: number) => {
    const samples: Sample[] = [];
    for (let i = 0; i < 120; i++) {
      const at = i * 10;
      const base = { t: at, heapTotalMiB: 80, externalMiB: 5, lagP99Ms: 10, lagMaxMs: 20, cpuSeconds: i };
      const first = at < 600;
      const age = first ? at : at - 600;
      samples.push({
        ...base,
        replica: first ? 'a' : 'b',
        pid: first ? 1 : 2,
        leader: true,
        roleAge: age,
        rssMiB: 150 + (20 * age) / 600 + (first ? 0 : shift) + (i % 3),
        heapUsedMiB: 50,
      });
      samples.push({ ...base, replica: 'c', pid: 3, leader: false, roleAge: at, rssMiB: 160, heapUsedMiB: 50 });
    }
    return { samples, trends: memoryTrends(samples, 60, 30, 20) };
  };
  const flat = run(0);
  const across = flat.trends.find((x) => x.series.startsWith('leader RSS, across'));
  const inside = flat.trends.find((x) => x.series.startsWith('leader RSS, inside'));
  t.match(across?.series, /2 processes/);
  t.ok(across?.trend !== undefined && Math.abs(across.trend.slope) < 10, `across slope ${across?.trend?.slope}`);
  t.equal(across?.verdict, 'pass', across?.why ?? '');
  t.ok(inside?.trend !== undefined && Math.abs(inside.trend.slope - 120) < 10, `inside slope ${inside?.trend?.slope}`);
  t.equal(inside?.informational, true, 'the warm-up inside a stint is shown, not judged');
  t.equal(memoryVerdict(flat.trends), 'pass');
  // The follower is one process throughout: its own slope is judged, the comparison across is only shown.
  const follower = flat.trends.filter((x) => x.series.startsWith('follower RSS'));
  t.same(
    follower.map((x) => [x.informational === true, x.verdict]),
    [
      [true, 'inconclusive'],
      [false, 'pass'],
    ],
  );
  // The lone follower's own slope: its interval is clustered by 5-minute blocks of its 20 minutes.
  t.equal(follower[1]?.trend?.clusters, 4);
  t.match(follower[1]?.series, /inside each stint/);
  // Samples before the warm-up or in a replica's first seconds in the role are left out.
  t.equal(across?.trend?.n, flat.samples.filter((s) => s.leader && s.t >= 60 && s.roleAge >= 30).length);

  const growing = run(30);
  const g = growing.trends.find((x) => x.series.startsWith('leader RSS, across'));
  t.ok(g?.trend !== undefined && Math.abs(g.trend.slope - 180) < 15, `growing across slope ${g?.trend?.slope}`);
  t.equal(g?.verdict, 'FAIL');
  t.equal(memoryVerdict(growing.trends), 'FAIL');
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
  // A request whose answer was lost may have been accepted: one Job for it is allowed, not two, and not
  // more Jobs than such requests.
  const hooks = account(new Set(['w1#request:a']), ['w1#request:a', 'w1#request:x', 'w2#request:y', 'w2#request:y']);
  t.notOk(exact(hooks));
  const one = allowUnanswered(account(new Set(['w1#request:a']), ['w1#request:a', 'w1#request:x']), 1);
  t.same(one.unconfirmed, ['w1#request:x']);
  t.same(one.unexpected, []);
  t.ok(exact(one), 'one Job for the one request whose answer was lost');
  const twice = allowUnanswered(hooks, 2);
  t.same(twice.unconfirmed, ['w1#request:x'], 'a key with two Jobs stays a duplicate');
  t.same(twice.unexpected, ['w2#request:y']);
  t.notOk(exact(twice));
  const none = allowUnanswered(account(new Set(['w1#request:a']), ['w1#request:a', 'w1#request:x']), 0);
  t.same(none.unexpected, ['w1#request:x']);
  t.notOk(exact(none), 'no lost answer: the Job is unexpected');
  t.equal(unansweredRequests({ '202': 17_999, '503': 3, UND_ERR_SOCKET: 1, TimeoutError: 2 }), 3);
});

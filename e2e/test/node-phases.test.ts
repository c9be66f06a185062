import t from 'tap';
import { phasesOf, quantile, summarize } from '../src/node-phases.js';

// The pure part of `npm run bench:node`: phases of one commit's timeline, quantiles, the summary.

t.test('phases of a full timeline', async (t) => {
  const p = phasesOf({
    pushed: 1000,
    jobCreated: 1050,
    scheduled: 1060,
    clonerRunning: 1400,
    clonerDone: 1700,
    workerRunning: 1800,
    workerDone: 2000,
    jobComplete: 2500,
  });
  t.same(p, {
    controller: 50,
    scheduling: 10,
    'cloner start': 340,
    clone: 300,
    worker: 300,
    'Job status': 500,
    total: 1500,
  });
});

t.test('a step seen before the one it follows counts as no time, never as negative', async (t) => {
  // The Pod's binding arrived in the same watch batch as the Job, a moment earlier.
  const p = phasesOf({
    pushed: 0,
    jobCreated: 100,
    scheduled: 90,
    clonerRunning: 300,
    clonerDone: 400,
    jobComplete: 900,
  });
  t.equal(p.scheduling, 0);
  t.equal(p['cloner start'], 200);
  t.equal(p.total, 900);
});

t.test('a step not seen leaves the phases next to it undefined', async (t) => {
  const p = phasesOf({ pushed: 0, jobCreated: 100, clonerRunning: 300, clonerDone: 400, jobComplete: 900 });
  t.equal(p.scheduling, undefined);
  t.equal(p['cloner start'], undefined);
  t.equal(p.clone, 100);
  t.equal(p.controller, 100);
});

t.test('nearest-rank quantiles', async (t) => {
  const v = Array.from({ length: 100 }, (_, i) => i + 1);
  t.equal(quantile(v, 0.5), 50);
  t.equal(quantile(v, 0.99), 99);
  t.equal(quantile([7], 0.99), 7);
  t.equal(quantile([3, 1, 2], 0.5), 2, 'unsorted input');
  t.ok(Number.isNaN(quantile([], 0.5)));
});

t.test('summary: p50, p99 and share of the total per phase', async (t) => {
  const rows = summarize([
    { pushed: 0, jobCreated: 10, scheduled: 20, clonerRunning: 120, clonerDone: 220, jobComplete: 1000 },
    { pushed: 0, jobCreated: 30, scheduled: 40, clonerRunning: 140, clonerDone: 240, jobComplete: 2000 },
  ]);
  const controller = rows.find((r) => r.name === 'controller');
  t.match(controller, { n: 2, p50: 10, p99: 30 });
  t.equal(controller?.shareOfTotal, 0.01);
  t.equal(rows.at(-1)?.name, 'total');
});

import {
  type Accounting,
  exact,
  judgeTrend,
  percentile,
  pooledTrend,
  type Trend,
  type TrendPoint,
  type TrendVerdict,
} from './soak-stats.js';

// The soak's figures: from the recorded samples to the trends and verdicts (pure), and the markdown report.

/** One scrape of one controller replica. */
export interface Sample {
  /** Seconds since the load started. */
  readonly t: number;
  readonly replica: string;
  readonly pid: number;
  readonly leader: boolean;
  /** Seconds this replica had led (leader) or lived (follower) at this sample. */
  readonly roleAge: number;
  readonly rssMiB: number;
  /** The anonymous and the file-backed part of rssMiB (absent in reports saved before they were sampled). */
  readonly rssAnonMiB?: number;
  readonly rssFileMiB?: number;
  readonly heapUsedMiB: number;
  readonly heapTotalMiB: number;
  readonly externalMiB: number;
  /** p99 and max of the event-loop delay since the previous scrape (prom-client resets it per scrape). */
  readonly lagP99Ms: number;
  readonly lagMaxMs: number;
  readonly cpuSeconds: number;
}

/** Cluster-wide figures at one sampling tick. */
export interface Tick {
  readonly t: number;
  /** Jobs seen so far (each once), and those existing now. */
  readonly jobsSeen: number;
  readonly jobsExisting: number;
  readonly commits: number;
  readonly webhookTasks: number;
}

/** One SIGKILL of the leader. */
export interface Kill {
  readonly t: number;
  readonly replica: string;
  readonly pid: number;
  /** Seconds from the kill until another replica held the Lease. */
  failoverSeconds?: number;
  replacement?: string;
  /** Seconds from the kill until the replacement replica was ready. */
  replacementReadySeconds?: number;
  /** Webhook tasks it had answered 202 and not finished when it died, and how many of them got no Job. */
  tasksLost?: number;
  tasksLostWithoutJob?: number;
  note?: string;
}

/** A trend of one memory series with its verdict. */
export interface SeriesTrend {
  readonly series: string;
  readonly trend: Trend | undefined;
  readonly verdict: TrendVerdict;
  readonly why: string;
  /** Shown, not judged (memoryVerdict ignores it). */
  readonly informational?: boolean;
}

/** Everything the report says. */
export interface SoakResult {
  readonly settings: Readonly<Record<string, string | number>>;
  readonly durationMinutes: number;
  readonly sampleEverySeconds: number;
  readonly interrupted: boolean;
  readonly converged: boolean;
  readonly convergenceSeconds: number;
  readonly schedule: Accounting;
  readonly webhooks: Accounting;
  /** Details of up to 20 missing, unexpected or duplicated keys, with what is known about each. */
  readonly mismatchDetails: string[];
  readonly samples: readonly Sample[];
  readonly ticks: readonly Tick[];
  readonly kills: readonly Kill[];
  readonly trends: readonly SeriesTrend[];
  readonly growthLimit: number;
  readonly warmupMinutes: number;
  readonly roleWarmupSeconds: number;
  readonly commits: { readonly made: number; readonly skipped: number; readonly minGapSeconds: number };
  readonly webhookAnswers: Readonly<Record<string, number>>;
  readonly webhookLatencyMs: { readonly p50: number; readonly p99: number };
  readonly taskStates: Readonly<Record<string, number>>;
  readonly jobsCompleted: number;
  readonly jobsDeleted: number;
  /** By source (`controller log`, `controller metrics`, `soak`), then kind. */
  readonly errors: readonly { source: string; kind: string; count: number; example: string }[];
  readonly notReady: Readonly<Record<string, number>>;
}

/** Length of the blocks a stint's samples are clustered in for its own slope's interval. */
export const BLOCK_SECONDS = 300;

/** Minimum data for a trend verdict. */
export const TREND_MINIMUM = { samples: 10, spanMinutes: 5 } as const;

/**
 * Least-squares trends of RSS and heap in use, per role, after the run's warm-up and each replica's first
 * seconds in its role. The leader is SIGKILLed every few minutes, so no process lives through a long run,
 * and each one ramps up over its first minutes (code, caches, V8's heap sizing) at a level of its own.
 * Two slopes per series:
 * - across the run at equal age (the verdict): samples grouped by minute of age in the role, each group
 *   at its own level (pooledTrend), so the slope compares replicas of the same age taken at different
 *   times. Memory that builds up with the run (caches growing with Jobs, tasks, Events, the cluster's
 *   history) shows here, while every replica's own warm-up cancels out.
 * - inside each replica's stint (shown, not judged): warm-up and a leak within a process together; with
 *   kills every few minutes no stint outlives its warm-up. When one process held the role throughout
 *   (--kill-every-minutes 0) this is the slope judged, and the other is only shown.
 * Each point names its process, so with three or more processes the interval across the run is clustered
 * by process: how far apart the replicas are decides the width, not how many samples each gave. A stint's
 * own slope is clustered by 5-minute blocks of its life (a lone process's 20 minutes are only 4 blocks).
 */
export function memoryTrends(
  samples: readonly Sample[],
  warmupSeconds: number,
  roleWarmupSeconds: number,
  limit: number,
): SeriesTrend[] {
  const out: SeriesTrend[] = [];
  for (const leader of [true, false]) {
    const role = leader ? 'leader' : 'follower';
    const kept = samples.filter((s) => s.leader === leader && s.t >= warmupSeconds && s.roleAge >= roleWarmupSeconds);
    for (const [what, pick] of [
      ['RSS', (s: Sample) => s.rssMiB],
      ['heap used', (s: Sample) => s.heapUsedMiB],
    ] as const) {
      const byAge = new Map<number, TrendPoint[]>();
      // A stint: the samples of one process in this role (a replica changes role at most once: a follower
      // becomes the leader when the leader dies).
      const stints = new Map<string, TrendPoint[]>();
      for (const s of kept) {
        if (!Number.isFinite(pick(s))) continue;
        const key = `${s.replica}/${s.pid}`;
        const x = s.t / 3600;
        const age = Math.floor(s.roleAge / 60);
        byAge.set(age, [...(byAge.get(age) ?? []), { x, y: pick(s), cluster: key }]);
        // Inside a stint, blocks of BLOCK_SECONDS of the process's life: neighbouring samples move
        // together, blocks far apart much less, so a lone process's interval still reflects that.
        const block = `${key}#${Math.floor(s.roleAge / BLOCK_SECONDS)}`;
        stints.set(key, [...(stints.get(key) ?? []), { x, y: pick(s), cluster: block }]);
      }
      const processes = `${stints.size} ${stints.size === 1 ? 'process' : 'processes'}`;
      // One process in the role (a run without kills): its own slope is the leak test, and there is no
      // other replica to compare it with.
      const judgeInside = stints.size === 1;
      const across = pooledTrend([...byAge.values()]);
      const inside = pooledTrend([...stints.values()]);
      const acrossJudged = judgeTrend(across, limit, TREND_MINIMUM);
      const insideJudged = judgeTrend(inside, limit, TREND_MINIMUM);
      out.push({
        series: `${role} ${what}, across the run at equal age (${processes})`,
        trend: across,
        ...(judgeInside
          ? { verdict: acrossJudged.verdict, why: 'shown, not judged: one process', informational: true }
          : acrossJudged),
      });
      out.push({
        series: `${role} ${what}, inside each stint`,
        trend: inside,
        ...(judgeInside
          ? insideJudged
          : {
              verdict: insideJudged.verdict,
              why: 'shown, not judged: warm-up and leaks together',
              informational: true,
            }),
      });
    }
  }
  return out;
}

/** The overall memory verdict: FAIL if any series fails, else inconclusive if any is, else pass. */
export function memoryVerdict(trends: readonly SeriesTrend[]): TrendVerdict {
  const judged = trends.filter((t) => t.informational !== true);
  if (judged.some((t) => t.verdict === 'FAIL')) return 'FAIL';
  if (judged.some((t) => t.verdict === 'inconclusive')) return 'inconclusive';
  return 'pass';
}

const f0 = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : '-');
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');
const max = (xs: readonly number[]) => {
  const finite = xs.filter(Number.isFinite);
  return finite.length === 0 ? Number.NaN : Math.max(...finite);
};
const count = (n: number) => n.toLocaleString('en-US');

function accountingRow(label: string, a: Accounting): string {
  return `| ${label} | ${count(a.expected)} | ${count(a.created)} | ${a.missing.length} | ${a.unexpected.length} | ${a.duplicated.length} | ${a.unconfirmed?.length ?? 0} | ${exact(a) ? 'exact' : '**MISMATCH**'} |`;
}

/** The markdown report: verdicts and figures first, then a compact time series. */
export function renderReport(r: SoakResult): string {
  const lines: string[] = [];
  const total: Accounting = {
    expected: r.schedule.expected + r.webhooks.expected,
    created: r.schedule.created + r.webhooks.created,
    missing: [...r.schedule.missing, ...r.webhooks.missing],
    unexpected: [...r.schedule.unexpected, ...r.webhooks.unexpected],
    duplicated: [...r.schedule.duplicated, ...r.webhooks.duplicated],
    unconfirmed: [...(r.schedule.unconfirmed ?? []), ...(r.webhooks.unconfirmed ?? [])],
  };
  const mem = memoryVerdict(r.trends);
  lines.push(`# Soak: ${f1(r.durationMinutes)} min${r.interrupted ? ' (interrupted)' : ''}`, '');
  lines.push(
    Object.entries(r.settings)
      .map(([k, v]) => `${k} ${v}`)
      .join(', '),
    '',
  );
  lines.push(
    `**Jobs: ${exact(total) ? 'exact' : 'MISMATCH'}** (${count(total.expected)} expected, ${count(total.created)} created${r.converged ? `, converged ${f0(r.convergenceSeconds)} s after the load stopped` : ', NOT converged'}). **Memory trend: ${mem}** (limit ${r.growthLimit} MiB/h).`,
    '',
  );
  lines.push('## Jobs expected vs created', '');
  lines.push(
    '| runs | expected | created | missing | unexpected | duplicated | answer lost, ran once | |',
    '|---|---:|---:|---:|---:|---:|---:|---|',
  );
  lines.push(accountingRow('ScheduleTrigger: commit x trigger of its repository', r.schedule));
  lines.push(accountingRow('WebhookTrigger: one per 202', r.webhooks));
  lines.push(accountingRow('total', total), '');
  if (r.mismatchDetails.length > 0) lines.push(...r.mismatchDetails.map((d) => `- ${d}`), '');
  const unconfirmed = total.unconfirmed ?? [];
  if (unconfirmed.length > 0)
    lines.push(
      `Answer lost, ran once: ${unconfirmed.length} Job(s) of requests whose replica was killed before its answer arrived (the request had been accepted; at most one per such request): ${unconfirmed.slice(0, 5).join(', ')}.`,
      '',
    );
  lines.push(
    `Commits: ${count(r.commits.made)} (a repository is committed again only ${r.commits.minGapSeconds} s after its previous commit; ${r.commits.skipped} ticks found no such repository). ` +
      `Webhook answers: ${Object.entries(r.webhookAnswers)
        .map(([k, v]) => `${k}: ${count(v)}`)
        .join(
          ', ',
        )}; 202 in p50 ${f1(r.webhookLatencyMs.p50)} ms, p99 ${f1(r.webhookLatencyMs.p99)} ms; tasks ${Object.entries(
        r.taskStates,
      )
        .map(([k, v]) => `${k}: ${count(v)}`)
        .join(', ')}. ` +
      `Jobs run to completion by the soak: ${count(r.jobsCompleted)}, deleted after their TTL: ${count(r.jobsDeleted)}.`,
    '',
  );

  lines.push('## Leader kills', '');
  if (r.kills.length === 0) lines.push('None.', '');
  else {
    lines.push(
      '| # | at | killed | new leader after | replacement ready after | its 202 tasks not seen ended (without Job) | |',
      '|---:|---:|---|---:|---:|---:|---|',
    );
    r.kills.forEach((k, i) => {
      lines.push(
        `| ${i + 1} | ${f1(k.t / 60)} min | ${k.replica} (pid ${k.pid}) | ${k.failoverSeconds === undefined ? '-' : `${f1(k.failoverSeconds)} s`} | ${k.replacementReadySeconds === undefined ? '-' : `${f1(k.replacementReadySeconds)} s (${k.replacement})`} | ${k.tasksLost ?? 0} (${k.tasksLostWithoutJob ?? 0}) | ${k.note ?? ''} |`,
      );
    });
    lines.push('');
  }

  lines.push('## Memory and event loop', '');
  lines.push(
    `Trends: least-squares slope over the samples after ${f1(r.warmupMinutes)} min of warm-up and after each replica's first ${r.roleWarmupSeconds} s in its role; the verdict compares replicas of the same age across the run (each minute of age at its own level), the stints' own slopes include each process's warm-up. Samples of one process are not independent: the 95 % interval across the run is clustered by process (with three or more), a stint's own by 5-minute blocks of its life (with three or more); a verdict needs the whole interval on one side of the limit.`,
    '',
  );
  lines.push(
    '| series | samples | span | mean | slope (95 % CI) | verdict |',
    '|---|---:|---:|---:|---:|---|',
    ...r.trends.map(
      (t) =>
        `| ${t.series} | ${t.trend?.n ?? 0} | ${t.trend === undefined ? '-' : `${f1(t.trend.spanMinutes)} min`} | ${t.trend === undefined ? '-' : `${f0(t.trend.mean)} MiB`} | ${t.trend === undefined ? '-' : `${f1(t.trend.slope)} ± ${f1(t.trend.ci95)} MiB/h${t.trend.clusters === undefined ? '' : ` (${t.trend.clusters} clusters)`}`} | ${t.informational === true ? `(${t.verdict})` : t.verdict}: ${t.why} |`,
    ),
    '',
  );
  lines.push(
    '| role | RSS max (anonymous / file-backed) | heap used max | heap total max | event-loop p99: median / max of 10 s windows | windows with p99 > 100 ms |',
  );
  lines.push('|---|---:|---:|---:|---:|---:|');
  for (const leader of [true, false]) {
    const s = r.samples.filter((x) => x.leader === leader);
    const lag = s.map((x) => x.lagP99Ms).filter(Number.isFinite);
    lines.push(
      `| ${leader ? 'leader' : 'follower'} | ${f0(max(s.map((x) => x.rssMiB)))} MiB (${f0(max(s.map((x) => x.rssAnonMiB ?? Number.NaN)))} / ${f0(max(s.map((x) => x.rssFileMiB ?? Number.NaN)))}) | ${f0(max(s.map((x) => x.heapUsedMiB)))} MiB | ${f0(max(s.map((x) => x.heapTotalMiB)))} MiB | ${f1(percentile(lag, 0.5))} / ${f1(max(lag))} ms | ${lag.filter((x) => x > 100).length} of ${lag.length} |`,
    );
  }
  lines.push('');

  lines.push('## Errors by kind', '');
  if (r.errors.length === 0) lines.push('None.', '');
  else {
    lines.push('| source | kind | count | example |', '|---|---|---:|---|');
    for (const e of r.errors)
      lines.push(
        `| ${e.source} | ${e.kind} | ${count(e.count)} | ${e.example.replace(/\|/g, '\\|').replace(/\n/g, ' ')} |`,
      );
    lines.push('');
  }
  const notReady = Object.entries(r.notReady);
  lines.push(
    `Triggers not Ready at the end: ${notReady.length === 0 ? 'none' : notReady.map(([k, v]) => `${k}: ${v}`).join(', ')}.`,
    '',
  );

  lines.push('## Time series', '');
  lines.push(...timeSeries(r));
  return `${lines.join('\n')}\n`;
}

// One row per bucket of about a thirtieth of the run (at least one sampling period).
function timeSeries(r: SoakResult): string[] {
  const end = Math.max(0, ...r.samples.map((s) => s.t), ...r.ticks.map((t) => t.t));
  const period = r.sampleEverySeconds;
  const width = Math.max(1, Math.ceil(end / 30 / period)) * period;
  const rows = [
    '| t (min) | leader | leader RSS / heap (MiB) | follower RSS / heap (MiB) | lag p99 max (ms) | Jobs seen / existing | commits | events |',
    '|---:|---|---:|---:|---:|---:|---:|---|',
  ];
  // A sample belongs to the tick it was scheduled at (a busy machine wakes the sampler a little late).
  const tick = (t: number) => Math.round(t / period) * period;
  for (let from = 0; from <= end; from += width) {
    const to = from + width;
    const inB = (t: number) => tick(t) >= from && tick(t) < to;
    const s = r.samples.filter((x) => inB(x.t));
    const lead = s.filter((x) => x.leader);
    const fol = s.filter((x) => !x.leader);
    const last = r.ticks.filter((x) => tick(x.t) < to).at(-1);
    const events = r.kills
      .filter((k) => inB(k.t))
      .map((k) => `kill ${k.replica}${k.failoverSeconds === undefined ? '' : `, failover ${f0(k.failoverSeconds)} s`}`);
    rows.push(
      `| ${f1(from / 60)} | ${[...new Set(lead.map((x) => x.replica))].join(', ') || '-'} | ${f0(max(lead.map((x) => x.rssMiB)))} / ${f0(max(lead.map((x) => x.heapUsedMiB)))} | ${f0(max(fol.map((x) => x.rssMiB)))} / ${f0(max(fol.map((x) => x.heapUsedMiB)))} | ${f0(max(s.map((x) => x.lagP99Ms)))} | ${last === undefined ? '-' : `${count(last.jobsSeen)} / ${count(last.jobsExisting)}`} | ${last?.commits ?? '-'} | ${events.join('; ')} |`,
    );
  }
  return rows;
}

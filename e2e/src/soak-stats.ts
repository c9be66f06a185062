// Pure figures of `npm run soak`: trends, percentiles, Prometheus text, controller log kinds, the commit
// spacing rule and the Job accounting. No I/O here, so each piece can be checked on its own.

/** A least-squares line through (hours, MiB) points, with the 95 % confidence half-width of its slope. */
export interface Trend {
  readonly n: number;
  /** Minutes between the first and the last point. */
  readonly spanMinutes: number;
  readonly mean: number;
  /** MiB per hour. */
  readonly slope: number;
  /** Half-width of the slope's 95 % confidence interval (t distribution, n - 2 degrees of freedom). */
  readonly ci95: number;
  /** Processes the interval was clustered by (pooledTrend); absent when the samples were taken as independent. */
  readonly clusters?: number;
}

// Two-sided 97.5 % quantiles of Student's t for 1..30 degrees of freedom; 1.96 beyond.
const T975 = [
  12.71, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11,
  2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** The least-squares trend of `points` (x in hours); undefined with fewer than three distinct x. */
export function linearTrend(points: readonly { readonly x: number; readonly y: number }[]): Trend | undefined {
  const n = points.length;
  if (n < 3) return undefined;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (const p of points) {
    sxx += (p.x - mx) ** 2;
    sxy += (p.x - mx) * (p.y - my);
  }
  if (sxx === 0) return undefined;
  const slope = sxy / sxx;
  let sse = 0;
  for (const p of points) sse += (p.y - (my + slope * (p.x - mx))) ** 2;
  const se = Math.sqrt(sse / (n - 2) / sxx);
  const xs = points.map((p) => p.x);
  return {
    n,
    spanMinutes: (Math.max(...xs) - Math.min(...xs)) * 60,
    mean: my,
    slope,
    ci95: (T975[n - 3] ?? 1.96) * se,
  };
}

/** A point of a trend (x in hours, y in MiB); `cluster` names the process it was measured on. */
export interface TrendPoint {
  readonly x: number;
  readonly y: number;
  readonly cluster?: string;
}

/**
 * The least-squares slope shared by several series, each with an intercept of its own (a "within"
 * estimator: every series is centred on its own means first). The soak's replicas are killed and
 * replaced, and a replica taking over the leader role runs at a different level: joined into one series
 * such level shifts read as growth or shrinkage, while this slope only sees change inside each series.
 * `n` counts all points, `mean` is their mean, `spanMinutes` is the longest single series. Undefined when
 * no series has two distinct x or too few points are left for the residual degrees of freedom.
 *
 * Samples of one process 10 s apart are not independent draws: memory moves slowly, and each process
 * settles at a level of its own. Treating them as independent gives a confidence interval far narrower
 * than the data supports. When the points name their process (`cluster`) and there are at least three,
 * the interval is cluster-robust instead (Liang-Zeger sandwich with the G/(G-1) correction, t with G-1
 * degrees of freedom): its width comes from how much the processes disagree, not from the sample count.
 */
export function pooledTrend(groups: readonly (readonly TrendPoint[])[]): Trend | undefined {
  let n = 0;
  let k = 0;
  let sxx = 0;
  let sxy = 0;
  let sum = 0;
  let span = 0;
  const centred: { dx: number; dy: number; cluster: string | undefined }[] = [];
  for (const g of groups) {
    if (g.length === 0) continue;
    const mx = g.reduce((s, p) => s + p.x, 0) / g.length;
    const my = g.reduce((s, p) => s + p.y, 0) / g.length;
    n += g.length;
    k++;
    for (const p of g) {
      sum += p.y;
      sxx += (p.x - mx) ** 2;
      sxy += (p.x - mx) * (p.y - my);
      centred.push({ dx: p.x - mx, dy: p.y - my, cluster: p.cluster });
    }
    const xs = g.map((p) => p.x);
    span = Math.max(span, (Math.max(...xs) - Math.min(...xs)) * 60);
  }
  const df = n - k - 1;
  if (sxx === 0 || df < 1) return undefined;
  const slope = sxy / sxx;
  let sse = 0;
  const score = new Map<string, number>();
  for (const c of centred) {
    const e = c.dy - slope * c.dx;
    sse += e ** 2;
    if (c.cluster !== undefined) score.set(c.cluster, (score.get(c.cluster) ?? 0) + c.dx * e);
  }
  const base = { n, spanMinutes: span, mean: sum / n, slope };
  const clusters = score.size;
  if (clusters >= 3 && centred.every((c) => c.cluster !== undefined)) {
    let meat = 0;
    for (const u of score.values()) meat += u ** 2;
    const se = Math.sqrt(((clusters / (clusters - 1)) * meat) / sxx ** 2);
    return { ...base, ci95: (T975[clusters - 2] ?? 1.96) * se, clusters };
  }
  const se = Math.sqrt(sse / df / sxx);
  return { ...base, ci95: (T975[df - 1] ?? 1.96) * se };
}

/**
 * `pass`: the slope's whole 95 % interval is within the limit; `FAIL`: all of it is above; `inconclusive`:
 * too few points, or the interval spans the limit (the run cannot tell; a longer one narrows it).
 */
export type TrendVerdict = 'pass' | 'FAIL' | 'inconclusive';

/** What a trend says against a growth limit, given the least data that makes a slope meaningful. */
export function judgeTrend(
  trend: Trend | undefined,
  limitPerHour: number,
  minimum: { readonly samples: number; readonly spanMinutes: number },
): { verdict: TrendVerdict; why: string } {
  if (trend === undefined || trend.n < minimum.samples || trend.spanMinutes < minimum.spanMinutes) {
    const got =
      trend === undefined ? 'fewer than 3 samples' : `${trend.n} samples over ${trend.spanMinutes.toFixed(1)} min`;
    return {
      verdict: 'inconclusive',
      why: `${got} after warm-up; a verdict needs >= ${minimum.samples} samples over >= ${minimum.spanMinutes} min`,
    };
  }
  if (trend.slope + trend.ci95 <= limitPerHour) return { verdict: 'pass', why: `slope <= ${limitPerHour} MiB/h` };
  if (trend.slope - trend.ci95 > limitPerHour) return { verdict: 'FAIL', why: `slope > ${limitPerHour} MiB/h` };
  return {
    verdict: 'inconclusive',
    why: `the interval spans ${limitPerHour} MiB/h: too little data to tell (a longer run narrows it)`,
  };
}

/** The q-quantile (nearest rank) of `values`; NaN when empty. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}

/** One sample line of the Prometheus text format. */
export interface MetricSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** The samples of the metrics named in `names` (every sample line when `names` is undefined). */
export function parseMetrics(text: string, names?: ReadonlySet<string>): MetricSample[] {
  const out: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE_LINE.exec(line);
    if (m === null || m[1] === undefined || m[3] === undefined) continue;
    if (names !== undefined && !names.has(m[1])) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) if (l[1] !== undefined) labels[l[1]] = l[2] ?? '';
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of the samples named `name`, per value of `label` (`''` when the label is absent). */
export function sumBy(samples: readonly MetricSample[], name: string, label?: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (s.name !== name) continue;
    const key = label === undefined ? '' : (s.labels[label] ?? '');
    out[key] = (out[key] ?? 0) + s.value;
  }
  return out;
}

/** A kind of problem and how often it happened, with one example. */
export interface ErrorKind {
  count: number;
  example: string;
}

const LEVELS: Readonly<Record<number, string>> = { 40: 'warn', 50: 'error', 60: 'fatal' };

/**
 * Warnings and errors of a controller's pino JSON log, by level and message (the message is a fixed
 * string; variable parts are fields). A line that is not JSON (a crash trace, a Node warning) counts as
 * its own kind. `into` accumulates over several processes.
 */
export function logErrorKinds(log: string, into: Map<string, ErrorKind> = new Map()): Map<string, ErrorKind> {
  const add = (kind: string, example: string) => {
    const k = into.get(kind);
    if (k === undefined) into.set(kind, { count: 1, example: example.slice(0, 200) });
    else k.count++;
  };
  for (const line of log.split('\n')) {
    if (line.trim() === '') continue;
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
      add('non-JSON output', line);
      continue;
    }
    if (typeof entry !== 'object' || entry === null) continue;
    const { level, msg, err } = entry as { level?: unknown; msg?: unknown; err?: unknown };
    if (typeof level !== 'number' || level < 40) continue;
    const detail = typeof err === 'string' ? err : err === undefined ? '' : JSON.stringify(err);
    add(`${LEVELS[level] ?? `level ${level}`}: ${typeof msg === 'string' ? msg : '(no message)'}`, detail || line);
  }
  return into;
}

/**
 * Repositories that may take a commit now: none committed within `minGapMs`. With onChangeOnly, a trigger
 * sees only the tip at each check, so two commits closer than the longest time between two checks of one
 * trigger could both land between checks and the older one would rightly get no Job.
 */
export function eligibleRepos(
  repos: readonly string[],
  lastCommitAt: ReadonlyMap<string, number>,
  now: number,
  minGapMs: number,
): string[] {
  return repos.filter((r) => now - (lastCommitAt.get(r) ?? Number.NEGATIVE_INFINITY) >= minGapMs);
}

/** Expected keys against the keys of the Jobs that exist(ed). */
export interface Accounting {
  readonly expected: number;
  /** Jobs counted (each Job once, by uid). */
  readonly created: number;
  readonly missing: string[];
  readonly unexpected: string[];
  /** Keys with more than one Job, and how many. */
  readonly duplicated: [string, number][];
  /**
   * Jobs of requests whose answer never arrived (the replica died answering): the server may have
   * accepted such a request and then must run it, once. Counted apart from `unexpected`, at most one per
   * request whose answer was lost (allowUnanswered).
   */
  readonly unconfirmed?: string[];
}

/** Compares the expected run keys with the keys of the Jobs seen (one entry per Job). */
export function account(expected: ReadonlySet<string>, jobKeys: readonly string[]): Accounting {
  const counts = new Map<string, number>();
  for (const k of jobKeys) counts.set(k, (counts.get(k) ?? 0) + 1);
  return {
    expected: expected.size,
    created: jobKeys.length,
    missing: [...expected].filter((k) => !counts.has(k)),
    unexpected: [...counts.keys()].filter((k) => !expected.has(k)),
    duplicated: [...counts].filter(([, n]) => n > 1),
  };
}

/**
 * Moves up to `unanswered` unexpected keys to `unconfirmed`: a request sent to a replica that died before
 * its answer arrived has an unknown outcome (accepted and recorded, so run by the journal's replay, or
 * never accepted), and each such request may account for one Job of its own. A key with two Jobs stays
 * duplicated whatever the reason.
 */
export function allowUnanswered(a: Accounting, unanswered: number): Accounting {
  const duplicated = new Set(a.duplicated.map(([k]) => k));
  const unconfirmed = [...(a.unconfirmed ?? [])];
  const unexpected: string[] = [];
  for (const k of a.unexpected) {
    if (unconfirmed.length < unanswered && !duplicated.has(k)) unconfirmed.push(k);
    else unexpected.push(k);
  }
  return { ...a, unexpected, unconfirmed };
}

/** Requests whose answer was lost: the answers counted under an error code instead of an HTTP status. */
export function unansweredRequests(answers: Readonly<Record<string, number>>): number {
  return Object.entries(answers)
    .filter(([k]) => !/^\d{3}$/.test(k))
    .reduce((n, [, v]) => n + v, 0);
}

/**
 * Whether an accounting is exact: every expected key has exactly one Job, and no other Job exists but at
 * most one for each request whose answer was lost.
 */
export function exact(a: Accounting): boolean {
  return (
    a.missing.length === 0 &&
    a.unexpected.length === 0 &&
    a.duplicated.length === 0 &&
    a.created === a.expected + (a.unconfirmed?.length ?? 0)
  );
}

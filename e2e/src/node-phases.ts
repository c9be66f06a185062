// Pure logic of `npm run bench:node`: the moments one commit goes through, from the push to the Job's
// end, and the phases between them. Moments are milliseconds on the bench's clock, taken when the bench
// saw each change (its watches of Jobs and Pods), so each includes the API server's watch delay.

/** When the bench saw each step of one commit's Job. */
export interface CommitTimeline {
  /** The commit was pushed (the bench then sends the push webhook). */
  readonly pushed: number;
  /** The Job appeared. */
  readonly jobCreated?: number;
  /** The Pod was bound to the node. */
  readonly scheduled?: number;
  /** The cloner init container was running (sandbox made, container started). */
  readonly clonerRunning?: number;
  /** The cloner had finished (the clone is in the workdir). */
  readonly clonerDone?: number;
  /** The worker container was running. */
  readonly workerRunning?: number;
  /** The worker container had terminated. */
  readonly workerDone?: number;
  /** The Job had the Complete condition. */
  readonly jobComplete?: number;
}

/** The phases reported, in order, with what each spans. */
export const PHASES = [
  { name: 'controller', from: 'pushed', to: 'jobCreated', what: 'commit pushed -> Job created' },
  { name: 'scheduling', from: 'jobCreated', to: 'scheduled', what: 'Job created -> Pod bound to the node' },
  {
    name: 'cloner start',
    from: 'scheduled',
    to: 'clonerRunning',
    what: 'Pod bound -> cloner running (sandbox, image)',
  },
  { name: 'clone', from: 'clonerRunning', to: 'clonerDone', what: 'cloner running -> clone done' },
  { name: 'worker', from: 'clonerDone', to: 'workerDone', what: 'clone done -> worker exited (its start and run)' },
  {
    name: 'Job status',
    from: 'workerDone',
    to: 'jobComplete',
    what: 'worker exited -> Job Complete (kubelet, Job controller)',
  },
  { name: 'total', from: 'pushed', to: 'jobComplete', what: 'commit pushed -> Job complete' },
] as const;

export type PhaseName = (typeof PHASES)[number]['name'];

/**
 * The phases of one timeline in ms, or undefined for a phase whose ends were not both seen. A step seen
 * late (watch events of one object can arrive together) never makes a phase negative: a moment is
 * taken as at least the one before it.
 */
export function phasesOf(t: CommitTimeline): Record<PhaseName, number | undefined> {
  const order = [
    'pushed',
    'jobCreated',
    'scheduled',
    'clonerRunning',
    'clonerDone',
    'workerDone',
    'jobComplete',
  ] as const;
  const at: Partial<Record<(typeof order)[number], number>> = {};
  let floor = Number.NEGATIVE_INFINITY;
  for (const step of order) {
    const v = t[step];
    if (v === undefined) continue;
    floor = Math.max(floor, v);
    at[step] = floor;
  }
  const out = {} as Record<PhaseName, number | undefined>;
  for (const p of PHASES) {
    const a = at[p.from];
    const b = at[p.to];
    out[p.name] = a === undefined || b === undefined ? undefined : b - a;
  }
  return out;
}

/** Nearest-rank quantile (q in 0..1) of the values; NaN for none. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] as number;
}

/** One row per phase: p50, p99 and the share of the total's median. */
export function summarize(timelines: readonly CommitTimeline[]): {
  name: PhaseName;
  what: string;
  n: number;
  p50: number;
  p99: number;
  shareOfTotal: number;
}[] {
  const all = timelines.map(phasesOf);
  const values = (name: PhaseName) => all.map((p) => p[name]).filter((v): v is number => v !== undefined);
  const total50 = quantile(values('total'), 0.5);
  return PHASES.map((p) => {
    const v = values(p.name);
    const p50 = quantile(v, 0.5);
    return { name: p.name, what: p.what, n: v.length, p50, p99: quantile(v, 0.99), shareOfTotal: p50 / total50 };
  });
}

// Shared settings of the property-based tests (fast-check) of every package.

/**
 * The seed of a property test file: `FC_SEED` replays another one, else the file's fixed default keeps CI
 * deterministic. `runs(n)` gives fast-check's parameters: that seed, n runs, and an overall time limit
 * that only shortens a run on a very busy machine (hangs are caught per call by {@link bounded}).
 */
export function propertySeed(defaultSeed: number): {
  readonly seed: number;
  runs(numRuns: number): {
    readonly seed: number;
    readonly numRuns: number;
    readonly interruptAfterTimeLimit: number;
    readonly markInterruptAsFailure: false;
  };
} {
  const seed = Number(process.env.FC_SEED ?? defaultSeed);
  return {
    seed,
    runs: (numRuns) => ({ seed, numRuns, interruptAfterTimeLimit: 60_000, markInterruptAsFailure: false }),
  };
}

/** What a bounded call returned or threw. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * Calls `fn` and fails if it takes longer than `budgetMs`. A slow call is retried once, so a GC pause or a
 * busy machine does not fail the run; an input that is slow by nature is slow both times.
 */
export function bounded<T>(what: string, fn: () => T, budgetMs = 100): Outcome<T> {
  let elapsed = 0;
  let outcome: Outcome<T> = { ok: false, error: undefined };
  for (let attempt = 0; attempt < 2; attempt++) {
    const start = performance.now();
    try {
      outcome = { ok: true, value: fn() };
    } catch (error: unknown) {
      outcome = { ok: false, error };
    }
    elapsed = performance.now() - start;
    if (elapsed <= budgetMs) return outcome;
  }
  throw new Error(`${what} took ${elapsed.toFixed(0)} ms (budget ${budgetMs} ms)`);
}

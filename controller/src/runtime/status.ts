import type { CheckedSource, TriggerCondition, TriggerStatus } from '@git-events-runner/shared';

/** Why a trigger is or is not Ready. */
export const READY_REASONS = [
  'Checked',
  'Waiting',
  'SourceNotFound',
  'ActionNotFound',
  'CheckFailed',
  'SignatureRefused',
  'InvalidSchedule',
  'Suspended',
] as const;
export type ReadyReason = (typeof READY_REASONS)[number];

/** The outcome of one check of one source. */
export type SourceResult =
  | {
      readonly source: string;
      readonly ok: true;
      readonly entry: CheckedSource;
      /** The Job started for each run key this check served (onChangeOnly: the same Job for all). */
      readonly jobs?: readonly { readonly runKey: string; readonly name: string }[];
      /** Forbid: the active Job that held this run back (no Job was started). */
      readonly heldBy?: string;
    }
  | {
      readonly source: string;
      readonly ok: false;
      readonly reason: string;
      readonly message: string;
      readonly previous?: CheckedSource;
    };

/** The Ready condition a set of results and settings implies. */
export function readyCondition(input: {
  readonly generation: number;
  readonly previous?: TriggerCondition | undefined;
  readonly now: string;
  readonly reason: ReadyReason;
  readonly message: string;
}): TriggerCondition {
  const status = input.reason === 'Checked' || input.reason === 'Waiting' ? 'True' : 'False';
  const unchanged = input.previous?.status === status;
  return {
    type: 'Ready',
    status,
    reason: input.reason,
    message: input.message.slice(0, 1024),
    lastTransitionTime: unchanged && input.previous !== undefined ? input.previous.lastTransitionTime : input.now,
    observedGeneration: input.generation,
  };
}

/** Reason and message of the Ready condition after a check, from the per-source results. */
export function checkReadiness(results: readonly SourceResult[]): { reason: ReadyReason; message: string } {
  const failures = results.filter((r): r is Extract<SourceResult, { ok: false }> => !r.ok);
  if (failures.length === 0) return { reason: 'Checked', message: `${results.length} source(s) checked` };
  const first = failures[0]!;
  const reason: ReadyReason =
    first.reason === 'SourceNotFound'
      ? 'SourceNotFound'
      : first.reason === 'ActionNotFound'
        ? 'ActionNotFound'
        : first.reason === 'SignatureRefused'
          ? 'SignatureRefused'
          : 'CheckFailed';
  return { reason, message: failures.map((f) => `${f.source}: ${f.message}`).join('; ') };
}

/**
 * The new status after a check, merged onto the freshest status read from the API server: only the
 * sources this check looked at are replaced, sources no longer listed are dropped, everything else is
 * kept as the server has it (so a lagging cache can never write old entries back).
 */
export function mergeStatus(input: {
  readonly fresh: TriggerStatus | undefined;
  readonly names: readonly string[];
  readonly results: readonly SourceResult[];
  readonly now: string;
  readonly generation: number;
  readonly ready: TriggerCondition;
  readonly lastRun: string | undefined;
}): TriggerStatus {
  const checked: Record<string, CheckedSource> = {};
  for (const name of input.names) {
    const old = input.fresh?.checkedSources?.[name];
    if (old !== undefined) checked[name] = old;
  }
  for (const r of input.results) {
    if (!input.names.includes(r.source)) continue;
    if (r.ok) {
      if ((r.jobs?.length ?? 0) > 0) checked[r.source] = r.entry;
      else {
        // No Job from this check: only what it learned (the commit, the files hash, no error) is written;
        // lastJob and changed stay as the server has them, so a check that read the trigger before the
        // queue recorded a Job's outcome cannot write the older phase back.
        const { lastError: _dropped, ...kept } = checked[r.source] ?? {};
        checked[r.source] = {
          ...kept,
          ...(r.entry.commitHash !== undefined ? { commitHash: r.entry.commitHash } : {}),
          ...(r.entry.fileHash !== undefined ? { fileHash: r.entry.fileHash } : {}),
        };
      }
    } else {
      const base = checked[r.source] ?? {};
      checked[r.source] = {
        ...base,
        lastError: { reason: r.reason, message: r.message.slice(0, 2048), time: input.now },
      };
    }
  }
  const conditions = [...(input.fresh?.conditions ?? []).filter((c) => c.type !== 'Ready'), input.ready];
  return {
    ...input.fresh,
    state: input.ready.reason === 'InvalidSchedule' ? 'WrongConfig' : 'Idle',
    ...(input.lastRun !== undefined ? { lastRun: input.lastRun } : {}),
    checkedSources: checked,
    observedGeneration: input.generation,
    conditions,
  };
}

/** Deep equality of plain JSON values, to skip status writes that would change nothing. */
export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>)
        .filter(([, x]) => x !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, x]) => [k, sortKeys(x)]),
    );
  }
  return v;
}

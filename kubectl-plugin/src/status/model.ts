import { RUN_REQUESTED_AT_ANNOTATION } from '@git-events-runner/shared';
import type { EventInfo, JobInfo, JobPhase, TriggerKind, TriggerObject } from '../kube/types.js';

/** The watched reference of a trigger, e.g. `{ type: 'branch', name: 'main' }`. */
export interface RefSummary {
  readonly type: 'branch' | 'tag' | 'commit' | 'semver';
  /** The branch, tag or commit; for semver the range. */
  readonly name: string;
}

/** The last Job of a source: the live Job's phase when it could be read, else the one the trigger recorded. */
export interface LastJobSummary {
  readonly name: string;
  readonly phase: JobPhase;
  /** `job`: read from the Job itself; `status`: as recorded on the trigger (Jobs unreadable or gone). */
  readonly phaseFrom: 'job' | 'status';
  readonly commit?: string;
  readonly startTime?: string;
  readonly completionTime?: string;
}

/** One source of a trigger as the table and `-o json` show it. */
export interface SourceSummary {
  readonly name: string;
  readonly kind: 'GitRepo' | 'ClusterGitRepo';
  /** The webhook path that checks this source (WebhookTrigger only). */
  readonly hookPath?: string;
  readonly commit?: string;
  /** With a semver reference: the tag the commit came from. */
  readonly resolvedTag?: string;
  readonly fileHash?: string;
  /** When an action was last started for it (RFC 3339). */
  readonly changed?: string;
  readonly lastJob?: LastJobSummary;
  readonly lastError?: { readonly reason: string; readonly message: string; readonly time: string };
}

/** How a WebhookTrigger authenticates requests (never the secret itself). */
export interface WebhookAuthSummary {
  readonly provider: 'token' | 'github' | 'gitlab' | 'gitea' | 'bitbucket';
  /** The header the token goes in; undefined means the controller's default (x-trigger-auth). */
  readonly header?: string;
  readonly secretName: string;
  readonly secretKey: string;
}

/** Everything `status` shows of one trigger. */
export interface TriggerSummary {
  readonly kind: TriggerKind;
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
  readonly created?: string;
  /** `Suspended` when spec.suspend is set, else status.state (`Idle`, `Running`, `WrongConfig`), else `Unknown`. */
  readonly state: string;
  readonly suspended: boolean;
  readonly ready?: {
    readonly status: 'True' | 'False' | 'Unknown';
    readonly reason: string;
    readonly message: string;
    readonly since?: string;
  };
  /** The status describes an older generation of the spec (the controller has not caught up). */
  readonly stale: boolean;
  readonly schedule?: { readonly interval?: string; readonly cron?: string; readonly timeZone?: string };
  readonly webhook?: {
    readonly multiSource: boolean;
    /** `POST` here checks every source (only with multiSource). */
    readonly triggerPath?: string;
    readonly auth?: WebhookAuthSummary;
  };
  readonly action: { readonly kind: string; readonly name: string };
  readonly concurrencyPolicy: string;
  readonly onChangeOnly: boolean;
  readonly reference: RefSummary;
  readonly files?: readonly string[];
  /** Time of the last run (RFC 3339) or `Never`. */
  readonly lastRun?: string;
  /** A run was requested (run-now annotation) and not yet handled. */
  readonly runRequested?: string;
  readonly sources: readonly SourceSummary[];
}

/** A trigger with its recent Jobs and Events (`status TRIGGER`); null where they could not be read. */
export interface TriggerDetail extends TriggerSummary {
  readonly jobs: readonly JobInfo[] | null;
  readonly events: readonly EventInfo[] | null;
}

/** The watched reference; `branch: main` when the trigger names none (the schema's default). */
export function referenceOf(trigger: TriggerObject): RefSummary {
  const ref = trigger.spec.sources.watchOn?.reference;
  if (ref?.tag !== undefined) return { type: 'tag', name: ref.tag };
  if (ref?.semver !== undefined) return { type: 'semver', name: ref.semver };
  if (ref?.commit !== undefined) return { type: 'commit', name: ref.commit };
  return { type: 'branch', name: ref?.branch ?? 'main' };
}

/** URL path of a webhook: `/{namespace}/{trigger}` or `/{namespace}/{trigger}/{source}`. */
export function hookPath(namespace: string, trigger: string, source?: string): string {
  const parts = [namespace, trigger, ...(source === undefined ? [] : [source])];
  return `/${parts.map((p) => encodeURIComponent(p)).join('/')}`;
}

/**
 * Summarises a trigger for display. `jobs` are the live Jobs by name when they could be listed (then a
 * recorded last Job that no longer exists is shown as recorded); undefined when Jobs are unreadable.
 */
export function summarise(trigger: TriggerObject, jobs?: ReadonlyMap<string, JobInfo>): TriggerSummary {
  const namespace = trigger.metadata.namespace ?? '';
  const name = trigger.metadata.name;
  const status = trigger.status;
  const suspended = trigger.spec.suspend === true;
  const readyCondition = status?.conditions?.find((c) => c.type === 'Ready');
  const generation = trigger.metadata.generation;
  const observed = status?.observedGeneration;
  const kind = trigger.spec.sources.kind ?? 'GitRepo';
  const checked = status?.checkedSources ?? {};
  const sources: SourceSummary[] = trigger.spec.sources.names.map((source) => {
    const entry = checked[source];
    const recorded = entry?.lastJob;
    const live = recorded === undefined ? undefined : jobs?.get(recorded.name);
    let lastJob: LastJobSummary | undefined;
    if (recorded !== undefined) {
      const startTime = live?.startTime ?? recorded.startTime;
      const completionTime = live?.completionTime ?? recorded.completionTime;
      lastJob = {
        name: recorded.name,
        phase: live?.phase ?? recorded.phase,
        phaseFrom: live === undefined ? 'status' : 'job',
        ...(recorded.commit === undefined ? {} : { commit: recorded.commit }),
        ...(startTime === undefined ? {} : { startTime }),
        ...(completionTime === undefined ? {} : { completionTime }),
      };
    }
    return {
      name: source,
      kind,
      ...(trigger.kind === 'WebhookTrigger' ? { hookPath: hookPath(namespace, name, source) } : {}),
      ...(entry?.commitHash === undefined ? {} : { commit: entry.commitHash }),
      ...(entry?.resolvedTag === undefined ? {} : { resolvedTag: entry.resolvedTag }),
      ...(entry?.fileHash === undefined ? {} : { fileHash: entry.fileHash }),
      ...(entry?.changed === undefined ? {} : { changed: entry.changed }),
      ...(lastJob === undefined ? {} : { lastJob }),
      ...(entry?.lastError === undefined ? {} : { lastError: { ...entry.lastError } }),
    };
  });
  const watchOn = trigger.spec.sources.watchOn;
  const runRequested = trigger.metadata.annotations?.[RUN_REQUESTED_AT_ANNOTATION];
  const summary: TriggerSummary = {
    kind: trigger.kind,
    namespace,
    name,
    ...(trigger.metadata.uid === undefined ? {} : { uid: trigger.metadata.uid }),
    ...(trigger.metadata.creationTimestamp === undefined ? {} : { created: trigger.metadata.creationTimestamp }),
    state: suspended ? 'Suspended' : (status?.state ?? 'Unknown'),
    suspended,
    ...(readyCondition === undefined
      ? {}
      : {
          ready: {
            status: readyCondition.status,
            reason: readyCondition.reason,
            message: readyCondition.message,
            since: readyCondition.lastTransitionTime,
          },
        }),
    stale: generation !== undefined && observed !== undefined && observed < generation,
    action: { kind: trigger.spec.action.kind, name: trigger.spec.action.name },
    concurrencyPolicy: trigger.spec.concurrencyPolicy ?? 'Allow',
    onChangeOnly: watchOn?.onChangeOnly ?? true,
    reference: referenceOf(trigger),
    ...(watchOn?.files === undefined || watchOn.files.length === 0 ? {} : { files: [...watchOn.files] }),
    ...(status?.lastRun === undefined ? {} : { lastRun: status.lastRun }),
    ...(runRequested === undefined || trigger.kind !== 'ScheduleTrigger' ? {} : { runRequested }),
    sources,
  };
  if (trigger.kind === 'ScheduleTrigger') {
    const s = trigger.spec.schedule;
    return {
      ...summary,
      schedule: {
        ...(s.interval === undefined ? {} : { interval: s.interval }),
        ...(s.cron === undefined ? {} : { cron: s.cron }),
        ...(s.timeZone === undefined ? {} : { timeZone: s.timeZone }),
      },
    };
  }
  const hook = trigger.spec.webhook;
  const auth = hook.authConfig;
  return {
    ...summary,
    webhook: {
      multiSource: hook.multiSource === true,
      ...(hook.multiSource === true ? { triggerPath: hookPath(namespace, name) } : {}),
      ...(auth === undefined
        ? {}
        : {
            auth: {
              provider: auth.provider ?? 'token',
              ...(auth.header === undefined ? {} : { header: auth.header }),
              secretName: auth.secretRef.name,
              secretKey: auth.key,
            },
          }),
    },
  };
}

/** Sort order of `status`: namespace, then kind (ScheduleTrigger first), then name. */
export function compareTriggers(a: TriggerSummary, b: TriggerSummary): number {
  return a.namespace.localeCompare(b.namespace) || a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name);
}

/** The schedule as one short cell: `every 5m`, or the cron expression with its time zone. */
export function scheduleText(schedule: NonNullable<TriggerSummary['schedule']>): string {
  if (schedule.interval !== undefined) return `every ${schedule.interval.trim()}`;
  const cron = schedule.cron ?? '';
  return schedule.timeZone === undefined ? cron : `${cron} (${schedule.timeZone})`;
}

/** The reference as one cell: `branch:main`, `tag:v1.2`, `commit:0a1b2c3`, `semver:^1.2`. */
export function referenceText(ref: RefSummary): string {
  return `${ref.type}:${ref.type === 'commit' ? shortCommit(ref.name) : ref.name}`;
}

/** The first 7 characters of a commit hash, as git shows them. */
export function shortCommit(commit: string): string {
  return commit.slice(0, 7);
}

/** Jobs of one trigger, newest first, at most `limit`. */
export function recentJobs(jobs: readonly JobInfo[], triggerUid: string | undefined, limit: number): JobInfo[] {
  if (triggerUid === undefined) return [];
  return jobs
    .filter((j) => j.triggerUid === triggerUid)
    .sort((a, b) => (b.created ?? '').localeCompare(a.created ?? '') || a.name.localeCompare(b.name))
    .slice(0, limit);
}

/** Events, most recent first, at most `limit`. */
export function recentEvents(events: readonly EventInfo[], limit: number): EventInfo[] {
  return [...events].sort((a, b) => (b.lastSeen ?? '').localeCompare(a.lastSeen ?? '')).slice(0, limit);
}

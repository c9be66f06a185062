import { JOB_ANNOTATIONS, JOB_LABELS } from '@git-events-runner/shared';
import type { CoreV1Event, V1Job } from '@kubernetes/client-node';
import type { EventInfo, JobInfo, JobPhase } from './types.js';

function time(value: Date | string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const date = value instanceof Date ? value : new Date(value);
  // The client turns a null timestamp into the epoch (events.k8s.io Events have no lastTimestamp).
  return Number.isNaN(date.getTime()) || date.getTime() <= 0 ? undefined : date.toISOString();
}

/** The phase of an action Job, as the controller's queue computes it (suspended = waiting in the queue). */
export function jobPhase(job: V1Job): JobPhase {
  const conditions = job.status?.conditions ?? [];
  if (conditions.some((c) => c.type === 'Complete' && c.status === 'True') || (job.status?.succeeded ?? 0) > 0)
    return 'Succeeded';
  if (conditions.some((c) => c.type === 'Failed' && c.status === 'True') || (job.status?.failed ?? 0) > 0)
    return 'Failed';
  return job.spec?.suspend === true ? 'Queued' : 'Running';
}

/** True for phases a Job never leaves. */
export function finished(phase: JobPhase): boolean {
  return phase !== 'Queued' && phase !== 'Running';
}

/** The fields of a Job the plugin shows. */
export function jobInfo(job: V1Job): JobInfo {
  const meta = job.metadata;
  const failed = job.status?.conditions?.find((c) => c.type === 'Failed' && c.status === 'True');
  const info: { -readonly [K in keyof JobInfo]: JobInfo[K] } = {
    name: meta?.name ?? '',
    namespace: meta?.namespace ?? '',
    phase: jobPhase(job),
  };
  const triggerUid = meta?.labels?.[JOB_LABELS.triggerUid];
  if (triggerUid !== undefined) info.triggerUid = triggerUid;
  const source = meta?.annotations?.[JOB_ANNOTATIONS.source] ?? meta?.labels?.[JOB_LABELS.sourceName];
  if (source !== undefined) info.source = source;
  const commit = meta?.annotations?.[JOB_ANNOTATIONS.commit];
  if (commit !== undefined) info.commit = commit;
  const created = time(meta?.creationTimestamp);
  if (created !== undefined) info.created = created;
  const startTime = time(job.status?.startTime);
  if (startTime !== undefined) info.startTime = startTime;
  const completionTime = time(job.status?.completionTime);
  if (completionTime !== undefined) info.completionTime = completionTime;
  if (failed !== undefined) {
    const why = [failed.reason, failed.message].filter((x) => x !== undefined && x !== '').join(': ');
    if (why !== '') info.message = why;
  }
  return info;
}

/** The fields of a core/v1 Event the plugin shows (Events written through events.k8s.io included). */
export function eventInfo(event: CoreV1Event): EventInfo {
  const lastSeen =
    time(event.series?.lastObservedTime) ??
    time(event.lastTimestamp) ??
    time(event.eventTime) ??
    time(event.firstTimestamp) ??
    time(event.metadata?.creationTimestamp);
  return {
    type: event.type ?? '',
    reason: event.reason ?? '',
    message: (event.message ?? '').split('\n')[0] ?? '',
    count: event.series?.count ?? event.count ?? 1,
    ...(lastSeen === undefined ? {} : { lastSeen }),
  };
}

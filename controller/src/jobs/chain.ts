import { JOB_ANNOTATIONS } from '@git-events-runner/shared';
import type { V1Job } from '@kubernetes/client-node';
import { jobName } from './names.js';

// Forbid and Replace promise one Job at a time per trigger and source, cluster-wide. Each replica decides
// from its own cache, so two replicas answering webhooks a few milliseconds apart could each start one.
// Instead, every Job of such a trigger and source names the Job it follows (its predecessor), and its
// name is derived from that predecessor: whoever starts "the Job after X" creates the same name, the API
// server lets one create win, and the others get AlreadyExists and look at the winner. The chain is read
// from annotations, never from creationTimestamp (one-second resolution: two Jobs of one second cannot be
// ordered by it).

/** The predecessor a Job names (empty for the first of its chain); undefined for a Job made before chains. */
export function predecessorOf(job: V1Job): string | undefined {
  return job.metadata?.annotations?.[JOB_ANNOTATIONS.predecessor];
}

/**
 * The newest Job of a chain: the one no other Job names as its predecessor. Several such Jobs only come
 * from Jobs made before chains existed (or a chain whose middle expired while two heads were being
 * made, which the API server's arbitration rules out): then the newest by creation time, then by name,
 * so that every replica with the same cache picks the same one.
 */
export function chainHead(jobs: readonly V1Job[]): V1Job | undefined {
  const referenced = new Set(jobs.map(predecessorOf).filter((p): p is string => p !== undefined && p !== ''));
  const heads = jobs.filter((j) => !referenced.has(j.metadata?.name ?? ''));
  const time = (j: V1Job) => {
    const t = j.metadata?.creationTimestamp;
    return t === undefined ? 0 : new Date(t).getTime();
  };
  return heads
    .sort((a, b) => time(a) - time(b) || (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''))
    .at(-1);
}

/**
 * Name of the Job that follows `predecessor` (undefined: the first Job of the trigger and source). The
 * same inputs give the same name on every replica; the action is part of it, as in {@link jobName}.
 */
export function successorName(
  actionName: string,
  triggerUid: string,
  sourceName: string,
  predecessor: string | undefined,
): string {
  return jobName(actionName, triggerUid, sourceName, `after:${predecessor ?? ''}`);
}

/** Whether a Job still runs or waits: neither succeeded nor failed, and not being deleted. */
export function isActive(job: V1Job): boolean {
  return (
    (job.status?.succeeded ?? 0) === 0 &&
    (job.status?.failed ?? 0) === 0 &&
    job.metadata?.deletionTimestamp === undefined
  );
}

import { createHash } from 'node:crypto';

/** Longest Job name: Job names end up in the `job-name` label of their Pods, and label values stop at 63. */
export const MAX_JOB_NAME_LENGTH = 63;
/** Longest label value. */
export const MAX_LABEL_VALUE_LENGTH = 63;

// 12 hex digits = 48 bits: a collision between two runs of one trigger needs ~16 million runs.
const JOB_HASH_LENGTH = 12;
const LABEL_HASH_LENGTH = 10;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * Deterministic Job name: a readable prefix from the action name plus a hash of what makes the run
 * unique, so that the same run always gets the same name (a second create is AlreadyExists instead of a
 * duplicate Job) and different runs get different names. The action name is part of the hash because
 * a trigger pointed at another action must be able to run the same commit again.
 * The result is a DNS-1123 label of at most 63 characters.
 */
export function jobName(actionName: string, triggerUid: string, sourceName: string, runKey: string): string {
  // JSON keeps the fields apart whatever they contain (a runKey comes from a webhook request).
  const hash = sha256Hex(JSON.stringify([actionName, triggerUid, sourceName, runKey])).slice(0, JOB_HASH_LENGTH);
  const prefix = actionName
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-+/, '')
    .slice(0, MAX_JOB_NAME_LENGTH - JOB_HASH_LENGTH - 1)
    .replace(/-+$/, '');
  return `${prefix === '' ? 'action' : prefix}-${hash}`;
}

/** Whether Kubernetes accepts `value` as a label value. */
export function isValidLabelValue(value: string): boolean {
  return value.length <= MAX_LABEL_VALUE_LENGTH && LABEL_VALUE.test(value);
}

/**
 * `value` as a valid label value: unchanged when already valid; otherwise invalid characters become
 * `-`, the result is trimmed to 52 characters and suffixed with a hash of the original, so that two
 * long names sharing a prefix still get different values. Object names can be 253 characters long,
 * label values only 63. Use the same function to build a selector for such a value.
 */
export function labelValue(value: string): string {
  if (isValidLabelValue(value)) return value;
  const hash = sha256Hex(value).slice(0, LABEL_HASH_LENGTH);
  const prefix = value
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, MAX_LABEL_VALUE_LENGTH - LABEL_HASH_LENGTH - 1)
    .replace(/[^A-Za-z0-9]+$/, '');
  return prefix === '' ? hash : `${prefix}-${hash}`;
}

/**
 * Run key of a change-driven run whose commit ran before: a ref moved back to a commit (a revert by
 * force-push) whose Job from that earlier time still exists (within its TTL) must run again, under a key
 * of its own. The key names the previous change (the time it was recorded), so the checks that see the
 * same status agree on it and a second create of this run is still AlreadyExists.
 */
export function recurrenceRunKey(runKey: string, previousChanged: string): string {
  return `${runKey}@${previousChanged}`;
}

/**
 * How much older than the previous change a Job must be to count as an earlier occurrence: `changed` is
 * the controller's clock and a Job's creationTimestamp the API server's, both to the second, and a Job of
 * this very run (made by another replica a moment ago) must never read as older.
 */
export const RECURRENCE_MARGIN_MS = 5000;

/**
 * Whether a Job with a change-driven run's name belongs to an earlier occurrence of that change: it was
 * created well before the source's previous change was recorded (`changed` of its status, RFC 3339). A
 * Job of this occurrence, created by another replica or an earlier attempt, is never older than that.
 * Either time unknown or unreadable: false (the Job is taken as this run's, as before). A ref moved to a
 * commit, away and back within the margin is taken as one run.
 */
export function predatesChange(jobCreated: Date | string | undefined, previousChanged: string | undefined): boolean {
  if (jobCreated === undefined || previousChanged === undefined) return false;
  const created = jobCreated instanceof Date ? jobCreated.getTime() : Date.parse(jobCreated);
  const changed = Date.parse(previousChanged);
  return Number.isFinite(created) && Number.isFinite(changed) && created < changed - RECURRENCE_MARGIN_MS;
}

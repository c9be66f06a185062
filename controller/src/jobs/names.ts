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

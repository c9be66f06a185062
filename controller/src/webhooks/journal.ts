import { MAX_PENDING_WEBHOOKS, type PendingWebhook, type WebhookTriggerStatus } from '@git-events-runner/shared';

/**
 * The trigger status with `entry` listed as pending (once: a task already listed is not added again).
 * A status that lists MAX_PENDING_WEBHOOKS requests already is returned as it is: the caller sees its
 * entry missing from what was written and refuses the request (a throw here would fail every request
 * batched into the same write).
 */
export function withPending(status: WebhookTriggerStatus | undefined, entry: PendingWebhook): WebhookTriggerStatus {
  const pending = status?.pendingWebhooks ?? [];
  if (pending.some((p) => p.task === entry.task) || pending.length >= MAX_PENDING_WEBHOOKS) return { ...status };
  return { ...status, pendingWebhooks: [...pending, entry] };
}

/** The trigger status without the pending requests of `tasks` (the field is dropped when none remain). */
export function withoutPending(
  status: WebhookTriggerStatus | undefined,
  tasks: ReadonlySet<string>,
): WebhookTriggerStatus | undefined {
  if (status?.pendingWebhooks === undefined || tasks.size === 0) return status;
  const left = status.pendingWebhooks.filter((p) => !tasks.has(p.task));
  if (left.length === status.pendingWebhooks.length) return status;
  const { pendingWebhooks: _dropped, ...rest } = status;
  return left.length === 0 ? rest : { ...rest, pendingWebhooks: left };
}

/** What the leader does with one pending request it finds in a trigger's status. */
export type PendingVerdict =
  /** Not due yet, or its check runs in this process. */
  | 'wait'
  /** Its check finished in this process but the removal was not written: write it, run nothing. */
  | 'settle'
  /** Its replica is gone (or forgot it): check again with the same run key. */
  | 'replay';

/**
 * Decides about a pending request. A request is only looked at once it is older than `replayAfterMs`:
 * its replica normally removes it within a check's time. Replaying a request whose replica is alive after
 * all costs one more ls-refs and finds its Job already there (Job names follow the run key).
 */
export function pendingVerdict(
  entry: PendingWebhook,
  input: {
    readonly now: number;
    readonly replayAfterMs: number;
    /** This process's task of that id: absent, still running, or finished. */
    readonly local: 'absent' | 'running' | 'finished';
  },
): PendingVerdict {
  const accepted = Date.parse(entry.acceptedAt);
  // An unreadable time cannot be dated: treat it as old rather than keep it forever.
  if (Number.isFinite(accepted) && input.now - accepted < input.replayAfterMs) return 'wait';
  if (input.local === 'running') return 'wait';
  if (input.local === 'finished') return 'settle';
  return 'replay';
}

/** Codes of JournalError. */
export const JOURNAL_ERROR_CODES = ['Full', 'NotRecorded'] as const;
export type JournalErrorCode = (typeof JOURNAL_ERROR_CODES)[number];

/** A webhook request could not be recorded as accepted. */
export class JournalError extends Error {
  override readonly name = 'JournalError';
  readonly code: JournalErrorCode;

  constructor(code: JournalErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

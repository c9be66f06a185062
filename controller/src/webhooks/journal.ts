import { CodedError, type WebhookJournalEntry, webhookJournalEntryValid } from '@git-events-runner/shared';

/**
 * The webhook journal: the replicas list the webhook requests they answered 202 and whose check has not
 * ended in one ConfigMap (one key per task, so merge patches of several replicas never touch the same
 * key), written before the answer and cleared after the check. A replica that dies in between leaves its
 * entries for the leader to replay. These are the pure parts: the name, encoding, patches and the
 * leader's verdicts; journal-store.ts does the I/O.
 */

/** Label of the journal ConfigMap (`kubectl get configmaps -l git-events-runner.rs/webhook-journal`). */
export const JOURNAL_LABEL = 'git-events-runner.rs/webhook-journal';

/**
 * Most entries one replica keeps in the journal. Entries are about 300 bytes, so three replicas with full
 * shares stay below a ConfigMap's 1 MiB; a replica at its share answers 503 instead of a 202 it could not
 * keep (--webhooks-max-pending sheds load long before that).
 */
export const MAX_JOURNAL_ENTRIES = 1024;

/** The journal ConfigMap's name: next to the runtime ConfigMap's (the chart grants it by name). */
export function journalName(configMapName: string): string {
  return `${configMapName.slice(0, 253 - '-journal'.length)}-journal`;
}

/** The ConfigMap value of an entry (the key is its task id). */
export function encodeEntry(entry: WebhookJournalEntry): string {
  return JSON.stringify(entry);
}

/**
 * The entry a journal value holds, or undefined when it is not one (a hand edit, an older format): such
 * values are reported by the caller and removed, never replayed blindly.
 */
export function decodeEntry(key: string, value: string): WebhookJournalEntry | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (!webhookJournalEntryValid(parsed)) return undefined;
  return parsed.task === key ? parsed : undefined;
}

/**
 * A JSON merge patch of a journal's data: `adds` written, `removes` deleted (null), in one request that
 * cannot conflict with another (no resourceVersion: every key has one writer at a time).
 */
export function journalPatch(
  adds: readonly WebhookJournalEntry[],
  removes: Iterable<string>,
): { data: Record<string, string | null> } {
  const data: Record<string, string | null> = {};
  for (const id of removes) data[id] = null;
  for (const e of adds) data[e.task] = encodeEntry(e);
  return { data };
}

/** What the leader does with one entry it finds in a journal. */
export type PendingVerdict =
  /** Not due yet, or its check runs in this process. */
  | 'wait'
  /** Its check finished in this process but the removal was not written: remove it, run nothing. */
  | 'settle'
  /** Its replica is gone (or forgot it): check again with the same run key. */
  | 'replay';

/**
 * Decides about a journal entry. An entry is only looked at once it is older than `replayAfterMs`: its
 * replica normally removes it within a check's time. Replaying a request whose replica is alive after
 * all costs one more ls-refs and finds its Job already there (Job names follow the run key).
 */
export function pendingVerdict(
  entry: WebhookJournalEntry,
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
/**
 * `Full`: the journal holds its most entries; `NotRecorded`: a request's write failed; `Vanished`: the
 * ConfigMap was deleted between each of three patches and creates (another party keeps removing it).
 */
export const JOURNAL_ERROR_CODES = ['Full', 'NotRecorded', 'Vanished'] as const;
export type JournalErrorCode = (typeof JOURNAL_ERROR_CODES)[number];

/** A webhook request could not be recorded as accepted. */
export class JournalError extends CodedError<JournalErrorCode> {
  override readonly name = 'JournalError';
}

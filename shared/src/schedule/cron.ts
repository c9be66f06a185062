import { Cron } from 'croner';
import { ScheduleError } from './errors.js';

/** Zone of cron expressions that name none: the original used the process's zone, which is UTC in its image. */
export const DEFAULT_TIME_ZONE = 'UTC';

// The original's cron-lite takes years 1970-2099; croner would take 1-9999.
const MIN_YEAR = 1970;
const MAX_YEAR = 2099;

const TZ_PREFIX = /^TZ=(\S*)(?:\s+(.*))?$/s;

/** A cron expression split from its optional `TZ=` prefix, fields separated by single spaces. */
export interface CronParts {
  /** The expression without prefix. */
  expression: string;
  /** The zone of the `TZ=` prefix, as written, if there was one. */
  prefixZone?: string;
}

/** Splits off a leading `TZ=<zone> ` and normalises whitespace; does not validate. */
export function splitCron(text: string): CronParts {
  const trimmed = text.trim();
  const prefixed = TZ_PREFIX.exec(trimmed);
  if (prefixed === null) return { expression: normaliseSpaces(trimmed) };
  return { expression: normaliseSpaces(prefixed[2] ?? ''), prefixZone: prefixed[1] ?? '' };
}

function normaliseSpaces(text: string): string {
  return text.split(/\s+/).filter(Boolean).join(' ');
}

/**
 * Canonical IANA name of a zone (`europe/berlin` → `Europe/Berlin`, `US/Eastern` → `America/New_York`).
 *
 * @throws ScheduleError `InvalidTimeZone` when the runtime does not know the zone.
 */
export function resolveTimeZone(zone: string): string {
  // Intl also takes UTC offsets such as +01:00, which are not zones and were never accepted by the original.
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(zone)) {
    throw new ScheduleError('InvalidTimeZone', `invalid time zone ${JSON.stringify(zone)}: not an IANA zone name`);
  }
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
  } catch (cause: unknown) {
    throw new ScheduleError('InvalidTimeZone', `invalid time zone ${JSON.stringify(zone)}: unknown IANA zone`, {
      cause,
    });
  }
}

function invalidCron(text: string, reason: string, cause?: unknown): ScheduleError {
  return new ScheduleError('InvalidCron', `invalid cron expression ${JSON.stringify(text)}: ${reason}`, { cause });
}

// Checks croner is more lenient about than cron-lite, the original's parser.
function checkFields(expression: string): void {
  if (expression.startsWith('@')) return;
  const fields = expression.split(' ');
  if (fields.length < 5 || fields.length > 7) {
    // Also keeps croner from reading a lone ISO date as a one-shot job.
    throw invalidCron(expression, `expected 5, 6 or 7 fields, got ${fields.length}`);
  }
  const offset = fields.length === 5 ? 0 : 1;
  const dom = fields[2 + offset] ?? '';
  const dow = fields[4 + offset] ?? '';
  // cron-lite's rule: one of the day fields must be left open. With both restricted, Vixie cron ORs them and
  // Quartz refuses; refusing keeps the meaning unambiguous.
  const open = (field: string): boolean => field === '*' || field === '?';
  if (dom === '?' && dow === '?') {
    throw invalidCron(expression, 'day-of-month and day-of-week cannot both be ?');
  }
  if (!open(dom) && !open(dow)) {
    throw invalidCron(expression, 'day-of-month and day-of-week cannot both be restricted; set one to * or ?');
  }
  const year = fields[6];
  if (year !== undefined) {
    for (const item of year.split(',')) {
      // Digits after a slash are a step, not a year.
      const base = item.split('/')[0] ?? '';
      for (const digits of base.match(/[0-9]+/g) ?? []) {
        const value = Number(digits);
        if (value < MIN_YEAR || value > MAX_YEAR) {
          throw invalidCron(expression, `year ${digits} is outside ${MIN_YEAR}-${MAX_YEAR}`);
        }
      }
    }
  }
}

/**
 * A croner job (paused: it never starts a timer) for an expression in `zone`, used only to compute fire times.
 *
 * @throws ScheduleError `InvalidCron` with croner's reason.
 */
export function compileCron(expression: string, zone: string): Cron {
  checkFields(expression);
  try {
    // sloppyRanges admits cron-lite's `10/5` (every 5 starting at 10).
    return new Cron(expression, { timezone: zone, paused: true, sloppyRanges: true });
  } catch (cause: unknown) {
    throw invalidCron(
      expression,
      cause instanceof Error ? cause.message.replace(/^CronPattern: /, '') : String(cause),
      cause,
    );
  }
}

/** First fire time strictly after `after`, or undefined when there is none. */
export function fireAfter(cron: Cron, after: Date): Date | undefined {
  return cron.nextRun(after) ?? undefined;
}

/** Last fire time at or before `at`, or undefined when there is none. */
export function fireAtOrBefore(cron: Cron, at: Date): Date | undefined {
  // previousRuns is strictly before its reference; one millisecond later makes a fire time equal to `at` count.
  return cron.previousRuns(1, new Date(at.getTime() + 1))[0];
}

import { compileCron, DEFAULT_TIME_ZONE, fireAfter, fireAtOrBefore, resolveTimeZone, splitCron } from './cron.js';
import { ScheduleError } from './errors.js';
import { formatInterval, parseInterval } from './interval.js';

/** A check every `intervalMs` after the end of the previous one. */
export interface IntervalSchedule {
  kind: 'interval';
  intervalMs: number;
  /** Canonical text (`1m30s` for `90s`): equal texts mean equal schedules. */
  text: string;
}

/** A check at the fire times of a cron expression in a time zone. */
export interface CronSchedule {
  kind: 'cron';
  /** The expression without `TZ=` prefix, fields separated by single spaces. */
  expression: string;
  /** Canonical IANA zone the expression is evaluated in. */
  timeZone: string;
  /** Canonical text, `TZ=<zone> <expression>`: equal texts mean equal schedules. */
  text: string;
}

/** A parsed, validated ScheduleTrigger schedule. */
export type Schedule = IntervalSchedule | CronSchedule;

/** `spec.schedule` of a ScheduleTrigger. */
export interface ScheduleSpec {
  interval?: string;
  cron?: string;
  timeZone?: string;
}

/**
 * Validates a ScheduleTrigger's `spec.schedule`. Exactly one of `interval` and `cron` must be set. A cron
 * expression has 5 fields (seconds 0), 6 (leading seconds) or 7 (+ year 1970-2099), or is an alias
 * (`@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`); a leading `TZ=<zone> `
 * wins over `timeZone`, which defaults to UTC. `timeZone` is ignored for intervals.
 *
 * @param options.now the time after which a cron expression must still fire (default: the current time).
 * @throws ScheduleError `InvalidSchedule` (not exactly one kind), `InvalidInterval`, `InvalidCron` (with
 *   croner's reason), `InvalidTimeZone`, or `NoFutureRun` (e.g. `0 0 30 2 *`, or only past years).
 */
export function parseSchedule(spec: ScheduleSpec, options: { now?: Date } = {}): Schedule {
  const { interval, cron } = spec;
  if ((interval === undefined) === (cron === undefined)) {
    throw new ScheduleError('InvalidSchedule', 'exactly one of schedule.interval and schedule.cron must be set');
  }
  if (interval !== undefined) {
    const intervalMs = parseInterval(interval);
    return { kind: 'interval', intervalMs, text: formatInterval(intervalMs) };
  }
  const text = cron ?? '';
  const { expression, prefixZone } = splitCron(text);
  if (expression === '') {
    throw new ScheduleError('InvalidCron', `invalid cron expression ${JSON.stringify(text)}: empty`);
  }
  const timeZone = resolveTimeZone(prefixZone ?? spec.timeZone ?? DEFAULT_TIME_ZONE);
  const compiled = compileCron(expression, timeZone);
  if (fireAfter(compiled, options.now ?? new Date()) === undefined) throw noFutureRun(expression, timeZone);
  return { kind: 'cron', expression, timeZone, text: `TZ=${timeZone} ${expression}` };
}

function noFutureRun(expression: string, timeZone: string): ScheduleError {
  return new ScheduleError(
    'NoFutureRun',
    `cron expression ${JSON.stringify(expression)} (${timeZone}) has no future fire time`,
  );
}

/** What the scheduler knows when it (re)schedules a trigger. */
export interface RunState {
  /** End of the previous check (`status.lastRun`); undefined (or an invalid date) when it never ran. */
  lastRun?: Date | undefined;
  now: Date;
  /** Cron only: how late a missed fire time may still be caught up; unlimited when undefined. */
  startingDeadlineSeconds?: number | undefined;
}

/** When the next check should start. */
export interface NextRun {
  at: Date;
  /** Set on a catch-up run: the latest fire time that passed while no check ran. */
  missed?: Date;
}

/**
 * When the next check of a trigger should start. A `lastRun` in the future (clock skew) counts as `now`.
 *
 * Interval: at once if never run, else `interval` after `lastRun`, or at once if that has passed.
 * Cron: at once if never run (as the original intends). Else the first fire time after `lastRun`; if that has
 * passed, fire times were missed: one catch-up run at once (`missed` = the latest missed fire time) unless it
 * is more than `startingDeadlineSeconds` old, in which case the next fire time after `now`.
 *
 * @throws ScheduleError `NoFutureRun` when a cron expression has no fire time left and nothing to catch up.
 */
export function nextRun(schedule: Schedule, state: RunState): NextRun {
  const now = state.now.getTime();
  const last = state.lastRun?.getTime();
  if (last === undefined || Number.isNaN(last)) return { at: new Date(now) };
  const from = Math.min(last, now);
  if (schedule.kind === 'interval') return { at: new Date(Math.max(from + schedule.intervalMs, now)) };

  const cron = compileCron(schedule.expression, schedule.timeZone);
  const first = fireAfter(cron, new Date(from));
  if (first === undefined) throw noFutureRun(schedule.expression, schedule.timeZone);
  if (first.getTime() > now) return { at: first };
  // first <= now, so a latest fire time exists; `?? first` only satisfies the type.
  const latest = fireAtOrBefore(cron, new Date(now)) ?? first;
  const deadline = state.startingDeadlineSeconds;
  if (deadline === undefined || now - latest.getTime() <= deadline * 1000) {
    return { at: new Date(now), missed: latest };
  }
  const upcoming = fireAfter(cron, new Date(now));
  if (upcoming === undefined) throw noFutureRun(schedule.expression, schedule.timeZone);
  return { at: upcoming };
}

/**
 * The next `count` fire times of a cron schedule strictly after `after` (fewer when the expression runs out),
 * e.g. to show upcoming runs.
 */
export function nextFireTimes(schedule: CronSchedule, after: Date, count: number): Date[] {
  return compileCron(schedule.expression, schedule.timeZone).nextRuns(count, after);
}

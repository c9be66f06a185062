import { CodedError } from '../errors.js';
/** Why a schedule (or a time handed to the timer queue) cannot be used. */
export const SCHEDULE_ERROR_CODES = [
  'InvalidSchedule',
  'InvalidInterval',
  'InvalidCron',
  'InvalidTimeZone',
  'NoFutureRun',
  'InvalidTime',
] as const;

/** One of SCHEDULE_ERROR_CODES. */
export type ScheduleErrorCode = (typeof SCHEDULE_ERROR_CODES)[number];

/** A schedule cannot be used; the message names the offending text so it can go into a Kubernetes Event as is. */
export class ScheduleError extends CodedError<ScheduleErrorCode> {
  override readonly name = 'ScheduleError';
}

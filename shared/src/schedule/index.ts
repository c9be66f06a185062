export { DEFAULT_TIME_ZONE, resolveTimeZone } from './cron.js';
export { SCHEDULE_ERROR_CODES, ScheduleError, type ScheduleErrorCode } from './errors.js';
export { formatInterval, MAX_INTERVAL_MS, parseInterval } from './interval.js';
export {
  type CronSchedule,
  type IntervalSchedule,
  type NextRun,
  nextFireTimes,
  nextRun,
  parseSchedule,
  type RunState,
  type Schedule,
  type ScheduleSpec,
} from './schedule.js';
export {
  type Clock,
  MAX_TIMER_DELAY_MS,
  ManualClock,
  systemClock,
  TimerQueue,
  type TimerQueueOptions,
} from './timer-queue.js';

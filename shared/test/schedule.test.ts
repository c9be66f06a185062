import { INTERVAL_PATTERN } from '@git-events-runner/shared';
import {
  type CronSchedule,
  formatInterval,
  MAX_INTERVAL_MS,
  nextFireTimes,
  nextRun,
  parseInterval,
  parseSchedule,
  type Schedule,
  ScheduleError,
  type ScheduleErrorCode,
} from '@git-events-runner/shared/schedule';
import t from 'tap';

const S = 1000;
const MIN = 60 * S;
const H = 60 * MIN;
const D = 24 * H;

function codeOf(fn: () => unknown): ScheduleErrorCode | 'no error' | 'other error' {
  try {
    fn();
    return 'no error';
  } catch (error: unknown) {
    return error instanceof ScheduleError ? error.code : 'other error';
  }
}

function errorOf(fn: () => unknown): ScheduleError {
  try {
    fn();
  } catch (error: unknown) {
    if (error instanceof ScheduleError) return error;
    throw error;
  }
  throw new Error('expected a ScheduleError');
}

const iso = (dates: Date[]): string[] => dates.map((d) => d.toISOString());

function cron(spec: { cron: string; timeZone?: string }, now = new Date('2024-01-10T12:07:00Z')): CronSchedule {
  const schedule = parseSchedule(spec, { now });
  if (schedule.kind !== 'cron') throw new Error('expected a cron schedule');
  return schedule;
}

function fires(spec: { cron: string; timeZone?: string }, after: string, count = 3): string[] {
  return iso(nextFireTimes(cron(spec, new Date(after)), new Date(after), count));
}

const VALID_INTERVALS: [string, number][] = [
  ['0s', 0],
  ['30s', 30 * S],
  ['5m', 5 * MIN],
  ['1h30m', 90 * MIN],
  ['90s', 90 * S],
  ['1m30s', 90 * S],
  ['1m 30s', 90 * S],
  [' 1h 30m ', 90 * MIN],
  ['1 h', H],
  ['1h30m15s', 90 * MIN + 15 * S],
  ['2days', 2 * D],
  ['1day', D],
  ['1d', D],
  ['1w', 7 * D],
  ['1week', 7 * D],
  ['2 weeks', 14 * D],
  ['1M', 2_630_016 * S],
  ['1month', 2_630_016 * S],
  ['2months', 2 * 2_630_016 * S],
  ['1y', 31_557_600 * S],
  ['1year', 31_557_600 * S],
  ['2years', 2 * 31_557_600 * S],
  ['100y', MAX_INTERVAL_MS],
  ['10 seconds', 10 * S],
  ['1second', S],
  ['3sec', 3 * S],
  ['1minute', MIN],
  ['2minutes', 2 * MIN],
  ['1min', MIN],
  ['1hour', H],
  ['2hours', 2 * H],
  ['1hr', H],
  ['500ms', 500],
  ['1msec', 1],
  ['1usec', 1],
  ['1us', 1],
  ['1µs', 1],
  ['1000us', 1],
  ['1001us', 2],
  ['1ns', 1],
  ['1nsec', 1],
  ['1500000ns', 2],
  ['007s', 7 * S],
  ['1s1s', 2 * S],
  ['1s 1m', MIN + S],
];

const INVALID_INTERVALS = [
  '',
  ' ',
  '5',
  's',
  '1.5h',
  '-1s',
  '+1s',
  '1x',
  '1mins',
  '1secs',
  '1S',
  '1H',
  '1 m s',
  '1h-30m',
  '1h,30m',
  '\t1h',
  '1h\n',
  '1 2s',
  '1e3s',
  'PT1H',
  '1h 30',
  '101y',
  '100y1ms',
  '99999999999999999999999999999s',
];

t.test('parseInterval: humantime grammar', async (t) => {
  for (const [text, ms] of VALID_INTERVALS) t.equal(parseInterval(text), ms, JSON.stringify(text));
  for (const text of INVALID_INTERVALS)
    t.equal(
      codeOf(() => parseInterval(text)),
      'InvalidInterval',
      JSON.stringify(text),
    );
});

t.test('parseInterval accepts exactly what the CRD pattern accepts', async (t) => {
  const pattern = new RegExp(INTERVAL_PATTERN, 'u');
  // The pattern says nothing about length, so the overflow examples are the only expected disagreement.
  const overflow = new Set(['101y', '100y1ms', '99999999999999999999999999999s']);
  for (const text of [...VALID_INTERVALS.map(([text]) => text), ...INVALID_INTERVALS]) {
    const parses = codeOf(() => parseInterval(text)) === 'no error';
    t.equal(parses, pattern.test(text) && !overflow.has(text), JSON.stringify(text));
  }
  for (const text of overflow) t.ok(pattern.test(text), `${text} is only too long`);
});

t.test('parseInterval errors name the text', async (t) => {
  const error = errorOf(() => parseInterval('5x'));
  t.equal(error.code, 'InvalidInterval');
  t.match(error.message, /"5x"/);
  t.match(error.message, /unknown unit "x"/);
  t.match(errorOf(() => parseInterval('101y')).message, /"101y".*100 years/);
});

t.test('formatInterval: canonical forms', async (t) => {
  const cases: [number, string][] = [
    [0, '0s'],
    [1, '1ms'],
    [500, '500ms'],
    [1000, '1s'],
    [90_000, '1m30s'],
    [3_600_000, '1h'],
    [5_400_000, '1h30m'],
    [D, '1d'],
    [7 * D, '7d'],
    [D + 1, '1d1ms'],
    [D + H + MIN + S + 1, '1d1h1m1s1ms'],
  ];
  for (const [ms, text] of cases) t.equal(formatInterval(ms), text, `${ms}`);
  for (const spelling of ['90s', '1m30s', '1m 30s', '90000ms', '1min 30sec']) {
    t.equal(formatInterval(parseInterval(spelling)), '1m30s', spelling);
  }
  for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, MAX_INTERVAL_MS + 1]) {
    t.equal(
      codeOf(() => formatInterval(bad)),
      'InvalidInterval',
      `${bad}`,
    );
  }
});

t.test('formatInterval round-trips through parseInterval', async (t) => {
  let seed = 42;
  const random = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const samples = [0, 1, 999, 1000, 59_999, 60_000, 3_599_999, 86_399_999, MAX_INTERVAL_MS];
  for (let i = 0; i < 2000; i++) samples.push(Math.floor(random() * MAX_INTERVAL_MS));
  for (let i = 0; i < 500; i++) samples.push(Math.floor(random() * 10 * D));
  const wrong = samples.filter((ms) => parseInterval(formatInterval(ms)) !== ms);
  t.same(wrong, []);
});

t.test('parseSchedule: interval', async (t) => {
  t.same(parseSchedule({ interval: '90s' }), { kind: 'interval', intervalMs: 90_000, text: '1m30s' });
  t.same(parseSchedule({ interval: '0s', timeZone: 'Europe/Berlin' }), { kind: 'interval', intervalMs: 0, text: '0s' });
  t.equal(parseSchedule({ interval: '1m30s' }).text, parseSchedule({ interval: '90s' }).text);
  t.equal(
    codeOf(() => parseSchedule({ interval: '5' })),
    'InvalidInterval',
  );
  t.equal(
    codeOf(() => parseSchedule({ interval: '' })),
    'InvalidInterval',
  );
});

t.test('parseSchedule: exactly one of interval and cron', async (t) => {
  t.equal(
    codeOf(() => parseSchedule({})),
    'InvalidSchedule',
  );
  t.equal(
    codeOf(() => parseSchedule({ timeZone: 'UTC' })),
    'InvalidSchedule',
  );
  t.equal(
    codeOf(() => parseSchedule({ interval: '5m', cron: '* * * * *' })),
    'InvalidSchedule',
  );
});

t.test('cron: 5 fields are minute-level with seconds 0', async (t) => {
  const schedule = cron({ cron: '*/15 * * * *' });
  t.same(schedule, { kind: 'cron', expression: '*/15 * * * *', timeZone: 'UTC', text: 'TZ=UTC */15 * * * *' });
  t.same(fires({ cron: '*/15 * * * *' }, '2024-01-10T12:07:30Z'), [
    '2024-01-10T12:15:00.000Z',
    '2024-01-10T12:30:00.000Z',
    '2024-01-10T12:45:00.000Z',
  ]);
  // cron-lite's start/step form.
  t.same(fires({ cron: '10/20 * * * *' }, '2024-01-10T12:07:00Z'), [
    '2024-01-10T12:10:00.000Z',
    '2024-01-10T12:30:00.000Z',
    '2024-01-10T12:50:00.000Z',
  ]);
  t.equal(cron({ cron: '  */5   *  * * *  ' }).expression, '*/5 * * * *', 'whitespace is normalised');
});

t.test('cron: 6 fields lead with seconds', async (t) => {
  t.same(fires({ cron: '30 */15 * * * *' }, '2024-01-10T12:07:00Z'), [
    '2024-01-10T12:15:30.000Z',
    '2024-01-10T12:30:30.000Z',
    '2024-01-10T12:45:30.000Z',
  ]);
  t.same(fires({ cron: '*/20 * * * * *' }, '2024-01-10T12:07:00Z'), [
    '2024-01-10T12:07:20.000Z',
    '2024-01-10T12:07:40.000Z',
    '2024-01-10T12:08:00.000Z',
  ]);
});

t.test('cron: 7 fields add the year, 1970-2099', async (t) => {
  t.same(fires({ cron: '0 0 12 1 1 * 2030-2031' }, '2024-01-10T12:07:00Z'), [
    '2030-01-01T12:00:00.000Z',
    '2031-01-01T12:00:00.000Z',
  ]);
  t.same(fires({ cron: '0 0 12 1 1 * 2030,2099' }, '2024-01-10T12:07:00Z'), [
    '2030-01-01T12:00:00.000Z',
    '2099-01-01T12:00:00.000Z',
  ]);
  // Steps count from 1970, as in cron-lite: even years.
  t.same(fires({ cron: '0 0 0 1 JAN ? */2' }, '2024-01-10T12:07:00Z', 2), [
    '2026-01-01T00:00:00.000Z',
    '2028-01-01T00:00:00.000Z',
  ]);
  for (const expression of ['0 0 0 1 1 * 2100', '0 0 0 1 1 * 1969', '0 0 0 1 1 * 2020-2100', '0 0 0 1 1 * 1/2']) {
    const error = errorOf(() => cron({ cron: expression }));
    t.equal(error.code, 'InvalidCron', expression);
    t.match(error.message, /1970-2099/);
  }
});

t.test('cron: month and weekday names', async (t) => {
  t.same(fires({ cron: '0 9 * * MON-FRI' }, '2024-01-12T12:00:00Z'), [
    '2024-01-15T09:00:00.000Z',
    '2024-01-16T09:00:00.000Z',
    '2024-01-17T09:00:00.000Z',
  ]);
  t.same(fires({ cron: '0 0 1 FEB,aug ?' }, '2024-01-10T12:07:00Z', 2), [
    '2024-02-01T00:00:00.000Z',
    '2024-08-01T00:00:00.000Z',
  ]);
  t.same(fires({ cron: '0 12 ? JAN-MAR SUN,SAT' }, '2024-03-29T00:00:00Z'), [
    '2024-03-30T12:00:00.000Z',
    '2024-03-31T12:00:00.000Z',
    '2025-01-04T12:00:00.000Z',
  ]);
});

t.test('cron: L, W, # and ?', async (t) => {
  t.same(fires({ cron: '0 12 L * ?' }, '2024-01-10T12:07:00Z'), [
    '2024-01-31T12:00:00.000Z',
    '2024-02-29T12:00:00.000Z',
    '2024-03-31T12:00:00.000Z',
  ]);
  // 2024-06-15 is a Saturday, 2024-09-15 a Sunday.
  t.same(fires({ cron: '0 12 15W * ?' }, '2024-06-01T00:00:00Z', 4), [
    '2024-06-14T12:00:00.000Z',
    '2024-07-15T12:00:00.000Z',
    '2024-08-15T12:00:00.000Z',
    '2024-09-16T12:00:00.000Z',
  ]);
  t.same(fires({ cron: '0 12 ? * 5L' }, '2024-01-10T12:07:00Z'), [
    '2024-01-26T12:00:00.000Z',
    '2024-02-23T12:00:00.000Z',
    '2024-03-29T12:00:00.000Z',
  ]);
  t.same(fires({ cron: '0 12 * * FRIL' }, '2024-01-10T12:07:00Z', 1), ['2024-01-26T12:00:00.000Z']);
  t.same(fires({ cron: '0 12 ? * MON#2' }, '2024-01-10T12:07:00Z', 2), [
    '2024-02-12T12:00:00.000Z',
    '2024-03-11T12:00:00.000Z',
  ]);
  t.same(fires({ cron: '0 12 * * 1#1' }, '2024-01-10T12:07:00Z', 1), ['2024-02-05T12:00:00.000Z']);
  t.same(fires({ cron: '0 0 12 ? * *' }, '2024-01-10T12:07:00Z', 1), ['2024-01-11T12:00:00.000Z']);
});

t.test('cron: aliases', async (t) => {
  const after = '2024-01-10T12:07:00Z'; // a Wednesday
  const cases: [string, string][] = [
    ['@yearly', '2025-01-01T00:00:00.000Z'],
    ['@annually', '2025-01-01T00:00:00.000Z'],
    ['@monthly', '2024-02-01T00:00:00.000Z'],
    ['@weekly', '2024-01-14T00:00:00.000Z'],
    ['@daily', '2024-01-11T00:00:00.000Z'],
    ['@midnight', '2024-01-11T00:00:00.000Z'],
    ['@hourly', '2024-01-10T13:00:00.000Z'],
  ];
  for (const [alias, first] of cases) t.same(fires({ cron: alias }, after, 1), [first], alias);
  t.same(fires({ cron: 'TZ=Asia/Tokyo @daily' }, after, 1), ['2024-01-10T15:00:00.000Z']);
  t.equal(
    codeOf(() => cron({ cron: '@reboot' })),
    'InvalidCron',
  );
  t.equal(
    codeOf(() => cron({ cron: '@every 5m' })),
    'InvalidCron',
  );
});

t.test('cron: TZ prefix, across daylight saving time', async (t) => {
  const schedule = cron({ cron: 'TZ=America/New_York 0 9 * * *' });
  t.equal(schedule.timeZone, 'America/New_York');
  t.equal(schedule.expression, '0 9 * * *');
  t.equal(schedule.text, 'TZ=America/New_York 0 9 * * *');
  // DST starts on 2024-03-10 in New York: 09:00 moves from 14:00Z to 13:00Z.
  t.same(fires({ cron: 'TZ=America/New_York 0 9 * * *' }, '2024-03-09T00:00:00Z', 2), [
    '2024-03-09T14:00:00.000Z',
    '2024-03-10T13:00:00.000Z',
  ]);
  // 02:30 does not exist in Berlin on 2024-03-31; croner runs such a fixed time at the end of the gap.
  t.same(fires({ cron: 'TZ=Europe/Berlin 30 2 * * *' }, '2024-03-30T00:00:00Z'), [
    '2024-03-30T01:30:00.000Z',
    '2024-03-31T01:00:00.000Z',
    '2024-04-01T00:30:00.000Z',
  ]);
  // 02:30 happens twice on 2024-10-27; it runs once.
  t.same(fires({ cron: 'TZ=Europe/Berlin 30 2 * * *' }, '2024-10-26T12:00:00Z', 2), [
    '2024-10-27T00:30:00.000Z',
    '2024-10-28T01:30:00.000Z',
  ]);
  t.equal(cron({ cron: 'TZ=Asia/Tokyo 0 9 * * *', timeZone: 'Europe/Berlin' }).timeZone, 'Asia/Tokyo', 'prefix wins');
  t.equal(cron({ cron: 'TZ=europe/berlin 0 9 * * *' }).timeZone, 'Europe/Berlin', 'zone is canonicalised');
});

t.test('cron: timeZone field', async (t) => {
  const schedule = cron({ cron: '0 9 * * *', timeZone: 'Europe/Berlin' });
  t.equal(schedule.text, 'TZ=Europe/Berlin 0 9 * * *');
  t.same(fires({ cron: '0 9 * * *', timeZone: 'Europe/Berlin' }, '2024-03-30T12:00:00Z', 2), [
    '2024-03-31T07:00:00.000Z',
    '2024-04-01T07:00:00.000Z',
  ]);
  t.same(fires({ cron: '0 9 * * *', timeZone: 'Europe/Berlin' }, '2024-01-10T12:00:00Z', 1), [
    '2024-01-11T08:00:00.000Z',
  ]);
});

t.test('cron: invalid time zones', async (t) => {
  for (const spec of [
    { cron: 'TZ=Mars/Olympus * * * * *' },
    { cron: 'TZ= * * * * *' },
    { cron: '* * * * *', timeZone: 'Nowhere' },
    { cron: '* * * * *', timeZone: '+01:00' },
    { cron: '* * * * *', timeZone: 'Europe/Berlin; rm' },
  ]) {
    t.equal(
      codeOf(() => cron(spec)),
      'InvalidTimeZone',
      JSON.stringify(spec),
    );
  }
  t.match(errorOf(() => cron({ cron: 'TZ=Mars/Olympus * * * * *' })).message, /"Mars\/Olympus"/);
});

t.test('cron: invalid expressions carry the reason', async (t) => {
  for (const expression of [
    '',
    '   ',
    'TZ=UTC',
    'TZ=UTC   ',
    'abc',
    '* * *',
    '* * * * * * * *',
    '2030-01-01T00:00:00',
    '0 25 * * *',
    '61 * * * * *',
    '0 0 32 * *',
    '0 0 * 13 *',
    '0 0 * * FOO',
    '0 12 1 * MON',
    '0 12 ? * ?',
  ]) {
    t.equal(
      codeOf(() => cron({ cron: expression })),
      'InvalidCron',
      JSON.stringify(expression),
    );
  }
  const hour = errorOf(() => cron({ cron: '0 25 * * *' }));
  t.match(hour.message, /"0 25 \* \* \*".*hour/);
  t.ok(hour.cause instanceof Error, "croner's error is the cause");
  t.match(errorOf(() => cron({ cron: '* * *' })).message, /5, 6 or 7 fields/);
  t.match(errorOf(() => cron({ cron: '0 12 1 * MON' })).message, /both be restricted/);
});

t.test('cron: expressions without a future fire time', async (t) => {
  for (const expression of ['0 0 30 2 *', '0 0 31 4 *', '0 0 0 1 1 * 2020', '0 0 0 1 1 * 1970-2023']) {
    t.equal(
      codeOf(() => cron({ cron: expression })),
      'NoFutureRun',
      expression,
    );
  }
  t.equal(
    codeOf(() => cron({ cron: '0 0 0 1 1 * 2030' }, new Date('2031-01-01T00:00:00Z'))),
    'NoFutureRun',
  );
  t.equal(
    codeOf(() => cron({ cron: '0 0 0 1 1 * 2030' }, new Date('2029-12-31T00:00:00Z'))),
    'no error',
  );
  t.match(errorOf(() => cron({ cron: '0 0 30 2 *' })).message, /"0 0 30 2 \*".*no future fire time/);
});

const now = new Date('2024-01-10T12:30:00Z');
const ago = (ms: number): Date => new Date(now.getTime() - ms);
const interval = parseSchedule({ interval: '1h' });
const hourly = parseSchedule({ cron: '0 * * * *' }, { now });

t.test('nextRun: interval', async (t) => {
  t.same(nextRun(interval, { now }), { at: now }, 'never run: at once');
  t.same(nextRun(interval, { now, lastRun: undefined }), { at: now });
  t.same(nextRun(interval, { now, lastRun: new Date(Number.NaN) }), { at: now }, 'an invalid lastRun counts as never');
  t.same(nextRun(interval, { now, lastRun: ago(10 * MIN) }), { at: ago(10 * MIN - H) }, 'recent: interval after it');
  t.same(nextRun(interval, { now, lastRun: ago(H) }), { at: now }, 'exactly one interval ago: now');
  t.same(nextRun(interval, { now, lastRun: ago(30 * D) }), { at: now }, 'long ago: at once');
  t.same(
    nextRun(interval, { now, lastRun: new Date(now.getTime() + 5 * H) }),
    { at: new Date(now.getTime() + H) },
    'lastRun in the future counts as now',
  );
  t.same(nextRun(parseSchedule({ interval: '0s' }), { now, lastRun: ago(1) }), { at: now }, 'back to back');
  t.notOk('missed' in nextRun(interval, { now, lastRun: ago(30 * D), startingDeadlineSeconds: 1 }));
});

t.test('nextRun: cron', async (t) => {
  t.same(nextRun(hourly, { now }), { at: now }, 'never run: once at once');
  t.same(nextRun(hourly, { now, lastRun: ago(25 * MIN) }), { at: new Date('2024-01-10T13:00:00Z') }, 'next slot');
  t.same(
    nextRun(hourly, { now, lastRun: new Date('2024-01-10T12:00:00Z') }),
    { at: new Date('2024-01-10T13:00:00Z') },
    'a lastRun on a slot waits for the next one',
  );
  const missed = new Date('2024-01-10T12:00:00Z');
  t.same(nextRun(hourly, { now, lastRun: ago(3 * H) }), { at: now, missed }, 'missed, no deadline: one catch-up');
  t.same(
    nextRun(hourly, { now, lastRun: ago(3 * D) }),
    { at: now, missed },
    'many slots missed: still one catch-up, for the latest',
  );
  t.same(
    nextRun(hourly, { now, lastRun: ago(3 * H), startingDeadlineSeconds: 3600 }),
    { at: now, missed },
    'within the deadline',
  );
  t.same(
    nextRun(hourly, { now, lastRun: ago(3 * H), startingDeadlineSeconds: 30 * 60 }),
    { at: now, missed },
    'exactly at the deadline',
  );
  t.same(
    nextRun(hourly, { now, lastRun: ago(3 * H), startingDeadlineSeconds: 30 * 60 - 1 }),
    { at: new Date('2024-01-10T13:00:00Z') },
    'past the deadline: next slot, no catch-up',
  );
  t.same(
    nextRun(hourly, { now, lastRun: new Date(now.getTime() + 2 * D) }),
    { at: new Date('2024-01-10T13:00:00Z') },
    'lastRun in the future counts as now',
  );
  const onSlot = new Date('2024-01-10T12:00:00Z');
  t.same(nextRun(hourly, { now: onSlot, lastRun: ago(2 * H) }), { at: onSlot, missed: onSlot }, 'due right now');
});

t.test('nextRun: cron schedules that run out', async (t) => {
  const once = parseSchedule({ cron: '0 0 12 1 1 * 2030' }, { now });
  const later = new Date('2030-06-01T00:00:00Z');
  const slot = new Date('2030-01-01T12:00:00Z');
  t.same(nextRun(once, { now, lastRun: ago(H) }), { at: slot });
  t.same(nextRun(once, { now: later, lastRun: ago(H) }), { at: later, missed: slot }, 'the last slot is caught up');
  t.equal(
    codeOf(() => nextRun(once, { now: later, lastRun: ago(H), startingDeadlineSeconds: 60 })),
    'NoFutureRun',
    'too late to catch up and nothing ahead',
  );
  t.equal(
    codeOf(() => nextRun(once, { now: later, lastRun: slot })),
    'NoFutureRun',
    'already ran',
  );
  t.same(nextRun(once, { now: later }), { at: later }, 'never run: at once');
});

t.test('nextRun is pure', async (t) => {
  const lastRun = ago(3 * H);
  const state = { now, lastRun, startingDeadlineSeconds: 3600 };
  const schedules: Schedule[] = [interval, hourly];
  for (const schedule of schedules) {
    const first = nextRun(schedule, state);
    t.same(nextRun(schedule, state), first, `${schedule.kind}: same answer twice`);
    t.not(first.at, now, `${schedule.kind}: a new Date, not the caller's`);
  }
  t.equal(state.now.toISOString(), '2024-01-10T12:30:00.000Z');
  t.equal(state.lastRun.toISOString(), '2024-01-10T09:30:00.000Z');
});

import { INTERVAL_PATTERN, INTERVAL_UNITS } from '@git-events-runner/shared';
import {
  formatInterval,
  MAX_INTERVAL_MS,
  nextFireTimes,
  nextRun,
  parseInterval,
  parseSchedule,
  resolveTimeZone,
  ScheduleError,
  type ScheduleErrorCode,
} from '@git-events-runner/shared/schedule';
import { bounded, type Outcome, propertySeed } from '@git-events-runner/shared/testing';
import fc from 'fast-check';
import t from 'tap';

// Hostile input for the schedule parsers (issue 9): random and near-valid intervals, cron expressions and
// time zones. Every input is either accepted with a sane result or rejected with a ScheduleError whose
// code is stable and whose message names the value; no call may take long.

// A fixed seed keeps CI deterministic; FC_SEED explores others. fast-check prints seed and path on failure.
// Hangs are caught per call (budgets below); the overall limit only shortens a run on a very busy machine.
const { seed: SEED, runs } = propertySeed(0x5c4ed);
t.comment(`fast-check seed ${SEED} (set FC_SEED to replay another)`);

// Each parse has a time budget (bounded(), @git-events-runner/shared/testing).

function scheduleError(outcome: Outcome<unknown>, codes: readonly ScheduleErrorCode[]): ScheduleError {
  if (outcome.ok) throw new Error('expected a rejection');
  const { error } = outcome;
  if (!(error instanceof ScheduleError)) throw new Error(`not a ScheduleError: ${String(error)}`, { cause: error });
  if (!codes.includes(error.code)) throw new Error(`unexpected code ${error.code}: ${error.message}`);
  return error;
}

const intervalRegExp = new RegExp(INTERVAL_PATTERN);
const CANONICAL_INTERVAL =
  /^(?:0s|(?=\d)(?:([1-9]\d*)d)?(?:([1-9]|1\d|2[0-3])h)?(?:([1-9]|[1-5]\d)m)?(?:([1-9]|[1-5]\d)s)?(?:([1-9]\d{0,2})ms)?)$/;

// Intervals in the grammar (`1h 30m`, ` 2 days`), possibly with leading zeros or absurd lengths.
const wellFormedInterval = fc
  .array(
    fc.tuple(
      fc.constantFrom('', ' ', '  '),
      fc.oneof(fc.stringMatching(/^[0-9]{1,4}$/), fc.stringMatching(/^[0-9]{1,25}$/)),
      fc.constantFrom('', ' '),
      fc.constantFrom(...INTERVAL_UNITS),
      fc.constantFrom('', ' '),
    ),
    { minLength: 1, maxLength: 4 },
  )
  .map((groups) => groups.map((g) => g.join('')).join(''));

// Strings that are near the interval grammar: digits, units, spaces, and characters that are not.
const nearInterval = fc
  .array(
    fc.oneof(
      { weight: 4, arbitrary: fc.stringMatching(/^[0-9]{1,25}$/) },
      { weight: 4, arbitrary: fc.constantFrom(...INTERVAL_UNITS) },
      { weight: 2, arbitrary: fc.constantFrom(' ', '  ', '\t', '\n', '\u00a0') },
      { weight: 1, arbitrary: fc.constantFrom('-', '+', '.', 'e', 'x', 'µ', 'mins', 'S', 'H', '0x', '١') },
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join(''));
const intervalish = fc.oneof(wellFormedInterval, nearInterval);

t.test('interval: accepted exactly when the CRD pattern matches; rejections name the text', async (t) => {
  let accepted = 0;
  await fc.assert(
    fc.property(
      fc.oneof(intervalish, fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 })),
      (text) => {
        const outcome = bounded(`parseInterval(${JSON.stringify(text)})`, () => parseInterval(text));
        const matches = intervalRegExp.test(text);
        if (outcome.ok) {
          accepted++;
          return (
            matches && Number.isSafeInteger(outcome.value) && outcome.value >= 0 && outcome.value <= MAX_INTERVAL_MS
          );
        }
        const error = scheduleError(outcome, ['InvalidInterval']);
        if (!error.message.includes(JSON.stringify(text))) return false;
        // The pattern cannot bound the length, so a matching text may still be too long.
        return !matches || error.message.endsWith('longer than 100 years');
      },
    ),
    runs(3000),
  );
  t.ok(accepted > 100, `the generator reaches valid intervals too (${accepted} accepted)`);
});

t.test('interval: formatInterval round-trips and is canonical', async (t) => {
  await fc.assert(
    fc.property(fc.integer({ min: 0, max: MAX_INTERVAL_MS }), (ms) => {
      const text = formatInterval(ms);
      return CANONICAL_INTERVAL.test(text) && parseInterval(text) === ms;
    }),
    runs(2000),
  );
  await fc.assert(
    fc.property(intervalish, (text) => {
      const outcome = bounded('parseInterval', () => parseInterval(text));
      if (!outcome.ok) return true;
      const canonical = formatInterval(outcome.value);
      // Equivalent spellings share one text, and the canonical text is a fixed point.
      return parseInterval(canonical) === outcome.value && formatInterval(parseInterval(canonical)) === canonical;
    }),
    runs(2000),
  );
  await fc.assert(
    fc.property(
      fc.oneof(
        fc.double(),
        fc.integer({ min: MAX_INTERVAL_MS + 1, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: Number.MIN_SAFE_INTEGER, max: -1 }),
        fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, 0.5, -0),
      ),
      (ms) => {
        const outcome = bounded('formatInterval', () => formatInterval(ms));
        if (outcome.ok) return Number.isSafeInteger(ms) && ms >= 0 && ms <= MAX_INTERVAL_MS;
        return scheduleError(outcome, ['InvalidInterval']).message.includes(String(ms));
      },
    ),
    runs(1000),
  );
  t.pass('round trip, canonical form and refusals hold');
});

const ZONES = Intl.supportedValuesOf('timeZone');

// Zones as users write them: real, differently cased, legacy aliases, offsets, bogus, empty and hostile.
const zoneText = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...ZONES) },
  { weight: 1, arbitrary: fc.constantFrom(...ZONES).map((z) => z.toLowerCase()) },
  { weight: 1, arbitrary: fc.constantFrom('UTC', 'utc', 'GMT', 'US/Eastern', 'Etc/GMT+5', 'EST5EDT', 'Factory') },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '',
      '+01:00',
      '-0500',
      'Z',
      'UTC+1',
      'Europe/',
      '/Berlin',
      '../etc/passwd',
      'Mars/Olympus',
    ),
  },
  { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z][A-Za-z0-9_+\-/]{0,30}$/) },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
);

t.test('resolveTimeZone: a canonical zone or InvalidTimeZone naming the zone', async (t) => {
  await fc.assert(
    fc.property(zoneText, (zone) => {
      const outcome = bounded(`resolveTimeZone(${JSON.stringify(zone)})`, () => resolveTimeZone(zone));
      if (outcome.ok) {
        // Canonical means stable: resolving the result gives it back.
        return outcome.value !== '' && resolveTimeZone(outcome.value) === outcome.value;
      }
      return scheduleError(outcome, ['InvalidTimeZone']).message.includes(JSON.stringify(zone));
    }),
    runs(1500),
  );
  t.pass('every zone resolves or is refused clearly');
});

// Cron fields as users write them, valid or not.
const cronField = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      '*',
      '?',
      '0',
      '5',
      '59',
      '60',
      '0-5',
      '5-0',
      '*/3',
      '*/0',
      '1,2,3',
      '10/5',
      'MON-FRI',
      'SUN',
      'JAN',
      'feb',
      'L',
      '5L',
      'LW',
      '15W',
      '2#3',
      '7#5',
      '31',
      '30',
      '2',
      '1970',
      '2099',
      '2100',
      '1969',
      '2000-2010',
      '1/1',
      '-',
      ',',
      '/',
      '**',
    ),
  },
  { weight: 2, arbitrary: fc.integer({ min: -5, max: 3000 }).map(String) },
  { weight: 1, arbitrary: fc.stringMatching(/^[0-9*?LW#,/A-Za-z-]{1,8}$/) },
  { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 6 }) },
);
// Expressions that are mostly valid: per-position fields, one day field left open, optional seconds and year.
const plausibleCron = fc
  .record({
    second: fc.option(fc.constantFrom('0', '*/15', '30', '0-10/5'), { nil: undefined }),
    minute: fc.constantFrom('*', '0', '*/5', '15,45', '0-30/10', '59'),
    hour: fc.constantFrom('*', '0', '2', '*/6', '9-17', '23'),
    dom: fc.constantFrom('*', '?', '1', '15', 'L', '15W', '29', '31', '1-7'),
    month: fc.constantFrom('*', '1', '2', 'FEB', '*/3', 'JAN-MAR', '12'),
    dow: fc.constantFrom('*', '?', 'MON-FRI', '0', '7', 'SUN', '5L', '2#3', '1,3,5'),
    year: fc.option(fc.constantFrom('*', '2030', '2025-2099', '1970', '2099', '2020/5'), { nil: undefined }),
    openDay: fc.constantFrom('dom', 'dow'),
  })
  .map((c) => {
    const dom = c.openDay === 'dom' ? '*' : c.dom;
    const dow = c.openDay === 'dow' ? (dom === '?' ? '*' : '?') : c.dow;
    const fields: string[] = [c.minute, c.hour, dom, c.month, dow];
    if (c.second !== undefined) fields.unshift(c.second);
    if (c.second !== undefined && c.year !== undefined) fields.push(c.year);
    return fields.join(' ');
  });
const cronExpression = fc.oneof(
  { weight: 4, arbitrary: plausibleCron },
  { weight: 4, arbitrary: fc.array(cronField, { minLength: 4, maxLength: 8 }).map((f) => f.join(' ')) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '@yearly',
      '@annually',
      '@monthly',
      '@weekly',
      '@daily',
      '@midnight',
      '@hourly',
      '@reboot',
      '@every 5m',
      '@',
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
);
const whitespace = fc.constantFrom(' ', '  ', '\t', '\n ', '');
const cronText = fc.oneof(
  { weight: 3, arbitrary: cronExpression },
  { weight: 4, arbitrary: fc.tuple(zoneText, whitespace, cronExpression).map(([z, w, e]) => `TZ=${z}${w}${e}`) },
  { weight: 1, arbitrary: fc.string({ maxLength: 60 }).map((s) => `TZ=${s}`) },
  { weight: 1, arbitrary: fc.tuple(whitespace, cronExpression, whitespace).map(([a, e, b]) => `${a}${e}${b}`) },
);

// A fixed "now" keeps results reproducible from the seed; a few others cover DST changes and the year limit.
const NOW = fc.constantFrom(
  new Date('2025-06-15T12:34:56.789Z'),
  new Date('2025-03-30T00:59:59.999Z'),
  new Date('2025-10-26T01:00:00.000Z'),
  new Date('2099-12-31T23:59:59.000Z'),
  new Date('1999-12-31T23:59:59.999Z'),
);

t.test('cron with time zones: accepted crons fire strictly after now; rejections are clear', async (t) => {
  const codes = new Map<string, number>();
  await fc.assert(
    fc.property(cronText, fc.option(zoneText, { nil: undefined }), NOW, (cron, timeZone, now) => {
      const spec = timeZone === undefined ? { cron } : { cron, timeZone };
      const outcome = bounded(`parseSchedule(${JSON.stringify(spec)})`, () => parseSchedule(spec, { now }));
      if (!outcome.ok) {
        const error = scheduleError(outcome, ['InvalidCron', 'InvalidTimeZone', 'NoFutureRun']);
        codes.set(error.code, (codes.get(error.code) ?? 0) + 1);
        // The message quotes the offending part (the expression or the zone), never nothing.
        return /"[^"]*"/.test(error.message) && error.message.length < 1000;
      }
      codes.set('accepted', (codes.get('accepted') ?? 0) + 1);
      const schedule = outcome.value;
      if (schedule.kind !== 'cron') return false;
      // A canonical text parses to the same schedule.
      const again = parseSchedule({ cron: schedule.text }, { now });
      if (again.text !== schedule.text) return false;
      const fired = bounded('nextFireTimes', () => nextFireTimes(schedule, now, 1));
      const next = fired.ok ? fired.value[0] : undefined;
      if (next === undefined || next.getTime() <= now.getTime()) return false;
      // Right after a run, the next run is the next fire time, strictly later.
      const after = bounded('nextRun', () => nextRun(schedule, { now, lastRun: now }));
      return after.ok && after.value.at.getTime() === next.getTime() && after.value.missed === undefined;
    }),
    runs(2500),
  );
  t.ok((codes.get('accepted') ?? 0) > 50, `valid crons are reached: ${JSON.stringify([...codes])}`);
  t.ok((codes.get('InvalidTimeZone') ?? 0) > 50, 'bogus zones are reached');
});

t.test("cron: a 'TZ=' prefix with a bogus zone is refused as InvalidTimeZone naming it", async (t) => {
  const bogus = fc.oneof(
    fc.stringMatching(/^[A-Za-z0-9_+\-/]{1,20}$/).map((s) => `Nowhere/${s}`),
    fc.constantFrom('', '+01:00', 'UTC+1', 'Europe/Nowhere', '../../etc/localtime', 'Europe//Berlin'),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 }).filter((s) => !/\s/.test(s)),
  );
  await fc.assert(
    fc.property(bogus, fc.constantFrom('* * * * *', '0 0 * * * *', '@daily'), (zone, expression) => {
      const outcome = bounded('parseSchedule', () =>
        parseSchedule({ cron: `TZ=${zone} ${expression}`, timeZone: 'Europe/Berlin' }),
      );
      // A generated zone may happen to exist; then the prefix wins over timeZone. One that does not exist must
      // be refused, never replaced by timeZone or UTC.
      if (outcome.ok) return outcome.value.kind === 'cron' && outcome.value.timeZone === resolveTimeZone(zone);
      const error = scheduleError(outcome, ['InvalidTimeZone']);
      return error.message.includes(JSON.stringify(zone));
    }),
    runs(1000),
  );
  t.pass('bogus zones are refused');
});

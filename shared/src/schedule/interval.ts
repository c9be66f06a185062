import { INTERVAL_UNITS } from '../schema/resources.js';
import { ScheduleError } from './errors.js';

type IntervalUnit = (typeof INTERVAL_UNITS)[number];

const NS_PER_MS = 1_000_000n;
const NS_PER_S = 1_000_000_000n;

// Typed over the shared unit list so a unit added to the CRD pattern cannot be forgotten here.
// Month and year lengths are humantime's (30.44 and 365.25 days), so durations match the original.
const UNIT_NS = {
  nsec: 1n,
  ns: 1n,
  usec: 1_000n,
  us: 1_000n,
  µs: 1_000n,
  msec: NS_PER_MS,
  ms: NS_PER_MS,
  seconds: NS_PER_S,
  second: NS_PER_S,
  sec: NS_PER_S,
  s: NS_PER_S,
  minutes: 60n * NS_PER_S,
  minute: 60n * NS_PER_S,
  min: 60n * NS_PER_S,
  m: 60n * NS_PER_S,
  hours: 3_600n * NS_PER_S,
  hour: 3_600n * NS_PER_S,
  hr: 3_600n * NS_PER_S,
  h: 3_600n * NS_PER_S,
  days: 86_400n * NS_PER_S,
  day: 86_400n * NS_PER_S,
  d: 86_400n * NS_PER_S,
  weeks: 604_800n * NS_PER_S,
  week: 604_800n * NS_PER_S,
  w: 604_800n * NS_PER_S,
  months: 2_630_016n * NS_PER_S,
  month: 2_630_016n * NS_PER_S,
  M: 2_630_016n * NS_PER_S,
  years: 31_557_600n * NS_PER_S,
  year: 31_557_600n * NS_PER_S,
  y: 31_557_600n * NS_PER_S,
} as const satisfies Record<IntervalUnit, bigint>;

function isUnit(word: string): word is IntervalUnit {
  return Object.hasOwn(UNIT_NS, word);
}

/** Longest accepted interval: 100 humantime years. Longer ones are surely typos and would overflow timers anyway. */
export const MAX_INTERVAL_MS = 100 * 31_557_600 * 1000;

const MAX_INTERVAL_NS = BigInt(MAX_INTERVAL_MS) * NS_PER_MS;

// One `<integer><unit>` group with the spaces the CRD pattern allows around and inside it. Units are matched
// as a whole run of non-digit, non-space characters, as humantime does, so `1mins` is an unknown unit rather
// than `1min` followed by garbage.
const GROUP = /([0-9]+) *([^0-9 ]+) */y;

function invalidInterval(text: string, reason: string): ScheduleError {
  return new ScheduleError('InvalidInterval', `invalid interval ${JSON.stringify(text)}: ${reason}`);
}

/**
 * Parses an interval in humantime's grammar (`30s`, `1h30m`, `2 days`, `1w`): one or more `<integer><unit>`
 * groups, spaces allowed around and between them; units are required. Accepts exactly the strings matched by
 * the CRD's `INTERVAL_PATTERN`. Sub-millisecond parts are rounded up to a whole millisecond, since timers
 * have millisecond resolution.
 *
 * @returns the interval in milliseconds; `0s` gives 0 (back-to-back checks).
 * @throws ScheduleError `InvalidInterval`, naming the text, on bad syntax, an unknown unit, or more than
 *   MAX_INTERVAL_MS.
 */
export function parseInterval(text: string): number {
  let pos = 0;
  while (text[pos] === ' ') pos++;
  if (pos === text.length) throw invalidInterval(text, 'expected <integer><unit>, e.g. 30s, 5m, 1h30m');
  let totalNs = 0n;
  while (pos < text.length) {
    GROUP.lastIndex = pos;
    const match = GROUP.exec(text);
    if (match === null) throw invalidInterval(text, `expected <integer><unit> at offset ${pos}, e.g. 30s, 5m, 1h30m`);
    const [whole, digits = '', word = ''] = match;
    if (!isUnit(word)) {
      throw invalidInterval(
        text,
        `unknown unit ${JSON.stringify(word)} (expected one of ${INTERVAL_UNITS.join(', ')})`,
      );
    }
    totalNs += BigInt(digits) * UNIT_NS[word];
    // Checked per group so an absurdly long digit string cannot make the BigInt arithmetic expensive.
    if (totalNs > MAX_INTERVAL_NS) throw invalidInterval(text, 'longer than 100 years');
    pos += whole.length;
  }
  return Number((totalNs + NS_PER_MS - 1n) / NS_PER_MS);
}

const FORMAT_UNITS = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
  ['ms', 1],
] as const;

/**
 * Canonical text of an interval, largest units first using d/h/m/s/ms (90000 → `1m30s`, 0 → `0s`), so
 * equivalent spellings (`90s`, `1m30s`, `1m 30s`) normalise to the same string.
 *
 * @param ms a non-negative whole number of milliseconds, at most MAX_INTERVAL_MS.
 * @throws ScheduleError `InvalidInterval` for anything else.
 */
export function formatInterval(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0 || ms > MAX_INTERVAL_MS) {
    throw new ScheduleError('InvalidInterval', `cannot format ${ms} ms as an interval`);
  }
  if (ms === 0) return '0s';
  let rest = ms;
  let text = '';
  for (const [unit, size] of FORMAT_UNITS) {
    const count = Math.floor(rest / size);
    if (count > 0) {
      text += `${count}${unit}`;
      rest -= count * size;
    }
  }
  return text;
}

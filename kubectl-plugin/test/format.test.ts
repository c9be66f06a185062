import t from 'tap';
import { parse } from 'yaml';
import { PluginError, type PluginErrorCode } from '../src/errors.js';
import { colorEnabled, painter } from '../src/format/color.js';
import { FIRE_FORMATS, parseFormat, STATUS_FORMATS, serialize } from '../src/format/output.js';
import { renderTable } from '../src/format/table.js';
import { elapsed, humanDuration, parseDuration, relativeTime } from '../src/format/time.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;
const ESC = '\u001b';

function codeOf(fn: () => unknown): PluginErrorCode | 'no error' | 'other error' {
  try {
    fn();
    return 'no error';
  } catch (err: unknown) {
    return err instanceof PluginError ? err.code : 'other error';
  }
}

t.test("humanDuration: kubectl's age format", async (t) => {
  const cases: [number, string][] = [
    [-5 * S, '<invalid>'],
    [-1 * S, '0s'],
    [0, '0s'],
    [59 * S, '59s'],
    [119 * S, '119s'],
    [2 * M, '2m'],
    [5 * M + 30 * S, '5m30s'],
    [10 * M, '10m'],
    [179 * M, '179m'],
    [3 * H, '3h'],
    [7 * H + 59 * M, '7h59m'],
    [8 * H, '8h'],
    [47 * H, '47h'],
    [2 * D, '2d'],
    [3 * D + 5 * H, '3d5h'],
    [8 * D, '8d'],
    [729 * D, '729d'],
    [730 * D, '2y'],
    [800 * D, '2y70d'],
    [9 * 365 * D, '9y'],
  ];
  for (const [ms, text] of cases) t.equal(humanDuration(ms), text, `${ms} ms`);
});

t.test('relativeTime and elapsed', async (t) => {
  const now = Date.parse('2025-06-01T12:00:00Z');
  t.equal(relativeTime(undefined, now), undefined);
  t.equal(relativeTime('', now), undefined);
  t.equal(relativeTime('Never', now), 'never', "the status' Never");
  t.equal(relativeTime('yesterday', now), '<invalid>');
  t.equal(relativeTime('2025-06-01T11:55:00Z', now), '5m ago');
  t.equal(relativeTime('2025-06-01T12:00:01Z', now), '0s ago', 'a second of clock skew is now');
  t.equal(relativeTime('2025-06-01T13:00:00Z', now), 'in 60m');
  t.equal(elapsed('2025-06-01T11:00:00Z', '2025-06-01T11:01:30Z'), '90s');
  t.equal(elapsed('2025-06-01T11:00:00Z', undefined), undefined, 'unfinished');
  t.equal(elapsed('x', '2025-06-01T11:00:00Z'), undefined);
});

t.test('parseDuration: Go durations or seconds, positive, the flag named on error', async (t) => {
  t.equal(parseDuration('30s', '--timeout'), 30 * S);
  t.equal(parseDuration('5m', '--timeout'), 5 * M);
  t.equal(parseDuration('1h30m', '--timeout'), 90 * M);
  t.equal(parseDuration('1.5h', '--timeout'), 90 * M);
  t.equal(parseDuration('500ms', '--timeout'), 500);
  t.equal(parseDuration('45', '--timeout'), 45 * S, 'a bare number is seconds');
  for (const bad of ['', '0', '0s', '5 minutes', '5x', '-1m', 'm', '1h 30m', '10d']) {
    t.equal(
      codeOf(() => parseDuration(bad, '--timeout')),
      'Usage',
      `"${bad}" is refused`,
    );
  }
  t.throws(() => parseDuration('soon', '--timeout'), {
    message: 'invalid --timeout "soon": use a duration such as 30s, 5m or 1h30m',
  });
});

t.test('colour: a terminal only, never with NO_COLOR or TERM=dumb', async (t) => {
  t.equal(colorEnabled(true, {}), true);
  t.equal(colorEnabled(false, {}), false, 'not a terminal');
  t.equal(colorEnabled(true, { NO_COLOR: '1' }), false);
  t.equal(colorEnabled(true, { NO_COLOR: '' }), true, 'an empty NO_COLOR does not count (no-color.org)');
  t.equal(colorEnabled(true, { TERM: 'dumb' }), false);
  t.equal(painter(false)('bad', 'Failed'), 'Failed');
  t.equal(painter(true)('good', 'Succeeded'), `${ESC}[32mSucceeded${ESC}[39m`);
  t.equal(painter(true)('bad', ''), '', 'nothing to paint');
});

t.test("renderTable: kubectl's look", async (t) => {
  const out = renderTable(
    ['NAME', 'STATE', 'LAST RUN'],
    [
      ['a', 'Idle', '5m ago'],
      ['longer-name', painter(true)('good', 'Ok'), '<none>'],
    ],
  );
  const lines = out.split('\n');
  t.equal(lines[0], 'NAME          STATE   LAST RUN', 'upper-case headers, three spaces between columns');
  t.equal(lines[1], 'a             Idle    5m ago');
  t.equal(lines[2], `longer-name   ${ESC}[32mOk${ESC}[39m      <none>`, 'colour codes take no width');
  t.equal(lines[3], '', 'ends with a newline');
  t.notOk(
    lines.some((l) => l !== l.trimEnd()),
    'no trailing spaces',
  );
  t.equal(renderTable(['A'], [['x']], '  '), '  A\n  x\n', 'indented');
});

t.test('output formats', async (t) => {
  t.equal(parseFormat('wide', STATUS_FORMATS), 'wide');
  t.equal(parseFormat('json', FIRE_FORMATS), 'json');
  t.throws(() => parseFormat('wide', FIRE_FORMATS), {
    code: 'Usage',
    message: /unknown output format "wide": use one of text, json, yaml/,
  });
  t.throws(() => parseFormat('xml', STATUS_FORMATS), { message: /table, wide, json, yaml/ });
  const value = { kind: 'TriggerStatusList', items: [{ name: 'a', when: '2025-06-01T12:00:00Z', n: 1, x: null }] };
  t.same(JSON.parse(serialize(value, 'json')), value);
  t.same(parse(serialize(value, 'yaml')), value, 'YAML round-trips');
  t.match(serialize(value, 'json'), /^\{\n {2}"kind"/, 'two-space JSON, as kubectl');
});

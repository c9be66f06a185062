import t from 'tap';
import { jobName, predatesChange, RECURRENCE_MARGIN_MS, recurrenceRunKey } from '../src/jobs/index.js';

// A ref that moves back to a commit that ran before: the run gets a key (and a Job name) of its own only
// when the existing Job is older than the previous change.

t.test('predatesChange: a Job older than the previous change belongs to an earlier occurrence', async (t) => {
  const changed = '2026-12-06T07:00:10Z';
  t.ok(predatesChange(new Date('2026-12-06T07:00:04Z'), changed), 'created 6 s before: earlier');
  t.ok(predatesChange('2026-12-06T05:00:00Z', changed), 'RFC 3339 strings too');
  t.notOk(
    predatesChange(new Date('2026-12-06T07:00:05Z'), changed),
    'within the margin: taken as this run (the two clocks may disagree)',
  );
  t.notOk(predatesChange(new Date('2026-12-06T07:00:10Z'), changed), 'the same second: this run');
  t.notOk(predatesChange(new Date('2026-12-06T07:00:11Z'), changed), 'created after: this run (another replica)');
  t.notOk(predatesChange(undefined, changed), 'unknown creation time: this run, as before');
  t.notOk(predatesChange(new Date('2026-12-06T07:00:04Z'), undefined), 'no previous change');
  t.notOk(predatesChange('yesterday', changed), 'unreadable time');
  t.notOk(predatesChange(new Date('2026-12-06T07:00:04Z'), 'not a time'));
  t.equal(RECURRENCE_MARGIN_MS, 5000);
});

t.test('recurrenceRunKey: names the previous change, so checks with the same status agree', async (t) => {
  const commit = 'a'.repeat(40);
  const again = recurrenceRunKey(commit, '2026-12-06T07:00:10Z');
  t.equal(again, recurrenceRunKey(commit, '2026-12-06T07:00:10Z'));
  t.not(again, recurrenceRunKey(commit, '2026-12-06T07:05:00Z'), 'each return to the commit is its own run');
  t.not(jobName('act', 'uid', 'src', again), jobName('act', 'uid', 'src', commit), 'a Job name of its own');
  t.equal(jobName('act', 'uid', 'src', again).length <= 63, true);
});

import t from 'tap';
import { JobCreatedEvents, jobCreatedNote } from '../src/runtime/job-events.js';

const subject = { kind: 'WebhookTrigger', namespace: 'ns', name: 'hook', uid: 'u1' };

t.test('jobCreatedNote: one Job by name; several with their count; never over 1,024 characters', async (t) => {
  t.equal(jobCreatedNote(['act-1'], 'src', '0123456789abcdef'), 'Job act-1 created for src at 0123456789ab');
  t.equal(
    jobCreatedNote(['act-1', 'act-2'], 'src', '0123456789abcdef'),
    '2 Jobs created for src at 0123456789ab: act-1, act-2',
  );
  const many = Array.from({ length: 500 }, (_, i) => `action-with-a-long-name-${String(i).padStart(12, '0')}`);
  const note = jobCreatedNote(many, 'src', 'c'.repeat(40));
  t.ok(note.length <= 1024, `${note.length} characters`);
  t.match(note, /^500 Jobs created for src at c{12}: action-with-a-long-name-000000000000, /);
  const listed = note.split(': ')[1]?.split(' and ')[0]?.split(', ') ?? [];
  const rest = Number(/ and (\d+) more$/.exec(note)?.[1]);
  t.equal(listed.length + rest, 500, 'the names listed and the count of the others add up');
  t.same(listed, many.slice(0, listed.length), 'in order');
});

t.test('Jobs of one trigger, source and commit within the window share one Event', async (t) => {
  const published: { subject: typeof subject; note: string }[] = [];
  const timers: (() => void)[] = [];
  const events = new JobCreatedEvents(
    async (s, note) => {
      published.push({ subject: s as typeof subject, note });
    },
    { windowMs: 200, sleep: () => new Promise<void>((resolve) => timers.push(resolve)) },
  );
  const first = events.add(subject, 'src', 'a'.repeat(40), ['j1']);
  const second = events.add(subject, 'src', 'a'.repeat(40), ['j2', 'j3']);
  const other = events.add(subject, 'src', 'b'.repeat(40), ['j4']);
  t.equal(events.size, 2, 'one Event per commit');
  t.equal(published.length, 0, 'nothing before the window ends');
  for (const resolve of timers) resolve();
  await Promise.all([first, second, other]);
  t.same(
    published.map((p) => p.note),
    ['3 Jobs created for src at aaaaaaaaaaaa: j1, j2, j3', 'Job j4 created for src at bbbbbbbbbbbb'],
  );
  t.same(published[0]?.subject, subject);
  t.equal(events.size, 0);
  const later = events.add(subject, 'src', 'a'.repeat(40), ['j5']);
  t.equal(events.size, 1, 'after its Event went out, the next Job opens a new one');
  timers.at(-1)?.();
  await later;
  t.equal(published.at(-1)?.note, 'Job j5 created for src at aaaaaaaaaaaa');
});

t.test('without a window every add is its own Event', async (t) => {
  const notes: string[] = [];
  const events = new JobCreatedEvents(async (_s, note) => {
    notes.push(note);
  });
  await Promise.all([
    events.add(subject, 'src', 'c'.repeat(40), ['x']),
    events.add(subject, 'src', 'c'.repeat(40), ['y']),
  ]);
  t.equal(notes.length, 2);
});

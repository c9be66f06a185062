import {
  MAX_TIMER_DELAY_MS,
  ManualClock,
  ScheduleError,
  systemClock,
  TimerQueue,
} from '@git-events-runner/shared/schedule';
import t from 'tap';

function setup(start = 1_000_000) {
  const clock = new ManualClock(start);
  const errors: [string, unknown][] = [];
  const queue = new TimerQueue<string>({ clock, onError: (key, error) => errors.push([key, error]) });
  const fired: [string, number][] = [];
  const record = (key: string) => () => {
    fired.push([key, clock.now()]);
  };
  return { clock, queue, errors, fired, record, start };
}

t.test('due entries fire in time order, each at its time, with one timer', async (t) => {
  const { clock, queue, fired, record, start } = setup();
  queue.schedule('c', start + 300, record('c'));
  queue.schedule('a', start + 100, record('a'));
  queue.schedule('b', start + 200, record('b'));
  t.equal(queue.size, 3);
  t.equal(clock.pending, 1, 'one underlying timer');
  t.equal(clock.nextDue, start + 100);
  clock.advance(99);
  t.same(fired, []);
  clock.advance(1000);
  t.same(fired, [
    ['a', start + 100],
    ['b', start + 200],
    ['c', start + 300],
  ]);
  t.equal(queue.size, 0);
  t.equal(clock.pending, 0, 'no timer when empty');
});

t.test('equal times fire in scheduling order; past times fire at once', async (t) => {
  const { clock, queue, fired, record, start } = setup();
  queue.schedule('x', start + 10, record('x'));
  queue.schedule('y', start + 10, record('y'));
  queue.schedule('past', start - 5000, record('past'));
  clock.advance(0);
  t.same(fired, [['past', start]]);
  clock.advance(10);
  t.same(fired.slice(1), [
    ['x', start + 10],
    ['y', start + 10],
  ]);
});

t.test('schedule replaces the entry of the same key', async (t) => {
  const { clock, queue, fired, record, start } = setup();
  queue.schedule('a', start + 100, record('a-old'));
  queue.schedule('b', start + 200, record('b'));
  queue.schedule('a', start + 500, record('a-new'));
  t.equal(queue.size, 2);
  t.equal(queue.nextAt('a'), start + 500);
  t.equal(clock.pending, 1);
  t.equal(clock.nextDue, start + 200, 'timer follows the new head');
  clock.advance(1000);
  t.same(fired, [
    ['b', start + 200],
    ['a-new', start + 500],
  ]);
  queue.schedule('c', start + 2000, record('c'));
  queue.schedule('c', start + 1500, record('c-earlier'));
  t.equal(clock.nextDue, start + 1500, 'moving an entry earlier re-arms');
  clock.advance(5000);
  t.same(fired.slice(2), [['c-earlier', start + 1500]]);
});

t.test('cancel, has, nextAt, size', async (t) => {
  const { clock, queue, fired, record, start } = setup();
  queue.schedule('a', start + 100, record('a'));
  queue.schedule('b', start + 200, record('b'));
  t.ok(queue.has('a'));
  t.equal(queue.nextAt('b'), start + 200);
  t.equal(queue.nextAt('nope'), undefined);
  t.equal(queue.cancel('a'), true);
  t.equal(queue.cancel('a'), false);
  t.equal(queue.cancel('nope'), false);
  t.notOk(queue.has('a'));
  t.equal(queue.size, 1);
  t.equal(clock.nextDue, start + 200);
  t.equal(queue.cancel('b'), true);
  t.equal(clock.pending, 0, 'timer cleared with the last entry');
  clock.advance(1000);
  t.same(fired, []);
});

t.test('a throwing callback does not stop the queue', async (t) => {
  const { clock, queue, errors, fired, record, start } = setup();
  const boom = new Error('boom');
  queue.schedule('a', start + 10, () => {
    throw boom;
  });
  queue.schedule('b', start + 10, record('b'));
  queue.schedule('c', start + 20, record('c'));
  clock.advance(100);
  t.same(fired, [
    ['b', start + 10],
    ['c', start + 20],
  ]);
  t.equal(errors.length, 1);
  t.equal(errors[0]?.[0], 'a');
  t.equal(errors[0]?.[1], boom);
});

t.test('a rejected promise is reported too', async (t) => {
  const { clock, queue, errors, start } = setup();
  const boom = new Error('async boom');
  queue.schedule('a', start + 10, async () => {
    throw boom;
  });
  clock.advance(10);
  await new Promise((resolve) => setImmediate(resolve));
  t.same(errors, [['a', boom]]);
});

t.test('errors in onError, or without onError, are dropped', async (t) => {
  const clock = new ManualClock(0);
  const fired: string[] = [];
  const throwing = new TimerQueue<string>({
    clock,
    onError: () => {
      throw new Error('handler fails');
    },
  });
  throwing.schedule('a', 1, () => {
    throw new Error('a');
  });
  throwing.schedule('b', 2, () => fired.push('b'));
  const silent = new TimerQueue<string>({ clock });
  silent.schedule('c', 1, () => {
    throw new Error('c');
  });
  silent.schedule('d', 3, () => fired.push('d'));
  clock.advance(10);
  t.same(fired, ['b', 'd']);
});

t.test('entries scheduled by a callback run on a later turn, still in time order', async (t) => {
  const { clock, queue, fired, record, start } = setup();
  queue.schedule('a', start + 100, () => {
    record('a')();
    queue.schedule('b', start + 50, record('b'));
    queue.schedule('a', clock.now(), record('a-again'));
  });
  queue.schedule('c', start + 100, record('c'));
  clock.advance(100);
  t.same(
    fired.map(([key]) => key),
    ['a', 'b', 'c', 'a-again'],
  );
  t.ok(fired.every(([, at]) => at === start + 100));
});

t.test('a callback rescheduling itself at once does not starve the event loop', async (t) => {
  const inner = new ManualClock(0);
  let timers = 0;
  const clock = {
    now: () => inner.now(),
    setTimeout: (fn: () => void, ms: number) => {
      timers++;
      return inner.setTimeout(fn, ms);
    },
    clearTimeout: (handle: unknown) => inner.clearTimeout(handle),
  };
  const queue = new TimerQueue<string>({ clock });
  let runs = 0;
  const again = (): void => {
    runs++;
    if (runs < 5) queue.schedule('loop', clock.now(), again);
  };
  queue.schedule('loop', 0, again);
  inner.advance(0);
  t.equal(runs, 5);
  t.equal(timers, 5, 'each run waited for a timer of its own');
});

t.test('long delays are clamped to what setTimeout can take, then re-armed', async (t) => {
  const { clock, queue, fired, record, start } = setup();
  const at = start + 2 ** 32 + 5;
  queue.schedule('far', at, record('far'));
  t.equal(clock.nextDue, start + MAX_TIMER_DELAY_MS, 'first timer clamped');
  clock.advance(MAX_TIMER_DELAY_MS);
  t.same(fired, [], 'not early');
  t.equal(clock.pending, 1, 're-armed');
  clock.advance(at - clock.now() - 1);
  t.same(fired, []);
  clock.advance(1);
  t.same(fired, [['far', at]]);
});

t.test('stop drops everything; the queue can be used again', async (t) => {
  const { clock, queue, fired, record, start } = setup();
  for (let i = 0; i < 10; i++) queue.schedule(`k${i}`, start + i, record(`k${i}`));
  queue.stop();
  t.equal(queue.size, 0);
  t.equal(clock.pending, 0);
  clock.advance(100);
  t.same(fired, []);
  queue.schedule('again', clock.now() + 5, record('again'));
  clock.advance(5);
  t.same(fired, [['again', start + 105]]);
});

t.test('stop from a callback ends the drain', async (t) => {
  const { clock, queue, fired, record, start } = setup();
  queue.schedule('a', start + 1, () => queue.stop());
  queue.schedule('b', start + 1, record('b'));
  clock.advance(10);
  t.same(fired, []);
  t.equal(clock.pending, 0);
});

t.test('a time that is not a finite number is refused', async (t) => {
  const { queue } = setup();
  for (const at of [Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(() => queue.schedule('a', at, () => {}), new ScheduleError('InvalidTime', `cannot schedule at ${at}`));
  }
  t.equal(queue.size, 0);
});

t.test('10,000 entries fire in order, each at its time, never with more than one timer', async (t) => {
  const { clock, queue, start } = setup();
  let seed = 7;
  const random = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const fired: { key: number; at: number; now: number }[] = [];
  let maxPending = 0;
  const expected = new Map<number, number>();
  for (let key = 0; key < 10_000; key++) {
    const at = start + Math.floor(random() * 24 * 3600 * 1000);
    expected.set(key, at);
    queue.schedule(key.toString(), at, () => {
      fired.push({ key, at, now: clock.now() });
    });
    maxPending = Math.max(maxPending, clock.pending);
  }
  // Reschedule a tenth of them, as edits would.
  for (let key = 0; key < 10_000; key += 10) {
    const at = start + Math.floor(random() * 24 * 3600 * 1000);
    expected.set(key, at);
    queue.schedule(key.toString(), at, () => {
      fired.push({ key, at, now: clock.now() });
    });
  }
  t.equal(queue.size, 10_000);
  const began = performance.now();
  for (let step = 0; step < 48; step++) {
    clock.advance(30 * 60 * 1000);
    maxPending = Math.max(maxPending, clock.pending);
  }
  t.ok(performance.now() - began < 2000, 'fast');
  t.equal(fired.length, 10_000);
  t.equal(maxPending, 1);
  t.ok(
    fired.every((f, i) => i === 0 || (fired[i - 1]?.at ?? 0) <= f.at),
    'in time order',
  );
  t.ok(
    fired.every((f) => f.now === f.at && expected.get(f.key) === f.at),
    'each at its (latest) time',
  );
  t.equal(new Set(fired.map((f) => f.key)).size, 10_000, 'each once');
  t.equal(clock.pending, 0);
});

t.test('systemClock: real, unref-ed timers', async (t) => {
  const handle = systemClock.setTimeout(() => {}, 60_000) as NodeJS.Timeout;
  t.equal(handle.hasRef(), false, 'does not keep the process alive');
  systemClock.clearTimeout(handle);
  t.ok(Math.abs(systemClock.now() - Date.now()) < 1000);

  // The queue's own timer is unref'd, so keep the process up while waiting for it.
  const keepAlive = setTimeout(() => {}, 10_000);
  const queue = new TimerQueue<string>();
  const scheduledAt = Date.now();
  const firedAt = await new Promise<number>((resolve) => {
    queue.schedule('a', scheduledAt + 30, () => resolve(Date.now()));
  });
  clearTimeout(keepAlive);
  t.ok(firedAt >= scheduledAt + 29, 'not early');
  t.equal(queue.size, 0);
  queue.stop();
});

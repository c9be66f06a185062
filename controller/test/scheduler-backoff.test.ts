import t from 'tap';
import { failureBackoffMs } from '../src/runtime/scheduler.js';

t.test(
  'failure backoff doubles the interval per failure, capped at 16x and 5 minutes, never below the interval',
  async (t) => {
    t.equal(failureBackoffMs(2000, 0), 2000, 'no failure: the interval');
    t.same(
      [1, 2, 3, 4, 5, 6, 20].map((n) => failureBackoffMs(2000, n)),
      [2000, 4000, 8000, 16000, 32000, 32000, 32000],
    );
    t.equal(failureBackoffMs(60_000, 5), 300_000, 'at most 5 minutes');
    t.equal(failureBackoffMs(3_600_000, 3), 3_600_000, 'a long interval is never shortened');
  },
);

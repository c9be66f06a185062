import t from 'tap';
import { RateLimiter } from '../src/webhooks/rate-limit.js';

t.test('burst, then one token every period/burst, with the wait in whole seconds', async (t) => {
  let now = 0;
  const limiter = new RateLimiter({ burst: 2, periodSeconds: 10 }, { now: () => now });
  t.equal(limiter.take('a'), undefined);
  t.equal(limiter.take('a'), undefined);
  t.equal(limiter.take('a'), 5, 'one token every 5 s');
  t.equal(limiter.take('b'), undefined, 'keys are independent');
  now += 5000;
  t.equal(limiter.take('a'), undefined, 'refilled');
  t.equal(limiter.take('a'), 5);
  now += 1000;
  t.equal(limiter.take('a'), 4);
});

t.test('the number of keys is bounded', async (t) => {
  const limiter = new RateLimiter({ burst: 1, periodSeconds: 60 }, { maxKeys: 100 });
  for (let i = 0; i < 10_000; i++) limiter.take(`k${i}`);
  t.equal(limiter.size, 100);
});

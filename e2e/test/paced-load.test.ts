import { once } from 'node:events';
import { createServer } from 'node:http';
import t from 'tap';
import { pacedLoad, sendTime } from '../src/paced-load.js';

// The webhook bench's paced sender: requests leave on schedule whatever the answers do (open loop), and
// only those of the measured window count.

t.test('the schedule', async (t) => {
  t.equal(sendTime(0, 500), 0);
  t.equal(sendTime(250, 500), 500);
  t.throws(() => sendTime(1, 0), RangeError);
});

t.test('slow answers do not hold requests back, and warm-up requests are not counted', async (t) => {
  const arrivals: number[] = [];
  // Every answer takes 30 ms: a closed-loop sender on a few connections would fall far behind 200/s.
  const server = createServer((_req, res) => {
    arrivals.push(performance.now());
    setTimeout(() => res.writeHead(202).end('{}'), 30);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const result = await pacedLoad({
    url: `http://127.0.0.1:${address.port}/x`,
    method: 'POST',
    headers: {},
    rate: 200,
    warmUpSeconds: 0.5,
    seconds: 1,
  });
  t.equal(arrivals.length, 300, 'every request of warm-up and measurement reached the server');
  t.same([...result.codes], [['202', 200]], 'the 200 measured answers');
  t.equal(result.latencies.length, 200);
  t.ok(
    result.latencies.every((ms) => ms >= 29),
    'each latency is the answer time, not a wait to send',
  );
  const span = (arrivals.at(-1) ?? 0) - (arrivals[0] ?? 0);
  t.ok(span > 1400 && span < 1700, `300 requests at 200/s arrive over about 1.5 s (${span.toFixed(0)} ms)`);
  t.ok(
    result.sentAt.every((at) => at >= 490),
    'measured requests left after the warm-up',
  );
});

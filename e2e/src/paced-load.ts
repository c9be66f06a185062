import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

// autocannon's own rate limit (`overallRate`, `connectionRate`) is a bucket per connection refilled once a
// second: each connection sends back to back, as fast as the answers come, until it has sent its share
// for that second, then waits for the next. "500 per second" over 10 connections is therefore 10
// requests in flight at full speed for the first part of every second and nothing after: the latency it
// reports is that of a saturating burst, not of a steady 500 per second, and a stall of the server
// delays the next sends instead of showing in their latency (coordinated omission). Its histogram then
// corrects for that with an expected interval of `Math.ceil(1 / rate)`, seconds rounded up to 1 and taken
// as 1 ms, so each answer slower than 1 ms adds a synthetic sample for every millisecond below it. One
// sender per connection at one request a second would pace it, but creating an autocannon instance costs
// about 1.6 ms here, more than the 2 ms between requests at 500 per second.
//
// So a paced load of its own: requests leave on a fixed schedule, one every 1000/rate ms whatever the
// answers do, over as many keep-alive connections as are in flight; each latency is the one request's,
// from its write to its complete answer.

/** When the `i`-th request of a paced load leaves, in ms from the start. */
export function sendTime(i: number, rate: number): number {
  if (!(rate > 0)) throw new RangeError(`rate must be positive, got ${rate}`);
  return (i * 1000) / rate;
}

/** The answers of a paced load. */
export interface PacedResult {
  /** Milliseconds from each measured request's write to its complete answer, one per answer. */
  readonly latencies: number[];
  /** When each measured request left (ms from the start), in the order of `latencies`. */
  readonly sentAt: number[];
  /** Answers by HTTP status, and failed requests by error code. */
  readonly codes: ReadonlyMap<string, number>;
  /** Measured requests per second. */
  readonly perSecond: number;
  /**
   * How late requests left against the schedule (ms, 99th percentile): this process's own delays, which
   * the latencies do not include. Sleep timers alone make it about 1 ms.
   */
  readonly lateP99: number;
}

/**
 * `rate` requests per second for `warmUpSeconds` and then `seconds` more; only requests sent in the
 * latter count. A request without an answer within `timeoutMs` (default 10 s) counts as `timeout`.
 */
export async function pacedLoad(opts: {
  readonly url: string;
  readonly method: 'POST' | 'GET';
  readonly headers: Readonly<Record<string, string>>;
  readonly rate: number;
  readonly warmUpSeconds: number;
  readonly seconds: number;
  readonly timeoutMs?: number;
}): Promise<PacedResult> {
  const url = new URL(opts.url);
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  const from = opts.warmUpSeconds * 1000;
  const total = Math.round((opts.warmUpSeconds + opts.seconds) * opts.rate);
  const latencies: number[] = [];
  const sentAt: number[] = [];
  const late: number[] = [];
  const codes = new Map<string, number>();
  const count = (code: string) => codes.set(code, (codes.get(code) ?? 0) + 1);
  const pending: Promise<void>[] = [];
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    const due = sendTime(i, opts.rate);
    const wait = started + due - performance.now();
    if (wait >= 1) await sleep(wait);
    const sent = performance.now();
    const measured = due >= from;
    if (measured) late.push(sent - started - due);
    pending.push(
      new Promise<void>((resolve) => {
        const req = request(
          url,
          { method: opts.method, headers: { ...opts.headers, 'content-length': '0' }, agent },
          (res) => {
            res.resume();
            res.once('end', () => {
              if (measured) {
                latencies.push(performance.now() - sent);
                sentAt.push(sent - started);
                count(String(res.statusCode));
              }
              resolve();
            });
          },
        );
        req.setTimeout(opts.timeoutMs ?? 10_000, () =>
          req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })),
        );
        req.once('error', (err: NodeJS.ErrnoException) => {
          if (measured) count(err.code ?? 'error');
          resolve();
        });
        req.end();
      }),
    );
  }
  await Promise.all(pending);
  agent.destroy();
  return {
    latencies,
    sentAt,
    codes,
    perSecond: latencies.length / opts.seconds,
    lateP99: [...late].sort((a, b) => a - b)[Math.floor(late.length * 0.99)] ?? 0,
  };
}

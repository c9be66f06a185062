import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The controller's metrics, in a registry of its own (no global state). */
export class Metrics {
  readonly registry = new Registry();
  readonly checks: Counter<'namespace' | 'trigger_kind' | 'trigger_name' | 'result'>;
  readonly checkDuration: Histogram<'namespace' | 'trigger_kind' | 'trigger_name'>;
  readonly jobsCreated: Counter<'namespace' | 'trigger_kind' | 'trigger_name'>;
  readonly jobsCompleted: Counter<'status'>;
  readonly jobsCompletedDuration: Histogram<'status'>;
  readonly queueLimit: Gauge;
  readonly queueRunning: Gauge;
  readonly queueWaiting: Gauge;
  readonly queueWaitingDuration: Histogram;
  readonly leader: Gauge;
  readonly webhookRequests: Counter<'namespace' | 'trigger_name' | 'status'>;
  readonly webhookDuration: Histogram<'namespace' | 'trigger_name' | 'status'>;
  readonly webhookReplays: Counter<'namespace' | 'trigger_name'>;
  readonly scheduleLateness: Histogram;
  readonly watchesSynced: Gauge;

  constructor(prefix: string) {
    const r = [this.registry];
    // Process and runtime figures (memory, CPU, event loop lag, GC) for on-call engineers.
    collectDefaultMetrics({ register: this.registry });
    this.checks = new Counter({
      name: `${prefix}_trigger_checks_total`,
      help: 'Checks of triggers, by result (ok, failed).',
      labelNames: ['namespace', 'trigger_kind', 'trigger_name', 'result'],
      registers: r,
    });
    this.checkDuration = new Histogram({
      name: `${prefix}_trigger_check_duration_seconds`,
      help: 'Duration of a check of a trigger (all its sources).',
      labelNames: ['namespace', 'trigger_kind', 'trigger_name'],
      buckets: [0.1, 1, 2, 5, 10, 30, 60],
      registers: r,
    });
    this.jobsCreated = new Counter({
      name: `${prefix}_jobs_created_total`,
      help: 'Jobs created for triggers.',
      labelNames: ['namespace', 'trigger_kind', 'trigger_name'],
      registers: r,
    });
    this.jobsCompleted = new Counter({
      name: `${prefix}_jobs_queue_completed_total`,
      help: 'Jobs that ended, by status (Succeed, Failed, Expired, Deleted); each Job counted once.',
      labelNames: ['status'],
      registers: r,
    });
    this.jobsCompletedDuration = new Histogram({
      name: `${prefix}_jobs_queue_completed_duration_seconds`,
      help: 'Run time of Jobs that succeeded or failed, from start to completion.',
      labelNames: ['status'],
      buckets: [1, 5, 10, 30, 60, 120, 300],
      registers: r,
    });
    this.queueLimit = new Gauge({
      name: `${prefix}_jobs_queue_limit`,
      help: 'maxRunningJobs: Jobs allowed to run at once, cluster-wide.',
      registers: r,
    });
    this.queueRunning = new Gauge({
      name: `${prefix}_jobs_queue_running`,
      help: 'Jobs admitted and not finished.',
      registers: r,
    });
    this.queueWaiting = new Gauge({
      name: `${prefix}_jobs_queue_waiting`,
      help: 'Jobs waiting (suspended) for capacity.',
      registers: r,
    });
    this.queueWaitingDuration = new Histogram({
      name: `${prefix}_jobs_queue_waiting_duration_seconds`,
      help: 'Time Jobs waited in the queue before being admitted.',
      buckets: [0.1, 0.5, 1, 2, 5, 10, 20, 60],
      registers: r,
    });
    this.scheduleLateness = new Histogram({
      name: `${prefix}_schedule_lateness_seconds`,
      help: 'How late scheduled checks start after they fall due (waiting for a free check slot included).',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: r,
    });
    this.webhookRequests = new Counter({
      name: `${prefix}_webhook_requests_total`,
      help: 'Webhook requests by answer; unknown triggers are counted with empty labels.',
      labelNames: ['namespace', 'trigger_name', 'status'],
      registers: r,
    });
    this.webhookDuration = new Histogram({
      name: `${prefix}_webhook_requests_duration_seconds`,
      help: 'Time to answer a webhook request (the check runs afterwards).',
      labelNames: ['namespace', 'trigger_name', 'status'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
      registers: r,
    });
    this.webhookReplays = new Counter({
      name: `${prefix}_webhook_replays_total`,
      help: 'Accepted webhook requests the leader checked again because the replica that accepted them stopped before their check ended.',
      labelNames: ['namespace', 'trigger_name'],
      registers: r,
    });
    this.leader = new Gauge({
      name: `${prefix}_leader`,
      help: '1 while this replica holds the leader lease.',
      registers: r,
    });
    this.watchesSynced = new Gauge({
      name: `${prefix}_watches_synced`,
      help: '1 while every watch cache is current.',
      registers: r,
    });
  }
}

import type { Painter, Tone } from '../format/color.js';
import { renderTable } from '../format/table.js';
import { elapsed, relativeTime } from '../format/time.js';
import type { EventInfo, JobInfo, JobPhase } from '../kube/types.js';
import {
  hookPath,
  recentEvents,
  referenceText,
  scheduleText,
  shortCommit,
  type TriggerDetail,
  type TriggerSummary,
} from './model.js';

/** What kubectl prints for an empty cell. */
export const NONE = '<none>';

/** How a table is drawn. */
export interface TableOptions {
  readonly now: number;
  readonly wide: boolean;
  /** Adds the NAMESPACE column (`-A`). */
  readonly namespaces: boolean;
  readonly paint: Painter;
}

const PHASE_TONE: Readonly<Record<JobPhase, Tone>> = {
  Queued: 'warn',
  Running: 'busy',
  Succeeded: 'good',
  Failed: 'bad',
  Expired: 'bad',
  Deleted: 'dim',
};

function stateTone(state: string): Tone | undefined {
  switch (state) {
    case 'Suspended':
      return 'warn';
    case 'WrongConfig':
      return 'bad';
    case 'Running':
      return 'busy';
    case 'Unknown':
      return 'dim';
    default:
      return undefined;
  }
}

function readyTone(t: TriggerSummary): Tone {
  if (t.ready === undefined) return 'dim';
  if (t.ready.status === 'True') return 'good';
  return t.ready.reason === 'Suspended' ? 'warn' : 'bad';
}

function tone(paint: Painter, which: Tone | undefined, text: string): string {
  return which === undefined ? text : paint(which, text);
}

/** `Schedule` or `Webhook`: the KIND cell. */
export function kindCell(t: TriggerSummary): string {
  return t.kind === 'ScheduleTrigger' ? 'Schedule' : 'Webhook';
}

/** Headers of the `status` table. */
export function tableHeaders(o: Pick<TableOptions, 'wide' | 'namespaces'>): string[] {
  return [
    ...(o.namespaces ? ['NAMESPACE'] : []),
    'KIND',
    'NAME',
    'STATE',
    'READY',
    'SCHEDULE/HOOK',
    'LAST RUN',
    'SOURCE',
    'REF',
    'COMMIT',
    'CHANGED',
    'LAST JOB',
    'PHASE',
    ...(o.wide ? ['ACTION', 'POLICY', 'JOB DURATION', 'ERROR', 'MESSAGE'] : []),
  ];
}

/** Rows of the `status` table: one per source of each trigger (one row for a trigger without sources). */
export function tableRows(triggers: readonly TriggerSummary[], o: TableOptions): string[][] {
  const rows: string[][] = [];
  for (const t of triggers) {
    const common = [
      ...(o.namespaces ? [t.namespace] : []),
      kindCell(t),
      t.name,
      tone(o.paint, stateTone(t.state), t.state),
      o.paint(readyTone(t), t.ready?.reason ?? NONE),
    ];
    const lastRun = relativeTime(t.lastRun, o.now) ?? NONE;
    const ref = referenceText(t.reference);
    const sources = t.sources.length > 0 ? t.sources : [undefined];
    for (const s of sources) {
      const where =
        t.schedule !== undefined
          ? scheduleText(t.schedule)
          : s?.hookPath !== undefined
            ? s.hookPath
            : (t.webhook?.triggerPath ?? hookPath(t.namespace, t.name));
      const job = s?.lastJob;
      rows.push([
        ...common,
        where,
        lastRun,
        s?.name ?? NONE,
        // A semver range shows the tag it resolved to for this source.
        s?.resolvedTag === undefined ? ref : `${ref} (${s.resolvedTag})`,
        s?.commit === undefined ? NONE : shortCommit(s.commit),
        relativeTime(s?.changed, o.now) ?? NONE,
        job?.name ?? NONE,
        job === undefined ? NONE : o.paint(PHASE_TONE[job.phase], job.phase),
        ...(o.wide
          ? [
              `${t.action.kind}/${t.action.name}`,
              t.concurrencyPolicy,
              elapsed(job?.startTime, job?.completionTime) ?? NONE,
              s?.lastError === undefined ? NONE : o.paint('bad', `${s.lastError.reason}: ${s.lastError.message}`),
              t.ready?.message === undefined || t.ready.message === '' ? NONE : t.ready.message,
            ]
          : []),
      ]);
    }
  }
  return rows;
}

/** The `status` table. */
export function renderStatusTable(triggers: readonly TriggerSummary[], o: TableOptions): string {
  return renderTable(tableHeaders(o), tableRows(triggers, o));
}

function field(label: string, value: string): string {
  return `${`${label}:`.padEnd(16)}${value}\n`;
}

function at(value: string | undefined, now: number): string {
  if (value === undefined) return NONE;
  if (value === 'Never') return 'never';
  const rel = relativeTime(value, now);
  return rel === undefined ? NONE : `${value} (${rel})`;
}

function authText(t: TriggerDetail): string {
  const auth = t.webhook?.auth;
  if (auth === undefined) return 'none (anyone who can reach the webhook server may fire it)';
  const header = auth.header ?? 'x-trigger-auth (controller default)';
  const secret = `Secret ${auth.secretName}, key ${auth.secretKey}`;
  return auth.provider === 'token'
    ? `token in header ${header}, from ${secret}`
    : `${auth.provider} signature, ${secret}`;
}

/** What `status TRIGGER` prints: the trigger, its sources, its recent Jobs and Events (kubectl describe's look). */
export function renderDetail(
  t: TriggerDetail,
  o: { readonly now: number; readonly wide: boolean; readonly paint: Painter },
): string {
  const { now, paint } = o;
  let out = '';
  out += field('Name', t.name);
  out += field('Namespace', t.namespace);
  out += field('Kind', t.kind);
  out += field('State', tone(paint, stateTone(t.state), t.state));
  out += field(
    'Ready',
    t.ready === undefined
      ? `${NONE} (no controller has reported on this trigger yet)`
      : `${paint(readyTone(t), `${t.ready.status} (${t.ready.reason})`)}${t.ready.message === '' ? '' : `: ${t.ready.message}`}`,
  );
  if (t.stale)
    out += field('Note', 'the status describes an older version of the spec: the controller has not caught up');
  if (t.schedule !== undefined) out += field('Schedule', scheduleText(t.schedule));
  if (t.runRequested !== undefined) out += field('Run requested', at(t.runRequested, now));
  if (t.webhook !== undefined) {
    const single = `POST ${hookPath(t.namespace, t.name)}/{source}`;
    out += field(
      'Webhook',
      t.webhook.triggerPath === undefined ? single : `${single}, POST ${t.webhook.triggerPath} (every source)`,
    );
    out += field('Authorization', authText(t));
  }
  out += field('Action', `${t.action.kind}/${t.action.name}`);
  out += field(
    'Watching',
    `${referenceText(t.reference)}${t.files === undefined ? '' : `, files ${t.files.join(' ')}`}`,
  );
  out += field('On change only', String(t.onChangeOnly));
  out += field('Concurrency', t.concurrencyPolicy);
  out += field('Last run', at(t.lastRun, now));
  out += 'Sources:\n';
  if (t.sources.length === 0) out += `  ${NONE}\n`;
  else
    out += renderTable(
      ['SOURCE', 'KIND', 'COMMIT', 'CHANGED', 'LAST JOB', 'PHASE', 'DURATION', 'ERROR'],
      t.sources.map((s) => [
        s.name,
        s.kind,
        s.commit === undefined ? NONE : o.wide ? s.commit : shortCommit(s.commit),
        relativeTime(s.changed, now) ?? NONE,
        s.lastJob?.name ?? NONE,
        s.lastJob === undefined ? NONE : paint(PHASE_TONE[s.lastJob.phase], s.lastJob.phase),
        elapsed(s.lastJob?.startTime, s.lastJob?.completionTime) ?? NONE,
        s.lastError === undefined
          ? NONE
          : paint(
              'bad',
              `${s.lastError.reason}: ${s.lastError.message} (${relativeTime(s.lastError.time, now) ?? ''})`,
            ),
      ]),
      '  ',
    );
  out += 'Recent Jobs:\n';
  out += jobsBlock(t.jobs, o);
  out += 'Events:\n';
  out += eventsBlock(t.events, o);
  return out;
}

function jobsBlock(jobs: readonly JobInfo[] | null, o: { now: number; wide: boolean; paint: Painter }): string {
  if (jobs === null) return '  <not shown: you may not list Jobs in this namespace>\n';
  if (jobs.length === 0) return `  ${NONE}\n`;
  return renderTable(
    ['NAME', 'SOURCE', 'COMMIT', 'PHASE', 'AGE', 'DURATION', ...(o.wide ? ['MESSAGE'] : [])],
    jobs.map((j) => [
      j.name,
      j.source ?? NONE,
      j.commit === undefined ? NONE : shortCommit(j.commit),
      o.paint(PHASE_TONE[j.phase], j.phase),
      j.created === undefined ? NONE : (relativeTime(j.created, o.now) ?? NONE).replace(/ ago$/, ''),
      elapsed(j.startTime, j.completionTime) ?? NONE,
      ...(o.wide ? [j.message ?? NONE] : []),
    ]),
    '  ',
  );
}

function eventsBlock(events: readonly EventInfo[] | null, o: { now: number; wide: boolean; paint: Painter }): string {
  if (events === null) return '  <not shown: you may not list Events in this namespace>\n';
  if (events.length === 0) return `  ${NONE}\n`;
  return renderTable(
    ['LAST SEEN', 'TYPE', 'REASON', 'COUNT', 'MESSAGE'],
    recentEvents(events, o.wide ? 100 : 10).map((e) => [
      e.lastSeen === undefined ? NONE : (relativeTime(e.lastSeen, o.now) ?? NONE),
      e.type === 'Warning' ? o.paint('warn', e.type) : e.type,
      e.reason,
      String(e.count),
      e.message,
    ]),
    '  ',
  );
}

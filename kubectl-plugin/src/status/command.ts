import { PluginError } from '../errors.js';
import { colorEnabled, painter } from '../format/color.js';
import { type STATUS_FORMATS, serialize } from '../format/output.js';
import type { Io } from '../io.js';
import { getTrigger, type Kube, listActionJobs, listEventsFor, listTriggers, type Readable } from '../kube/client.js';
import { parseTriggerName } from '../kube/names.js';
import { type JobInfo, TRIGGER_KINDS, type TriggerObject } from '../kube/types.js';
import {
  compareTriggers,
  recentEvents,
  recentJobs,
  summarise,
  type TriggerDetail,
  type TriggerSummary,
} from './model.js';
import { renderDetail, renderStatusTable } from './render.js';

/** What `status` was asked. */
export interface StatusOptions {
  readonly trigger?: string;
  readonly allNamespaces: boolean;
  readonly output: (typeof STATUS_FORMATS)[number];
  readonly selector?: string;
}

/** The kind of list `-o json|yaml` prints for several triggers. */
export const LIST_KIND = 'TriggerStatusList';

function byName(jobs: Readable<JobInfo[]>): Map<string, JobInfo> | undefined {
  return jobs === 'forbidden' ? undefined : new Map(jobs.map((j) => [`${j.namespace}/${j.name}`, j]));
}

function namespacedJobs(all: Map<string, JobInfo> | undefined, namespace: string): Map<string, JobInfo> | undefined {
  if (all === undefined) return undefined;
  const prefix = `${namespace}/`;
  return new Map([...all].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
}

function settledError(results: readonly PromiseSettledResult<unknown>[]): PluginError | undefined {
  const failures = results
    .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    .map((r) => r.reason as unknown)
    .map((e) => (e instanceof PluginError ? e : new PluginError('ApiError', String(e), { cause: e })));
  return failures.find((e) => e.code === 'Forbidden') ?? failures[0];
}

/** `kubectl git-events status [TRIGGER]`. */
export async function runStatus(kube: Kube, options: StatusOptions, io: Io): Promise<void> {
  const paint = painter(
    (options.output === 'table' || options.output === 'wide') && colorEnabled(io.stdoutIsTTY, io.env),
  );
  const wide = options.output === 'wide';
  if (options.trigger !== undefined) {
    if (options.allNamespaces)
      throw new PluginError(
        'Usage',
        'a trigger cannot be retrieved by name across all namespaces: drop -A or the name',
      );
    return showOne(kube, options, io, paint, wide);
  }
  const namespace = options.allNamespaces ? undefined : kube.namespace;
  const settled = await Promise.allSettled(
    TRIGGER_KINDS.map((kind) => listTriggers(kube, kind, namespace, options.selector)),
  );
  if (settled.every((r) => r.status === 'rejected')) throw settledError(settled);
  const failed = settled.find(
    (r): r is PromiseRejectedResult =>
      r.status === 'rejected' && !(r.reason instanceof PluginError && r.reason.code === 'Forbidden'),
  );
  if (failed !== undefined) throw failed.reason;
  // A user may read one kind and not the other: show what is readable and say what is not.
  const triggers: TriggerObject[] = [];
  settled.forEach((r, i) => {
    if (r.status === 'fulfilled') triggers.push(...r.value);
    else io.stderr(`note: ${TRIGGER_KINDS[i]}s not shown: ${(r.reason as PluginError).message}\n`);
  });

  let jobs: Map<string, JobInfo> | undefined;
  if (triggers.some((t) => Object.values(t.status?.checkedSources ?? {}).some((s) => s.lastJob !== undefined))) {
    jobs = byName(await listActionJobs(kube, namespace));
    if (jobs === undefined)
      io.stderr(
        `note: you may not list Jobs ${namespace === undefined ? 'in every namespace' : `in namespace ${namespace}`}: phases are those last recorded on the triggers\n`,
      );
  }
  const summaries = triggers
    .map((t) => summarise(t, namespacedJobs(jobs, t.metadata.namespace ?? '')))
    .sort(compareTriggers);
  if (options.output === 'json' || options.output === 'yaml') {
    io.stdout(serialize({ kind: LIST_KIND, items: summaries }, options.output));
    return;
  }
  if (summaries.length === 0) {
    io.stderr(namespace === undefined ? 'No triggers found.\n' : `No triggers found in ${namespace} namespace.\n`);
    return;
  }
  io.stdout(renderStatusTable(summaries, { now: io.now(), wide, namespaces: namespace === undefined, paint }));
}

async function showOne(
  kube: Kube,
  options: StatusOptions,
  io: Io,
  paint: ReturnType<typeof painter>,
  wide: boolean,
): Promise<void> {
  const target = parseTriggerName(options.trigger ?? '');
  const namespace = kube.namespace;
  const settled = await Promise.allSettled(target.kinds.map((kind) => getTrigger(kube, kind, namespace, target.name)));
  const found = settled
    .filter((r): r is PromiseFulfilledResult<TriggerObject | undefined> => r.status === 'fulfilled')
    .map((r) => r.value)
    .filter((t): t is TriggerObject => t !== undefined);
  if (found.length === 0) {
    const error = settledError(settled);
    if (error !== undefined) throw error;
    const kinds = target.kinds.length === 1 ? target.kinds[0] : 'ScheduleTrigger or WebhookTrigger';
    throw new PluginError('NotFound', `${kinds} "${target.name}" not found in namespace "${namespace}"`);
  }
  const details: TriggerDetail[] = [];
  for (const trigger of found) {
    const uid = trigger.metadata.uid;
    const [jobs, events] = await Promise.all([
      listActionJobs(kube, namespace, uid),
      uid === undefined ? Promise.resolve([]) : listEventsFor(kube, namespace, uid),
    ]);
    const live = jobs === 'forbidden' ? undefined : new Map(jobs.map((j) => [j.name, j]));
    const summary: TriggerSummary = summarise(trigger, live);
    details.push({
      ...summary,
      jobs: jobs === 'forbidden' ? null : recentJobs(jobs, uid, wide ? 20 : 5),
      events: events === 'forbidden' ? null : recentEvents(events, wide ? 100 : 10),
    });
  }
  if (options.output === 'json' || options.output === 'yaml') {
    const value = details.length === 1 ? details[0] : { kind: LIST_KIND, items: details };
    io.stdout(serialize(value, options.output));
    return;
  }
  io.stdout(details.map((d) => renderDetail(d, { now: io.now(), wide, paint })).join('\n'));
}

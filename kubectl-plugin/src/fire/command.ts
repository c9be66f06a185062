import { RUN_REQUESTED_AT_ANNOTATION } from '@git-events-runner/shared';
import { PluginError } from '../errors.js';
import { type FIRE_FORMATS, serialize } from '../format/output.js';
import { humanDuration } from '../format/time.js';
import type { Io } from '../io.js';
import { getJob, getTrigger, type Kube, readSecretKey, requestRun } from '../kube/client.js';
import { finished } from '../kube/jobs.js';
import { parseTriggerName, qualifiedName } from '../kube/names.js';
import type { JobPhase, ScheduleTriggerObject, TriggerObject, WebhookTriggerObject } from '../kube/types.js';
import { type HookClient, proxyClient, urlClient } from './client.js';
import {
  DEFAULT_AUTH_HEADER,
  DEFAULT_SERVICE,
  hookRequest,
  hookTarget,
  interpretHookAnswer,
  interpretTaskAnswer,
  parseBaseUrl,
  parseServiceRef,
  SERVICE_ENV,
  type TaskState,
  taskHeaders,
} from './request.js';

/** What `fire` was asked. */
export interface FireOptions {
  readonly trigger: string;
  readonly source?: string;
  readonly service?: string;
  readonly url?: string;
  readonly token?: string;
  readonly tokenEnv?: string;
  readonly authHeader?: string;
  readonly wait: boolean;
  readonly timeoutMs: number;
  readonly output: (typeof FIRE_FORMATS)[number];
  /** How often to ask while waiting. */
  readonly pollMs?: number;
}

/** What `fire -o json|yaml` prints. */
export interface FireResult {
  kind: TriggerObject['kind'];
  namespace: string;
  name: string;
  source?: string;
  taskId?: string;
  requestedAt?: string;
  /** Final task state (webhooks, with --wait). */
  state?: string;
  jobs: { name: string; phase: JobPhase | 'Unknown' }[];
  errors: { source: string; reason: string; message: string }[];
}

// A task lives in the replica that took the hook; through a Service another replica may answer 404.
const TASK_NOT_FOUND_RETRIES = 20;

async function resolveTrigger(kube: Kube, text: string): Promise<TriggerObject> {
  const target = parseTriggerName(text);
  const namespace = kube.namespace;
  const settled = await Promise.allSettled(target.kinds.map((kind) => getTrigger(kube, kind, namespace, target.name)));
  const found = settled.flatMap((r) => (r.status === 'fulfilled' && r.value !== undefined ? [r.value] : []));
  if (found.length > 1)
    throw new PluginError(
      'Ambiguous',
      `both a ScheduleTrigger and a WebhookTrigger are named "${target.name}" in namespace "${namespace}": say strig/${target.name} or wtrig/${target.name}`,
    );
  const only = found[0];
  if (only !== undefined) return only;
  const rejected = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected !== undefined) throw rejected.reason;
  const kinds = target.kinds.length === 1 ? target.kinds[0] : 'ScheduleTrigger or WebhookTrigger';
  throw new PluginError('NotFound', `${kinds} "${target.name}" not found in namespace "${namespace}"`);
}

async function tokenFor(
  kube: Kube,
  trigger: WebhookTriggerObject,
  options: FireOptions,
  io: Io,
): Promise<string | undefined> {
  const auth = trigger.spec.webhook.authConfig;
  if (auth === undefined) return undefined;
  if (options.token !== undefined) return options.token;
  if (options.tokenEnv !== undefined) {
    const value = io.env[options.tokenEnv];
    if (value === undefined || value === '')
      throw new PluginError('NoToken', `--token-env ${options.tokenEnv}: the environment variable is not set`);
    return value;
  }
  const namespace = trigger.metadata.namespace ?? kube.namespace;
  const secret = await readSecretKey(kube, namespace, auth.secretRef.name, auth.key);
  if (secret === 'forbidden')
    throw new PluginError(
      'NoToken',
      `you may not read Secret ${namespace}/${auth.secretRef.name} that holds the token of WebhookTrigger ${namespace}/${trigger.metadata.name}: pass --token-env VAR (or --token)`,
    );
  return secret;
}

/** Progress lines: stdout for people, stderr when stdout carries JSON/YAML. */
function progress(io: Io, options: FireOptions): (line: string) => void {
  return options.output === 'text' ? (line) => io.stdout(`${line}\n`) : (line) => io.stderr(`${line}\n`);
}

function timeout(options: FireOptions, what: string): PluginError {
  return new PluginError('Timeout', `timed out after ${humanDuration(options.timeoutMs)} waiting for ${what}`);
}

/** `kubectl git-events fire TRIGGER [SOURCE]`. */
export async function runFire(kube: Kube, options: FireOptions, io: Io): Promise<void> {
  const trigger = await resolveTrigger(kube, options.trigger);
  const deadline = io.now() + options.timeoutMs;
  const result: FireResult = {
    kind: trigger.kind,
    namespace: trigger.metadata.namespace ?? kube.namespace,
    name: trigger.metadata.name,
    jobs: [],
    errors: [],
  };
  let failure: PluginError | undefined;
  try {
    if (trigger.kind === 'WebhookTrigger') await fireWebhook(kube, trigger, options, io, deadline, result);
    else await fireSchedule(kube, trigger, options, io, deadline, result);
  } catch (err: unknown) {
    // With -o json|yaml the result is printed even when waiting ends in a failure, for scripts.
    if (!(err instanceof PluginError) || (err.code !== 'RunFailed' && err.code !== 'Timeout')) throw err;
    failure = err;
  }
  if (options.output !== 'text') io.stdout(serialize(result, options.output));
  if (failure !== undefined) throw failure;
}

async function fireWebhook(
  kube: Kube,
  trigger: WebhookTriggerObject,
  options: FireOptions,
  io: Io,
  deadline: number,
  result: FireResult,
): Promise<void> {
  const label = `WebhookTrigger ${result.namespace}/${result.name}`;
  if (trigger.spec.suspend === true)
    throw new PluginError('Suspended', `${label} is suspended: set spec.suspend to false first`);
  const target = hookTarget(trigger, options.source);
  const client: HookClient =
    options.url !== undefined
      ? urlClient(parseBaseUrl(options.url))
      : proxyClient(kube, parseServiceRef(options.service ?? io.env[SERVICE_ENV] ?? DEFAULT_SERVICE));
  const token = await tokenFor(kube, trigger, options, io);
  const header = options.authHeader ?? DEFAULT_AUTH_HEADER;
  const request = hookRequest(trigger, token, header);
  const answer = await client.send('POST', target.path, request.headers, request.body);
  const taskId = interpretHookAnswer(answer, client.route, label);
  result.taskId = taskId;
  if (target.source !== undefined) result.source = target.source;
  const say = progress(io, options);
  const what = target.source === undefined ? 'every source' : `source ${target.source}`;
  if (options.output === 'text')
    io.stdout(`${qualifiedName(trigger.kind, result.name)} fired (${what}): task ${taskId}\n`);
  if (!options.wait) return;

  const lookup = taskHeaders(trigger, token, header);
  let last: TaskState['state'] | undefined;
  let misses = 0;
  let task: TaskState;
  for (;;) {
    const got = await client.send('GET', `/tasks/${encodeURIComponent(taskId)}`, lookup);
    try {
      task = interpretTaskAnswer(got, client.route, taskId);
      misses = 0;
    } catch (err: unknown) {
      if (!(err instanceof PluginError && err.code === 'NotFound' && ++misses < TASK_NOT_FOUND_RETRIES)) throw err;
      await pause(io, options, deadline, `task ${taskId}`);
      continue;
    }
    if (task.state !== last) {
      say(`task ${taskId}: ${task.state}`);
      last = task.state;
    }
    if (task.state === 'Succeeded' || task.state === 'Failed') break;
    await pause(io, options, deadline, `task ${taskId}`);
  }
  result.state = task.state;
  result.errors.push(...task.errors);
  for (const e of task.errors) say(`source ${e.source}: ${e.reason}: ${e.message}`);
  if (task.jobs.length === 0 && task.state === 'Succeeded')
    say('no Job started: nothing changed in the watched sources (or the concurrency policy holds the change back)');
  const jobs = await followJobs(kube, trigger, task.jobs, options, io, deadline, result);
  finish(task.state === 'Failed' ? `the check of ${label} failed` : undefined, jobs);
}

async function fireSchedule(
  kube: Kube,
  trigger: ScheduleTriggerObject,
  options: FireOptions,
  io: Io,
  deadline: number,
  result: FireResult,
): Promise<void> {
  const label = `ScheduleTrigger ${result.namespace}/${result.name}`;
  if (options.source !== undefined)
    throw new PluginError('Usage', `${label} checks all its sources at once: fire takes no SOURCE for it`);
  if (trigger.spec.suspend === true)
    throw new PluginError('Suspended', `${label} is suspended: set spec.suspend to false first`);
  const before = trigger.status?.checkedSources ?? {};
  const requestedAt = new Date(io.now()).toISOString();
  await requestRun(kube, result.namespace, result.name, requestedAt);
  result.requestedAt = requestedAt;
  const say = progress(io, options);
  if (options.output === 'text')
    io.stdout(
      `${qualifiedName(trigger.kind, result.name)} run requested (${RUN_REQUESTED_AT_ANNOTATION}=${requestedAt})\n`,
    );
  if (!options.wait) return;

  // The controller removes the annotation once the run's check is over (its status is written first).
  let current: TriggerObject | undefined;
  for (;;) {
    current = await getTrigger(kube, 'ScheduleTrigger', result.namespace, result.name);
    if (current === undefined) throw new PluginError('NotFound', `${label} was deleted while waiting`);
    if (current.metadata.annotations?.[RUN_REQUESTED_AT_ANNOTATION] !== requestedAt) break;
    await pause(io, options, deadline, `the controller to run ${label} (is it running?)`);
  }
  say(`run ${requestedAt}: checked`);
  const jobs: string[] = [];
  for (const [source, entry] of Object.entries(current.status?.checkedSources ?? {})) {
    const previous = before[source];
    if (entry.lastError !== undefined && entry.lastError.time !== previous?.lastError?.time) {
      result.errors.push({ source, reason: entry.lastError.reason, message: entry.lastError.message });
      say(`source ${source}: ${entry.lastError.reason}: ${entry.lastError.message}`);
    }
    if (entry.lastJob !== undefined && entry.changed !== previous?.changed) jobs.push(entry.lastJob.name);
  }
  if (jobs.length === 0 && result.errors.length === 0)
    say('no Job started: nothing changed in the watched sources (or the concurrency policy holds the change back)');
  const followed = await followJobs(kube, current, jobs, options, io, deadline, result);
  finish(result.errors.length > 0 ? `the check of ${label} failed` : undefined, followed);
}

function finish(
  checkFailure: string | undefined,
  jobs: readonly { name: string; phase: JobPhase | 'Unknown' }[],
): void {
  const failed = jobs.filter((j) => j.phase !== 'Succeeded');
  const parts = [
    ...(checkFailure === undefined ? [] : [checkFailure]),
    ...failed.map((j) => `job ${j.name} ${j.phase.toLowerCase()}`),
  ];
  if (parts.length > 0) throw new PluginError('RunFailed', parts.join('; '));
}

async function pause(io: Io, options: FireOptions, deadline: number, what: string): Promise<void> {
  const left = deadline - io.now();
  if (left <= 0) throw timeout(options, what);
  await io.sleep(Math.min(options.pollMs ?? 500, left));
}

/**
 * Follows Jobs until each has finished, printing every phase it reaches. When the user may not read
 * Jobs, the phase the controller records on the trigger is followed instead.
 */
async function followJobs(
  kube: Kube,
  trigger: TriggerObject,
  names: readonly string[],
  options: FireOptions,
  io: Io,
  deadline: number,
  result: FireResult,
): Promise<{ name: string; phase: JobPhase | 'Unknown' }[]> {
  const say = progress(io, options);
  const namespace = trigger.metadata.namespace ?? kube.namespace;
  const phases = new Map<string, JobPhase | 'Unknown'>(names.map((n) => [n, 'Unknown']));
  let fromStatus = false;
  for (;;) {
    let recorded: TriggerObject | undefined;
    for (const [name, before] of phases) {
      if (before !== 'Unknown' && finished(before)) continue;
      let phase: JobPhase | 'Unknown';
      const job = fromStatus ? 'forbidden' : await getJob(kube, namespace, name);
      if (job === 'forbidden') {
        if (!fromStatus) say(`you may not read Jobs in ${namespace}: following the phases recorded on the trigger`);
        fromStatus = true;
        recorded ??= await getTrigger(kube, trigger.kind, namespace, trigger.metadata.name);
        const entry = Object.values(recorded?.status?.checkedSources ?? {}).find((s) => s.lastJob?.name === name);
        phase = entry?.lastJob?.phase ?? 'Unknown';
      } else phase = job === undefined ? 'Deleted' : job.phase;
      if (phase !== before) {
        phases.set(name, phase);
        if (phase !== 'Unknown') say(`job.batch/${name}: ${phase}`);
      }
    }
    const open = [...phases].filter(([, p]) => p === 'Unknown' || !finished(p)).map(([n]) => n);
    if (open.length === 0) break;
    try {
      await pause(io, options, deadline, `job.batch/${open.join(', job.batch/')}`);
    } catch (err: unknown) {
      result.jobs = [...phases].map(([name, phase]) => ({ name, phase }));
      throw err;
    }
  }
  result.jobs = [...phases].map(([name, phase]) => ({ name, phase }));
  return result.jobs;
}

import { createHash } from 'node:crypto';
import {
  type CheckedSource,
  type GitRef,
  GROUP,
  JOB_ANNOTATIONS,
  type TriggerStatus,
  VERSION,
  type WatchRef,
} from '@git-events-runner/shared';
import {
  cacheDirFor,
  checkFiles,
  type GitRemote,
  type HttpAgents,
  isGitError,
  parseRepoUri,
  type RefState,
  resolveRef,
  type SignaturePolicy,
  type VerifiedRef,
  verifyRef,
} from '@git-events-runner/shared/git';
import type { BatchV1Api, CustomObjectsApi, EventsV1Api, V1Job } from '@kubernetes/client-node';
import { V1MicroTime } from '@kubernetes/client-node';
import { SpanStatusCode, type Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { RuntimeConfig } from '../config/index.js';
import {
  buildJob,
  chainHead,
  isActive,
  LABELS,
  predatesChange,
  recurrenceRunKey,
  successorName,
} from '../jobs/index.js';
import { SourceError } from '../sources/errors.js';
import { buildRemote, type SourceObject, signaturePolicy } from '../sources/remote.js';
import type { SecretLookup } from '../sources/secrets.js';
import { type JobCreatedEvents, jobCreatedNote } from './job-events.js';
import { checkReadiness, mergeStatus, readyCondition, type SourceResult, sameJson } from './status.js';
import type { StatusWrites } from './status-writes.js';
import { messageOf, Semaphore, statusOf, timestamp } from './util.js';
import type { ActionObject, TriggerObject, World } from './world.js';

/** Everything a check needs; built once by the controller. */
export interface CheckContext {
  readonly world: World;
  readonly custom: CustomObjectsApi;
  readonly batch: BatchV1Api;
  readonly events: EventsV1Api;
  readonly secrets: SecretLookup;
  readonly runtimeConfig: () => RuntimeConfig;
  readonly identity: string;
  readonly cloneFolder: string;
  readonly gitTimeoutMs: number;
  readonly proxyEnv: Readonly<Record<string, string | undefined>>;
  readonly perHost: (host: string) => Semaphore;
  /** HTTP(S) connections to git hosts, kept alive from one check to the next. */
  readonly gitAgents?: HttpAgents;
  readonly log: Logger;
  readonly tracer: Tracer;
  readonly now: () => number;
  readonly onJobCreated?: (job: V1Job) => void;
  /** Serialises and batches the status writes of each trigger. */
  readonly statusWrites: StatusWrites<TriggerStatus, TriggerObject>;
  /**
   * Takes work a check need not wait for (the JobCreated Event: a batch of webhook runs is done once its
   * Jobs exist, and the next batch need not wait for the Events); the receiver must let it finish before
   * the process stops. Absent: the check awaits it.
   */
  readonly background?: (work: Promise<void>) => void;
  /** Coalesces JobCreated Events; absent: one Event per check and source. */
  readonly jobEvents?: JobCreatedEvents;
}

/** What started a check. */
export interface CheckRequest {
  readonly kind: 'ScheduleTrigger' | 'WebhookTrigger';
  readonly namespace: string;
  readonly name: string;
  /** Check only this source (webhooks); all sources otherwise. */
  readonly source?: string;
  /**
   * Unique keys of the runs this check serves, for onChangeOnly:false Jobs (one Job each): the schedule
   * slot, or the request ids of the webhooks batched into this check.
   */
  readonly runKeys: readonly string[];
  /**
   * The run keys that may get Jobs, once known: webhook requests are recorded in the webhook journal
   * while their check asks git, and only those recorded (answered 202) may start anything. Awaited after
   * the git exchange and before any Job or status write; none admitted means nothing is written at all.
   * Absent: every run key may.
   */
  readonly admitted?: Promise<readonly string[]>;
  /**
   * Whether a recent ls-refs answer for the same repository and ref may be reused (scheduled checks);
   * a webhook says something changed just now and always asks the server.
   */
  readonly coalesce?: boolean;
  /**
   * Takes the status write instead of awaiting it: the check returns once its Jobs exist, so the next
   * batch of webhooks for the trigger need not wait for the write (writes stay ordered per trigger, and a
   * check that still sees the old commit names the same Job, which then already exists). The receiver
   * must await or handle the promise.
   */
  readonly statusInBackground?: (write: Promise<void>) => void;
  /**
   * Called once the git exchange of every source is over: a webhook batch then lets the next batch of its
   * trigger and source ask git while its own Jobs are created.
   */
  readonly onResolved?: () => void;
  /**
   * The status write waits for this (it must not reject): a check that started after another one, and
   * overlaps it, writes after it, so a trigger's status never goes back to an older commit.
   */
  readonly after?: Promise<void>;
}

/** Jobs one check creates at once (a batch of webhook runs with onChangeOnly: false). */
const JOB_CREATE_PARALLELISM = 8;

const PLURAL = { ScheduleTrigger: 'scheduletriggers', WebhookTrigger: 'webhooktriggers' } as const;

// Checks of the same repository, ref and credentials that fall due together share one ls-refs: a result
// is reused while its exchange is in flight and for a short window after it succeeded (a commit landing
// inside that window is seen by the next check instead).
const COALESCE_WINDOW_MS = 5000;
const recent = new Map<string, { promise: Promise<RefState>; settledAt?: number }>();

function coalescedResolve(ctx: CheckContext, remote: GitRemote, ref: WatchRef, reuse: boolean): Promise<RefState> {
  const auth = remote.auth === undefined ? '' : JSON.stringify(remote.auth);
  const key = `${remote.uri}\0${JSON.stringify(ref)}\0${auth}\0${remote.caCert ?? ''}\0${remote.noVerifySsl === true}`;
  const now = ctx.now();
  const hit = recent.get(key);
  if (reuse && hit !== undefined && (hit.settledAt === undefined || now - hit.settledAt < COALESCE_WINDOW_MS)) {
    return hit.promise;
  }
  if (recent.size > 10_000) {
    for (const [k, v] of recent)
      if (v.settledAt !== undefined && now - v.settledAt >= COALESCE_WINDOW_MS) recent.delete(k);
  }
  // The per-host bound uses the same URI parser as the transports (scp-like URIs included).
  const host = parseRepoUri(remote.uri).host;
  const promise = ctx.perHost(host).run(() => resolveRef(remote, ref));
  const entry: { promise: Promise<RefState>; settledAt?: number } = { promise };
  recent.set(key, entry);
  promise.then(
    () => {
      entry.settledAt = ctx.now();
    },
    () => {
      // Failures are not shared beyond the exchange itself: the next check tries again.
      if (recent.get(key) === entry) recent.delete(key);
    },
  );
  return promise;
}

// Signature verdicts by keys, rule and objects: an unchanged ref is not verified again on every check.
// Entries expire, since a key that was valid may expire (or an allowed_signers window close).
const VERDICT_TTL_MS = 5 * 60_000;
const verdicts = new Map<string, { at: number; verdict: Promise<VerifiedRef> }>();

function verifiedRef(
  ctx: CheckContext,
  remote: GitRemote,
  ref: GitRef,
  advertised: Pick<RefState, 'commit' | 'tip'>,
  policy: SignaturePolicy,
): Promise<VerifiedRef> {
  const keys = createHash('sha256').update(JSON.stringify(policy.keys)).digest('hex');
  const key = `${remote.uri}\0${keys}\0${policy.mode}\0${ref.tag ?? ''}\0${advertised.tip}\0${advertised.commit}`;
  const now = ctx.now();
  const hit = verdicts.get(key);
  if (hit !== undefined && now - hit.at < VERDICT_TTL_MS) return hit.verdict;
  if (verdicts.size > 10_000) for (const [k, v] of verdicts) if (now - v.at >= VERDICT_TTL_MS) verdicts.delete(k);
  const verdict = verifyRef(remote, cacheDirFor(ctx.cloneFolder, remote.uri), ref, advertised, policy);
  const entry = { at: now, verdict };
  verdicts.set(key, entry);
  // A refusal is remembered as well (no new fetch, no new verification); a failure to fetch is not.
  verdict.catch((err: unknown) => {
    if (!isGitError(err, 'SignatureRefused') && verdicts.get(key) === entry) verdicts.delete(key);
  });
  return verdict;
}

function reasonOf(err: unknown): string {
  if (isGitError(err)) return err.code;
  if (err instanceof SourceError) return err.code;
  return 'CheckFailed';
}

/** Publishes an events.k8s.io Event about a trigger; failures are logged, never fatal. */
export async function publishEvent(
  ctx: Pick<CheckContext, 'events' | 'identity' | 'log' | 'now'>,
  trigger: { kind: string; namespace: string; name: string; uid?: string | undefined },
  type: 'Normal' | 'Warning',
  reason: string,
  action: string,
  note: string,
): Promise<void> {
  try {
    await ctx.events.createNamespacedEvent({
      namespace: trigger.namespace,
      body: {
        metadata: { generateName: `${trigger.name.slice(0, 200)}-`, namespace: trigger.namespace },
        eventTime: new V1MicroTime(ctx.now()),
        reportingController: 'git-events-runner.rs/controller',
        reportingInstance: ctx.identity.slice(0, 128),
        action,
        reason,
        type,
        note: note.slice(0, 1024),
        regarding: {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: trigger.kind,
          namespace: trigger.namespace,
          name: trigger.name,
          uid: trigger.uid,
        },
      },
    });
  } catch (err: unknown) {
    ctx.log.warn(
      { trigger: `${trigger.namespace}/${trigger.name}`, reason, err: messageOf(err) },
      'could not publish an Event',
    );
  }
}

function lookupAction(world: World, trigger: TriggerObject): ActionObject | undefined {
  const ref = trigger.spec.action;
  return ref.kind === 'Action'
    ? world.actions.get(ref.name, trigger.metadata.namespace)
    : world.clusterActions.get(ref.name);
}

function sourceObject(world: World, trigger: TriggerObject, name: string): SourceObject | undefined {
  const kind = trigger.spec.sources.kind ?? 'GitRepo';
  const obj =
    kind === 'GitRepo' ? world.gitRepos.get(name, trigger.metadata.namespace) : world.clusterGitRepos.get(name);
  if (obj === undefined) return undefined;
  return { kind, name, namespace: kind === 'GitRepo' ? trigger.metadata.namespace : undefined, spec: obj.spec };
}

async function checkSource(
  ctx: CheckContext,
  trigger: TriggerObject,
  name: string,
  req: CheckRequest,
  resolved?: () => void,
): Promise<SourceResult> {
  const previous = trigger.status?.checkedSources?.[name];
  const source = sourceObject(ctx.world, trigger, name);
  const watch = trigger.spec.sources.watchOn ?? { onChangeOnly: true, reference: { branch: 'main' } };
  const watched: WatchRef = watch.reference ?? { branch: 'main' };
  // What is fetched and what the Job names: the watched reference, or the tag a semver range resolved to.
  let ref: GitRef = watched.semver === undefined ? watched : { tag: '' };
  let resolvedTag: string | undefined;
  if (source === undefined) {
    return {
      source: name,
      ok: false,
      reason: 'SourceNotFound',
      message: `${trigger.spec.sources.kind ?? 'GitRepo'} ${name} not found`,
      previous,
    };
  }
  let commit = '';
  let tip = '';
  let fileHash: string | undefined;
  let remote: GitRemote;
  try {
    remote = {
      ...(await buildRemote(source, trigger.metadata.namespace ?? '', ctx.secrets, {
        proxyEnv: ctx.proxyEnv,
        timeoutMs: ctx.gitTimeoutMs,
      })),
      agents: ctx.gitAgents,
    };
    if (watched.semver !== undefined) {
      // The newest tag in the range, from one ls-refs; the rest of the check watches that tag.
      const hit = await coalescedResolve(ctx, remote, watched, req.coalesce === true);
      resolvedTag = hit.ref.replace(/^refs\/tags\//, '');
      ref = { tag: resolvedTag };
      commit = hit.commit;
      tip = hit.tip;
    }
    if (watch.files !== undefined && watch.files.length > 0) {
      const result = await checkFiles(remote, cacheDirFor(ctx.cloneFolder, remote.uri), ref, watch.files);
      commit = result.commit;
      tip = result.tip;
      fileHash = result.fileHash;
    } else if (resolvedTag === undefined) {
      ({ commit, tip } = await coalescedResolve(ctx, remote, ref, req.coalesce === true));
    }
  } catch (err: unknown) {
    return { source: name, ok: false, reason: reasonOf(err), message: messageOf(err), previous };
  } finally {
    resolved?.();
  }
  const changed = fileHash !== undefined ? previous?.fileHash !== fileHash : previous?.commitHash !== commit;
  const onChangeOnly = watch.onChangeOnly ?? true;
  const unchanged: CheckedSource = {
    ...previous,
    commitHash: commit,
    ...(fileHash !== undefined ? { fileHash } : {}),
    ...(resolvedTag !== undefined ? { resolvedTag } : {}),
  };
  delete unchanged.lastError;
  if (!changed && onChangeOnly) return { source: name, ok: true, entry: unchanged };
  // A source that requires signatures runs nothing unsigned: the change stays pending (the status keeps
  // the previous commit), so it runs once it is signed or the keys trust it.
  try {
    const policy = await signaturePolicy(
      source,
      trigger.metadata.namespace ?? '',
      ctx.secrets,
      () => new Date(ctx.now()),
    );
    if (policy !== undefined) {
      const verified = await verifiedRef(ctx, remote, ref, { commit, tip }, policy);
      // The ref moved between ls-refs and the fetch: what was verified is what runs.
      if (verified.commit !== commit) {
        commit = verified.commit;
        unchanged.commitHash = commit;
      }
    }
  } catch (err: unknown) {
    return { source: name, ok: false, reason: reasonOf(err), message: messageOf(err), previous };
  }
  const admitted = req.admitted === undefined ? req.runKeys : await req.admitted;
  // Nothing recorded (every request of the batch was answered 503): nothing starts, nothing is learned.
  if (admitted.length === 0) return { source: name, ok: true, entry: previous ?? {} };

  const action = lookupAction(ctx.world, trigger);
  if (action === undefined) {
    // Nothing recorded: the change is still pending and fires once the action exists.
    return {
      source: name,
      ok: false,
      reason: 'ActionNotFound',
      message: `${trigger.spec.action.kind} ${trigger.spec.action.name} not found`,
      previous,
    };
  }
  const uid = trigger.metadata.uid ?? '';
  const policy = trigger.spec.concurrencyPolicy ?? 'Allow';
  const changeKey = `${commit}${fileHash === undefined ? '' : `:${fileHash}`}`;
  if (policy !== 'Allow') {
    // One Job at a time: the runs batched into this check share one (the last one's key).
    const runKey = onChangeOnly ? changeKey : (admitted.at(-1) ?? '');
    const run = await startChained(
      ctx,
      req,
      { uid, source: name, action: action.metadata.name, commit, runKey, policy, onChangeOnly },
      (chain) => createJob(ctx, req, trigger, { name, kind: source.kind }, action, ref, commit, runKey, chain),
    );
    if (run.kind === 'pending') {
      ctx.log.info(
        { trigger: `${req.namespace}/${req.name}`, source: name, job: run.active },
        'a Job is still active: the run is held back (Forbid)',
      );
      return { source: name, ok: true, entry: previous ?? {}, heldBy: run.active };
    }
    if (run.kind === 'failed')
      return { source: name, ok: false, reason: 'JobCreateFailed', message: run.message, previous };
    if (run.kind === 'created') await announceJobs(ctx, req, uid, name, commit, [run.name]);
    const now = timestamp(ctx.now());
    return {
      source: name,
      ok: true,
      entry: { ...unchanged, changed: now, lastJob: { name: run.name, commit, phase: 'Queued' } },
      jobs: admitted.map((k) => ({ runKey: k, name: run.name })),
    };
  }
  // onChangeOnly: one Job per change, named after it (every run of this check shares it); otherwise
  // one Job per run key (schedule slot, webhook request).
  const shared = onChangeOnly;
  const runKeys = onChangeOnly ? [changeKey] : admitted;
  // A batch of webhook runs creates its Jobs side by side (bounded), so the last one is not late by
  // the round trips of all the others.
  const slots = new Semaphore(JOB_CREATE_PARALLELISM);
  const created = await Promise.all(
    runKeys.map((runKey) =>
      slots.run(() => createJob(ctx, req, trigger, { name, kind: source.kind }, action, ref, commit, runKey)),
    ),
  );
  // The change's Job exists already. Another replica or an earlier attempt made it (the same run, done
  // once), unless it predates the previous change: the ref moved back to a commit that ran before, whose
  // Job is still there (TTL). That is a change of its own and runs again.
  const first = created[0];
  const base = runKeys[0];
  if (
    onChangeOnly &&
    first?.ok === true &&
    !first.created &&
    base !== undefined &&
    previous?.changed !== undefined &&
    ranBefore(ctx, req.namespace, first.name, previous.changed)
  ) {
    created[0] = await createJob(
      ctx,
      req,
      trigger,
      { name, kind: source.kind },
      action,
      ref,
      commit,
      recurrenceRunKey(base, previous.changed),
    );
  }
  // One Event for the Jobs this check created (a batch of webhook runs creates several at once): half
  // the API writes of an Event per Job, and the same story on the trigger.
  await announceJobs(
    ctx,
    req,
    uid,
    name,
    commit,
    created.flatMap((c) => (c.ok && c.created ? [c.name] : [])),
  );
  const jobs: { runKey: string; name: string }[] = [];
  for (const [i, c] of created.entries()) {
    if (!c.ok) return { source: name, ok: false, reason: 'JobCreateFailed', message: c.message, previous };
    if (shared) for (const k of admitted) jobs.push({ runKey: k, name: c.name });
    else jobs.push({ runKey: runKeys[i] ?? '', name: c.name });
  }
  const now = timestamp(ctx.now());
  const last = jobs.at(-1)?.name ?? '';
  return {
    source: name,
    ok: true,
    entry: { ...unchanged, changed: now, lastJob: { name: last, commit, phase: 'Queued' } },
    jobs,
  };
}

/** The JobCreated Event of the Jobs one check created (none: nothing). Never rejects. */
async function announceJobs(
  ctx: CheckContext,
  req: CheckRequest,
  uid: string,
  source: string,
  commit: string,
  fresh: readonly string[],
): Promise<void> {
  if (fresh.length === 0) return;
  const subject = { kind: req.kind, namespace: req.namespace, name: req.name, uid };
  // Neither path rejects (a failed publish is logged).
  const event =
    ctx.jobEvents !== undefined
      ? ctx.jobEvents.add(subject, source, commit, [...fresh])
      : publishEvent(ctx, subject, 'Normal', 'JobCreated', 'CreateJob', jobCreatedNote([...fresh], source, commit));
  if (ctx.background !== undefined) ctx.background(event);
  else await event;
}

/** The Jobs of a trigger (by uid) and source in the cache, those being deleted included. */
function jobsOfSource(world: World, triggerUid: string, source: string): V1Job[] {
  return world.jobs
    .list()
    .filter(
      (j) =>
        j.metadata?.labels?.[LABELS.triggerUid] === triggerUid &&
        j.metadata?.annotations?.['git-events-runner.rs/source'] === source,
    );
}

// How often a check follows the chain past Jobs other replicas created meanwhile before it gives up
// (the next check goes on from there): each step is one create the API server refused.
const CHAIN_STEPS = 8;

type ChainedRun =
  | { kind: 'created' | 'shared'; name: string }
  | { kind: 'pending'; active: string }
  | { kind: 'failed'; message: string };

/**
 * Starts the run of a Forbid or Replace trigger as the Job after the chain's newest (see jobs/chain.ts):
 * the API server arbitrates between replicas, since all of them name "the Job after X" alike. A Job
 * that is this very run (the same change, or the same run key) is shared, not repeated; an active one
 * holds the run back (Forbid) or is deleted once its successor exists (Replace). A create refused
 * because another replica made that Job meanwhile continues from the Job it made.
 */
async function startChained(
  ctx: CheckContext,
  req: CheckRequest,
  run: {
    readonly uid: string;
    readonly source: string;
    readonly action: string;
    readonly commit: string;
    readonly runKey: string;
    readonly policy: 'Forbid' | 'Replace';
    readonly onChangeOnly: boolean;
  },
  create: (chain: { name: string; predecessor: string }) => ReturnType<typeof createJob>,
): Promise<ChainedRun> {
  const { uid, commit, runKey } = run;
  const how = run;
  const isThisRun = (job: V1Job) =>
    job.metadata?.annotations?.[JOB_ANNOTATIONS.commit] === commit &&
    (how.onChangeOnly || job.metadata?.annotations?.[JOB_ANNOTATIONS.runKey] === runKey);
  const exists = async (name: string) =>
    (await ctx.batch.readNamespacedJob({ name, namespace: req.namespace }).catch((err: unknown) => {
      if (statusOf(err) === 404) return undefined;
      throw err;
    })) !== undefined;
  const freshHead = async () =>
    chainHead(
      (
        await ctx.batch.listNamespacedJob({ namespace: req.namespace, labelSelector: `${LABELS.triggerUid}=${uid}` })
      ).items.filter((j) => j.metadata?.annotations?.['git-events-runner.rs/source'] === run.source),
    );
  let head = chainHead(jobsOfSource(ctx.world, uid, run.source));
  for (let step = 0; step < CHAIN_STEPS; step++) {
    if (head !== undefined && isThisRun(head) && head.metadata?.deletionTimestamp === undefined) {
      return { kind: 'shared', name: head.metadata?.name ?? '' };
    }
    const replaces = head !== undefined && isActive(head) ? head : undefined;
    if (replaces !== undefined && how.policy === 'Forbid') {
      return { kind: 'pending', active: replaces.metadata?.name ?? '' };
    }
    // Replace deletes Jobs, which frees their names: a cache that lags behind a deletion could start
    // "the Job after" one whose successor is gone as well, and fork the chain. So the predecessor must
    // still exist, read from the API server; else the chain is read from there.
    if (how.policy === 'Replace' && head !== undefined && !(await exists(head.metadata?.name ?? ''))) {
      head = await freshHead();
      continue;
    }
    const predecessor = head?.metadata?.name;
    const name = successorName(run.action, uid, run.source, predecessor);
    const made = await create({ name, predecessor: predecessor ?? '' });
    if (!made.ok) return { kind: 'failed', message: made.message };
    if (made.created) {
      // Replace deletes the Job it replaces only now that its successor exists (created suspended: it
      // waits for the queue). A replica's cache gets the watch events in order, so one that has seen
      // the predecessor go has seen its successor come, and never takes the chain for empty.
      if (replaces !== undefined) {
        await ctx.batch
          .deleteNamespacedJob({ name: predecessor ?? '', namespace: req.namespace, propagationPolicy: 'Background' })
          .catch((err: unknown) => {
            if (statusOf(err) !== 404) throw err;
          });
      }
      return { kind: 'created', name };
    }
    // Another replica started the Job after `head` first: go on from the Job it made.
    const existing = await ctx.batch.readNamespacedJob({ name, namespace: req.namespace }).catch((err: unknown) => {
      if (statusOf(err) === 404) return undefined;
      throw err;
    });
    // Gone already (replaced meanwhile): the chain has moved on; read it from the API server.
    head = existing ?? (await freshHead());
  }
  return {
    kind: 'failed',
    message: `other replicas started ${CHAIN_STEPS} Jobs for this source meanwhile; the next check goes on`,
  };
}

// Whether the existing Job `name` ran an earlier occurrence of this change (see predatesChange), from the
// Job cache: such a Job is old enough to be there, while one another replica created a moment ago (this
// very run) may not be yet.
function ranBefore(ctx: CheckContext, namespace: string, name: string, previousChanged: string): boolean {
  return predatesChange(ctx.world.jobs.get(name, namespace)?.metadata?.creationTimestamp, previousChanged);
}

async function createJob(
  ctx: CheckContext,
  req: CheckRequest,
  trigger: TriggerObject,
  source: { name: string; kind: 'GitRepo' | 'ClusterGitRepo' },
  action: ActionObject,
  ref: GitRef,
  commit: string,
  runKey: string,
  chain?: { name: string; predecessor: string },
): Promise<{ ok: true; name: string; created: boolean } | { ok: false; message: string }> {
  const uid = trigger.metadata.uid ?? '';
  const job = buildJob({
    trigger: { kind: req.kind, name: req.name, namespace: req.namespace, uid },
    source,
    reference: ref,
    commit,
    action: {
      kind: trigger.spec.action.kind,
      name: action.metadata.name,
      uid: action.metadata.uid ?? '',
      spec: action.spec,
    },
    config: ctx.runtimeConfig(),
    runKey,
    // Every Job starts suspended: the leader admits Jobs from the cluster-wide queue.
    suspend: true,
    controllerIdentity: ctx.identity,
  });
  const waitTimeout = action.spec.actionJob?.jobWaitingTimeoutSeconds;
  job.metadata = {
    ...job.metadata,
    annotations: {
      ...job.metadata?.annotations,
      // Full names (labels may be truncated) and the Action's own wait timeout, for the queue.
      'git-events-runner.rs/trigger': req.name,
      'git-events-runner.rs/source': source.name,
      ...(waitTimeout !== undefined ? { 'git-events-runner.rs/wait-timeout-seconds': String(waitTimeout) } : {}),
      ...(chain !== undefined ? { [JOB_ANNOTATIONS.predecessor]: chain.predecessor } : {}),
    },
    // A chained Job (Forbid, Replace) is named after its predecessor, not after its run.
    ...(chain !== undefined ? { name: chain.name } : {}),
  };
  const jobName = job.metadata.name ?? '';
  try {
    const created = await ctx.batch.createNamespacedJob({ namespace: req.namespace, body: job });
    ctx.onJobCreated?.(created);
    return { ok: true, name: jobName, created: true };
  } catch (err: unknown) {
    // A Job of this run exists already (another replica, a redelivery): the same work, done once.
    if (statusOf(err) !== 409) return { ok: false, message: `cannot create Job ${jobName}: ${messageOf(err)}` };
    return { ok: true, name: jobName, created: false };
  }
}

/** Result of a check run. */
export interface CheckOutcome {
  readonly found: boolean;
  readonly results: readonly SourceResult[];
}

/**
 * One check of a trigger: each source (or the requested one) is compared with the trigger's status and
 * a Job is started where the seed says; then the status is written once, merged onto fresh state.
 */
export function runCheck(ctx: CheckContext, req: CheckRequest): Promise<CheckOutcome> {
  return ctx.tracer.startActiveSpan(
    'trigger.check',
    { attributes: { 'k8s.namespace.name': req.namespace, 'trigger.kind': req.kind, 'trigger.name': req.name } },
    async (span) => {
      try {
        const outcome = await checkOnce(ctx, req);
        for (const r of outcome.results) {
          span.addEvent(
            'source',
            r.ok
              ? { source: r.source, commit: r.entry.commitHash ?? '', job: r.entry.lastJob?.name ?? '' }
              : { source: r.source, error: r.reason },
          );
        }
        if (outcome.results.some((r) => !r.ok))
          span.setStatus({ code: SpanStatusCode.ERROR, message: 'a source failed' });
        return outcome;
      } catch (err: unknown) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: messageOf(err) });
        throw err;
      } finally {
        span.end();
      }
    },
  );
}

async function checkOnce(ctx: CheckContext, req: CheckRequest): Promise<CheckOutcome> {
  const cache = req.kind === 'ScheduleTrigger' ? ctx.world.scheduleTriggers : ctx.world.webhookTriggers;
  // The cache decides (deterministic Job names make a decision on a stale copy harmless); the status
  // write below is checked against the server's version.
  const trigger = (cache.get(req.name, req.namespace) as TriggerObject | undefined) ?? (await readTrigger(ctx, req));
  if (trigger === undefined) return { found: false, results: [] };
  const names = req.source !== undefined ? [req.source] : [...new Set(trigger.spec.sources.names)];
  const results: SourceResult[] = [];
  for (const [i, name] of names.entries())
    results.push(await checkSource(ctx, trigger, name, req, i === names.length - 1 ? req.onResolved : undefined));
  // A batch none of whose requests was recorded is dropped whole: no Event, no status write.
  if (req.admitted !== undefined && (await req.admitted).length === 0) return { found: true, results: [] };
  for (const r of results) {
    if (r.ok) continue;
    const before = r.previous?.lastError;
    if (before?.reason !== r.reason || before?.message !== r.message) {
      await publishEvent(
        ctx,
        { kind: req.kind, namespace: req.namespace, name: req.name, uid: trigger.metadata.uid },
        'Warning',
        r.reason === 'SignatureRefused' ? 'SignatureRefused' : 'CheckFailed',
        'CheckSource',
        `${r.source}: ${r.message}`,
      );
    }
  }
  const written = (req.after ?? Promise.resolve())
    .then(() =>
      writeStatus(
        ctx,
        req,
        (fresh, generation) => {
          const now = timestamp(ctx.now());
          const { reason, message } = checkReadiness(results);
          const ready = readyCondition({
            generation,
            previous: fresh?.conditions?.find((c) => c.type === 'Ready'),
            now,
            reason,
            message,
          });
          const merged = mergeStatus({
            fresh,
            names: trigger.spec.sources.names,
            results,
            now,
            generation,
            ready,
            lastRun: now,
          });
          return merged;
        },
        trigger,
      ),
    )
    .then(() => undefined);
  if (req.statusInBackground !== undefined) req.statusInBackground(written);
  else await written;
  return { found: true, results };
}

async function readTrigger(
  ctx: CheckContext,
  req: { kind: keyof typeof PLURAL; namespace: string; name: string },
): Promise<TriggerObject | undefined> {
  try {
    return (await ctx.custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: req.namespace,
      plural: PLURAL[req.kind],
      name: req.name,
    })) as TriggerObject;
  } catch (err: unknown) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}

/**
 * Writes a trigger's status computed from its freshest state, with optimistic concurrency (the
 * resourceVersion read is the one written against; a conflict re-reads and recomputes). Nothing is
 * written when the status would not change. Writes of one trigger are serialised and batched
 * (StatusWrites), so concurrent checks of it don't fight over the resourceVersion. Resolves with the
 * object as last written or read (undefined when the trigger is gone or the writes kept conflicting).
 */
export function writeStatus(
  ctx: Pick<CheckContext, 'custom' | 'log' | 'statusWrites'>,
  req: { kind: keyof typeof PLURAL; namespace: string; name: string },
  compute: (fresh: TriggerStatus | undefined, generation: number) => TriggerStatus,
  cached?: TriggerObject,
): Promise<TriggerObject | undefined> {
  return ctx.statusWrites.write(`${req.kind}/${req.namespace}/${req.name}`, compute, cached, (composed, first) =>
    writeStatusNow(ctx, req, composed, first),
  );
}

async function writeStatusNow(
  ctx: Pick<CheckContext, 'custom' | 'log'>,
  req: { kind: keyof typeof PLURAL; namespace: string; name: string },
  compute: (fresh: TriggerStatus | undefined, generation: number) => TriggerStatus,
  first: TriggerObject | undefined,
): Promise<TriggerObject | undefined> {
  for (let attempt = 0; attempt < 5; attempt++) {
    // The cached (or last written) object is tried first: one request instead of two; its
    // resourceVersion makes a stale copy fail with 409, and then the fresh object is read and the
    // status recomputed from it.
    const current = attempt === 0 && first !== undefined ? first : await readTrigger(ctx as CheckContext, req);
    if (current === undefined) return undefined;
    const next = compute(current.status, current.metadata.generation ?? 0);
    if (sameJson(next, current.status)) return current;
    try {
      return (await ctx.custom.replaceNamespacedCustomObjectStatus({
        group: GROUP,
        version: VERSION,
        namespace: req.namespace,
        plural: PLURAL[req.kind],
        name: req.name,
        body: { ...current, status: next },
      })) as TriggerObject;
    } catch (err: unknown) {
      if (statusOf(err) !== 409) throw err;
    }
  }
  ctx.log.warn({ trigger: `${req.namespace}/${req.name}` }, 'status write kept conflicting; giving up for this run');
  return undefined;
}

import {
  type ActionSpec,
  type ClusterActionSpec,
  type GitRepoSpec,
  isSemverRange,
  type KindName,
  type ScheduleTriggerSpec,
  validateSpec,
  type WebhookTriggerSpec,
  withDefaults,
} from '@git-events-runner/shared';
import { type ParsedRepoUri, parseRepoUri } from '@git-events-runner/shared/git';
import {
  type CronSchedule,
  formatInterval,
  nextFireTimes,
  parseInterval,
  parseSchedule,
  resolveTimeZone,
  ScheduleError,
} from '@git-events-runner/shared/schedule';
import { HEADER_NAME_PATTERN, type Policy } from '../policy.js';
import type { AdmissionRequest, AdmissionResponse, UserInfo } from '../review.js';
import {
  cut,
  formatPath,
  isObject,
  type JsonObject,
  jsonEqual,
  type Path,
  parsePath,
  quote,
  requestKind,
  valueAt,
} from './objects.js';

/**
 * Why a request is refused: `Invalid` (the object is wrong, 422), `Forbidden` (the cluster's policy or
 * the requester's rights refuse it, 403), `Error` (a check could not be made, 500; the request is
 * refused because the validating webhook is a security boundary).
 */
export type ProblemType = 'Invalid' | 'Forbidden' | 'Error';

/** One reason to deny, naming its field (`spec.schedule.interval`). */
export interface Problem {
  readonly field: string;
  readonly message: string;
  readonly type: ProblemType;
}

/** A Secret the object makes the controller and the Jobs read: the requester must be allowed to read it too. */
export interface SecretRead {
  /** The `secretRef` naming it, e.g. `spec.authConfig.secretRef`. */
  readonly field: string;
  readonly name: string;
  /** Undefined: every namespace (a ClusterGitRepo naming none reads it in the namespace of each trigger). */
  readonly namespace: string | undefined;
}

/** Kinds an object can refer to. */
export type ReferencedKind = 'GitRepo' | 'ClusterGitRepo' | 'Action' | 'ClusterAction';

/** An object the request's object refers to by name; a missing one gets a warning, not a denial. */
export interface Reference {
  readonly field: string;
  readonly kind: ReferencedKind;
  /** Undefined for the cluster-scoped kinds. */
  readonly namespace: string | undefined;
  readonly name: string;
}

/**
 * What the validating webhook decided from the request alone, and the questions left for the cluster:
 * whether the requester may read `secretReads`, and whether `references` exist.
 */
export interface ValidationPlan {
  readonly uid: string;
  readonly user: UserInfo;
  readonly problems: readonly Problem[];
  readonly warnings: readonly string[];
  readonly secretReads: readonly SecretRead[];
  readonly references: readonly Reference[];
}

/** The answer to one SecretRead (a SubjectAccessReview). */
export type AccessVerdict =
  | { readonly result: 'allowed' }
  | { readonly result: 'denied'; readonly reason?: string }
  | { readonly result: 'error'; readonly message: string };

/** Most warnings in one response; kube-apiserver keeps at most 4 KiB of them. */
const MAX_WARNINGS = 16;
const MAX_WARNING_LENGTH = 250;
const MAX_MESSAGE_LENGTH = 3000;
/** Fire times looked at to find how often a cron schedule fires. */
const CRON_SAMPLE = 25;
const HEADER_NAME = new RegExp(HEADER_NAME_PATTERN);

class Collector {
  readonly problems: { path: Path; message: string; type: ProblemType }[] = [];
  readonly warnings: string[] = [];
  readonly secretReads: SecretRead[] = [];
  readonly references: Reference[] = [];

  problem(path: Path, message: string, type: ProblemType = 'Invalid'): void {
    this.problems.push({ path, message, type });
  }

  warn(path: Path, message: string): void {
    this.warnings.push(`${formatPath(path)}: ${message}`);
  }

  reference(path: Path, kind: ReferencedKind, namespace: string | undefined, name: string): void {
    this.references.push({ field: formatPath(path), kind, namespace, name });
  }
}

interface Context {
  readonly c: Collector;
  readonly policy: Policy;
  readonly now: Date;
  /** The object's namespace; empty for the cluster-scoped kinds. */
  readonly namespace: string;
  readonly kind: KindName;
}

const EMPTY_PLAN = { problems: [], warnings: [], secretReads: [], references: [] } as const;

/**
 * The validating webhook's verdict on a request, from the request alone (pure): problems that deny it,
 * warnings, and which Secrets and references remain to be checked against the cluster
 * (completeValidation() turns the answers into the response).
 *
 * Only CREATE and UPDATE of the six kinds are judged. An UPDATE that leaves `spec` as it was (labels,
 * annotations, finalizers) is allowed without checks, so objects never get stuck. On an UPDATE, a
 * problem whose field kept its old value is reported as a warning instead (ratcheting: a stricter
 * policy does not block edits of other fields); Secret access is always checked again when `spec` changes.
 */
export function planValidation(request: AdmissionRequest, policy: Policy, now: Date): ValidationPlan {
  const base = { uid: request.uid, user: request.userInfo };
  const kind = requestKind(request);
  if (kind === undefined || (request.operation !== 'CREATE' && request.operation !== 'UPDATE')) {
    return { ...base, ...EMPTY_PLAN };
  }
  if (request.subResource !== undefined && request.subResource !== '') return { ...base, ...EMPTY_PLAN };
  const object = request.object;
  if (!isObject(object)) {
    return {
      ...base,
      ...EMPTY_PLAN,
      problems: [{ field: '(object)', message: 'the request carries no object', type: 'Invalid' }],
    };
  }
  const old = request.operation === 'UPDATE' && isObject(request.oldObject) ? request.oldObject : undefined;
  if (old !== undefined && jsonEqual(old.spec, object.spec)) return { ...base, ...EMPTY_PLAN };

  const metadata = isObject(object.metadata) ? object.metadata : {};
  const namespace =
    request.namespace !== undefined && request.namespace !== ''
      ? request.namespace
      : typeof metadata.namespace === 'string'
        ? metadata.namespace
        : '';
  const c = new Collector();
  const ctx: Context = { c, policy, now, namespace, kind };
  judge(ctx, object.spec);

  const problems: Problem[] = [];
  for (const p of c.problems) {
    const field = formatPath(p.path);
    const value = valueAt(object, p.path);
    if (old !== undefined && value !== undefined && jsonEqual(value, valueAt(old, p.path))) {
      c.warnings.push(`${field}: ${p.message} (allowed because this field did not change)`);
    } else {
      problems.push({ field, message: p.message, type: p.type });
    }
  }
  return {
    ...base,
    problems,
    warnings: c.warnings,
    // A denied request needs no further questions.
    secretReads: problems.length > 0 ? [] : c.secretReads,
    references: problems.length > 0 ? [] : c.references,
  };
}

function judge(ctx: Context, spec: unknown): void {
  const { c, kind } = ctx;
  // Reported here with a clearer message than the schema's "Expected union value".
  if (kind === 'ClusterAction') {
    const overrideKind = valueAt(spec, ['sourceOverride', 'kind']);
    if (overrideKind !== undefined && overrideKind !== 'ClusterGitRepo') {
      c.problem(
        ['spec', 'sourceOverride', 'kind'],
        `must be ClusterGitRepo: a ClusterAction runs in the namespace of any trigger, where a GitRepo named ${quote(valueAt(spec, ['sourceOverride', 'name']))} would mean a different repository each time (got ${quote(overrideKind)})`,
      );
    }
  }
  const reported = new Set(c.problems.map((p) => formatPath(p.path)));
  // The schema and its cross-field rules, as kube-apiserver applies them from the CRD (in case the CRD
  // installed is older than this server).
  for (const error of validateSpec(kind, spec)) {
    if (reported.has(error.field)) continue;
    c.problem(parsePath(error.field), clearer(error.field, spec, error.message));
  }
  if (c.problems.length > 0) return;
  // Valid against the schema from here on, so the static types hold.
  switch (kind) {
    case 'GitRepo':
    case 'ClusterGitRepo':
      sourceRules(ctx, withDefaults(kind, spec as GitRepoSpec));
      return;
    case 'ScheduleTrigger': {
      const s = withDefaults(kind, spec as ScheduleTriggerSpec);
      triggerRules(ctx, s);
      scheduleRules(ctx, s);
      return;
    }
    case 'WebhookTrigger': {
      const s = withDefaults(kind, spec as WebhookTriggerSpec);
      triggerRules(ctx, s);
      webhookRules(ctx, s);
      return;
    }
    case 'Action':
    case 'ClusterAction':
      actionRules(ctx, withDefaults(kind, spec as ActionSpec | ClusterActionSpec));
      return;
  }
}

// The interval parser says which part is wrong; the schema's pattern only that it does not match.
function clearer(field: string, spec: unknown, message: string): string {
  const interval = valueAt(spec, ['schedule', 'interval']);
  if (field !== 'spec.schedule.interval' || typeof interval !== 'string') return message;
  try {
    parseInterval(interval);
  } catch (err: unknown) {
    if (err instanceof ScheduleError) return err.message;
  }
  return message;
}

// ---------------------------------------------------------------- GitRepo, ClusterGitRepo

function sourceRules(ctx: Context, spec: GitRepoSpec): void {
  const { c, kind, namespace } = ctx;
  let uri: ParsedRepoUri | undefined;
  try {
    uri = parseRepoUri(spec.repoUri);
  } catch (err: unknown) {
    c.problem(['spec', 'repoUri'], err instanceof Error ? err.message : String(err));
  }
  const refs: { path: Path; ref: { name: string; namespace?: string } }[] = [];
  if (spec.authConfig !== undefined)
    refs.push({ path: ['spec', 'authConfig', 'secretRef'], ref: spec.authConfig.secretRef });
  if (spec.tlsConfig?.caCert !== undefined) {
    refs.push({ path: ['spec', 'tlsConfig', 'caCert', 'secretRef'], ref: spec.tlsConfig.caCert.secretRef });
  }
  if (spec.verify !== undefined) refs.push({ path: ['spec', 'verify', 'secretRef'], ref: spec.verify.secretRef });
  for (const { path, ref } of refs) {
    const field = formatPath(path);
    if (kind === 'GitRepo') {
      if (ref.namespace !== undefined && ref.namespace !== namespace) {
        c.problem(
          [...path, 'namespace'],
          `a GitRepo reads Secrets only in its own namespace (${namespace}), so ${quote(ref.namespace)} would be ignored: remove it, or use a ClusterGitRepo`,
          'Forbidden',
        );
      }
      c.secretReads.push({ field, name: ref.name, namespace });
    } else {
      c.secretReads.push({ field, name: ref.name, namespace: ref.namespace });
      if (ref.namespace === undefined) {
        c.warn(
          path,
          `names no namespace: each trigger using this ClusterGitRepo reads Secret ${quote(ref.name)} in its own namespace`,
        );
      }
    }
  }
  if (uri === undefined) return;
  if (spec.authConfig !== undefined && uri.scheme === 'http') {
    c.warn(
      ['spec', 'authConfig'],
      `credentials (type ${spec.authConfig.type}) go over plain http:// to ${uri.host}, readable by anyone on the network path; use https://`,
    );
  }
  if (spec.tlsConfig !== undefined && uri.scheme !== 'https') {
    c.warn(['spec', 'tlsConfig'], `applies only to https:// repositories; ignored for ${uri.scheme}`);
  } else if (spec.tlsConfig?.noVerifySsl === true) {
    c.warn(
      ['spec', 'tlsConfig', 'noVerifySsl'],
      `the certificate of ${uri.host} is not verified: anyone on the network path can serve code (and receive credentials); trust its CA with tlsConfig.caCert instead`,
    );
  }
  if (spec.authConfig?.insecureIgnoreHostKey === true) {
    c.warn(
      ['spec', 'authConfig', 'insecureIgnoreHostKey'],
      spec.authConfig.type === 'ssh'
        ? `SSH host keys of ${uri.host} are not checked: anyone on the network path can serve code to the cluster; put its key in known_hosts in the Secret instead`
        : 'applies only to type ssh; ignored',
    );
  }
}

// ---------------------------------------------------------------- triggers

function triggerRules(ctx: Context, spec: ScheduleTriggerSpec | WebhookTriggerSpec): void {
  const { c, policy, namespace } = ctx;
  const sourceKind = spec.sources.kind ?? 'GitRepo';
  if (sourceKind === 'ClusterGitRepo' && !policy.allowClusterGitRepos) {
    c.problem(
      ['spec', 'sources', 'kind'],
      "this cluster's admission policy does not let namespaced triggers use ClusterGitRepos (allowClusterGitRepos: false)",
      'Forbidden',
    );
  }
  if (spec.action.kind === 'ClusterAction' && !policy.allowClusterActions) {
    c.problem(
      ['spec', 'action', 'kind'],
      "this cluster's admission policy does not let namespaced triggers run ClusterActions (allowClusterActions: false)",
      'Forbidden',
    );
  }
  const range = spec.sources.watchOn?.reference?.semver;
  // CEL cannot parse a range: a typo would otherwise show only at the first check, as a failed source.
  if (range !== undefined && !isSemverRange(range)) {
    c.problem(
      ['spec', 'sources', 'watchOn', 'reference', 'semver'],
      `"${range}" is not a semver range (npm syntax, e.g. ">=1.2.0 <2.0.0", "^1.4", "~2.1.x")`,
    );
  }
  for (const [i, name] of spec.sources.names.entries()) {
    c.reference(['spec', 'sources', 'names', i], sourceKind, sourceKind === 'GitRepo' ? namespace : undefined, name);
  }
  c.reference(
    ['spec', 'action', 'name'],
    spec.action.kind,
    spec.action.kind === 'Action' ? namespace : undefined,
    spec.action.name,
  );
}

function scheduleError(err: unknown): string {
  if (err instanceof ScheduleError) return err.message;
  throw err;
}

function scheduleRules(ctx: Context, spec: ScheduleTriggerSpec): void {
  const { c, policy, now } = ctx;
  const { interval, cron, timeZone } = spec.schedule;
  const onChangeOnly = spec.sources.watchOn?.onChangeOnly !== false;
  let timeZoneOk = true;
  if (timeZone !== undefined) {
    try {
      resolveTimeZone(timeZone);
    } catch (err: unknown) {
      timeZoneOk = false;
      c.problem(['spec', 'schedule', 'timeZone'], scheduleError(err));
    }
  }
  const often = (every: number, what: string) => {
    if (!onChangeOnly && every < policy.shortIntervalMs) {
      c.warn(
        ['spec', 'sources', 'watchOn', 'onChangeOnly'],
        `false with ${what}: the action runs every ${formatInterval(every)} whether or not the sources changed`,
      );
    }
  };
  if (interval !== undefined) {
    if (timeZone !== undefined)
      c.warn(['spec', 'schedule', 'timeZone'], 'applies only to cron; ignored for an interval');
    if (spec.startingDeadlineSeconds !== undefined) {
      c.warn(['spec', 'startingDeadlineSeconds'], 'applies only to cron; ignored for an interval');
    }
    let ms: number;
    try {
      ms = parseInterval(interval);
    } catch (err: unknown) {
      c.problem(['spec', 'schedule', 'interval'], scheduleError(err));
      return;
    }
    if (ms < policy.minIntervalMs) {
      c.problem(
        ['spec', 'schedule', 'interval'],
        `${quote(interval)} is shorter than ${policy.minInterval}, the shortest interval this cluster's admission policy allows (minInterval)`,
        'Forbidden',
      );
    }
    often(ms, `interval ${formatInterval(ms)}`);
    return;
  }
  if (cron === undefined) return;
  const prefixed = /^\s*TZ=/.test(cron);
  if (prefixed && timeZone !== undefined) {
    c.warn(['spec', 'schedule', 'timeZone'], 'ignored: the TZ= prefix of schedule.cron wins');
  }
  let schedule: CronSchedule;
  try {
    const parsed = parseSchedule({ cron, ...(timeZone !== undefined && timeZoneOk ? { timeZone } : {}) }, { now });
    if (parsed.kind !== 'cron') return;
    schedule = parsed;
  } catch (err: unknown) {
    c.problem(['spec', 'schedule', 'cron'], scheduleError(err));
    return;
  }
  const fires = nextFireTimes(schedule, now, CRON_SAMPLE);
  let gap = Number.POSITIVE_INFINITY;
  for (let i = 1; i < fires.length; i++) {
    gap = Math.min(gap, (fires[i]?.getTime() ?? 0) - (fires[i - 1]?.getTime() ?? 0));
  }
  if (!Number.isFinite(gap)) return;
  if (gap < policy.minIntervalMs) {
    c.problem(
      ['spec', 'schedule', 'cron'],
      `${quote(cron)} fires ${formatInterval(gap)} apart, more often than ${policy.minInterval}, the shortest interval this cluster's admission policy allows (minInterval)`,
      'Forbidden',
    );
  }
  often(gap, `a cron schedule firing ${formatInterval(gap)} apart`);
}

function webhookRules(ctx: Context, spec: WebhookTriggerSpec): void {
  const { c } = ctx;
  const auth = spec.webhook.authConfig;
  if (auth === undefined) {
    c.warn(
      ['spec', 'webhook', 'authConfig'],
      "not set: anyone who can reach the controller's webhook port can start this trigger's checks",
    );
    return;
  }
  if (auth.header !== undefined && !HEADER_NAME.test(auth.header)) {
    c.problem(
      ['spec', 'webhook', 'authConfig', 'header'],
      `${quote(auth.header)} is not an HTTP header name (letters, digits and !#$%&'*+-.^_\`|~ only)`,
    );
  }
}

// ---------------------------------------------------------------- actions

function actionRules(ctx: Context, spec: ActionSpec | ClusterActionSpec): void {
  const { c, kind, policy, namespace } = ctx;
  const override = spec.sourceOverride;
  if (override !== undefined) {
    if (kind === 'Action' && override.kind === 'ClusterGitRepo' && !policy.allowClusterGitRepos) {
      c.problem(
        ['spec', 'sourceOverride', 'kind'],
        "this cluster's admission policy does not let namespaced Actions use ClusterGitRepos (allowClusterGitRepos: false)",
        'Forbidden',
      );
    }
    c.reference(
      ['spec', 'sourceOverride', 'name'],
      override.kind,
      override.kind === 'GitRepo' ? namespace : undefined,
      override.name,
    );
  }
  const account = spec.actionJob?.serviceAccount;
  const allowed = policy.actionServiceAccounts;
  if (kind === 'Action' && allowed !== undefined && account !== undefined && account !== '') {
    if (!allowed.includes(account)) {
      c.problem(
        ['spec', 'actionJob', 'serviceAccount'],
        `${quote(account)} is not a service account this cluster's admission policy lets namespaced Actions use (actionServiceAccounts: ${allowed.length === 0 ? 'none' : allowed.join(', ')})`,
        'Forbidden',
      );
    }
  }
}

// ---------------------------------------------------------------- the response

function requester(user: UserInfo): string {
  return user.username === undefined || user.username === '' ? 'the anonymous user' : `user ${quote(user.username)}`;
}

function secretName(read: SecretRead): string {
  return read.namespace === undefined
    ? `Secret ${quote(read.name)} (any namespace)`
    : `Secret ${read.namespace}/${read.name}`;
}

function accessProblem(plan: ValidationPlan, read: SecretRead, verdict: AccessVerdict): Problem | undefined {
  if (verdict.result === 'allowed') return undefined;
  const who = requester(plan.user);
  if (verdict.result === 'error') {
    return {
      field: read.field,
      message: `could not check whether ${who} may read ${secretName(read)}: ${cut(verdict.message, 200)}`,
      type: 'Error',
    };
  }
  const why = verdict.reason !== undefined && verdict.reason !== '' ? ` (${cut(verdict.reason, 200)})` : '';
  const message =
    read.namespace === undefined
      ? `${who} may not get Secrets named ${quote(read.name)} in every namespace${why}; with no secretRef.namespace each trigger's namespace provides that Secret, so set secretRef.namespace to a namespace where ${who} may read it`
      : `${who} may not get Secret ${read.namespace}/${read.name}${why}, so the object may not make the controller and its Jobs read it`;
  return { field: read.field, message, type: 'Forbidden' };
}

function referenceName(ref: Reference): string {
  return ref.namespace === undefined ? `${ref.kind} ${ref.name}` : `${ref.kind} ${ref.namespace}/${ref.name}`;
}

/**
 * The validating webhook's response: the plan's problems plus Secret reads the requester may not make
 * (`access[i]` answers `plan.secretReads[i]`), and warnings for references that do not exist
 * (`exists[i]` answers `plan.references[i]`; undefined means it could not be checked).
 */
export function completeValidation(
  plan: ValidationPlan,
  access: readonly AccessVerdict[],
  exists: readonly (boolean | undefined)[],
): AdmissionResponse {
  const problems = [...plan.problems];
  for (const [i, read] of plan.secretReads.entries()) {
    const problem = accessProblem(plan, read, access[i] ?? { result: 'error', message: 'no answer' });
    if (problem !== undefined) problems.push(problem);
  }
  const warnings = [...plan.warnings];
  let unchecked = 0;
  for (const [i, ref] of plan.references.entries()) {
    const found = exists[i];
    if (found === false) warnings.push(`${ref.field}: ${referenceName(ref)} does not exist (yet)`);
    else if (found === undefined) unchecked++;
  }
  if (unchecked > 0) warnings.push(`could not check whether ${unchecked} referenced object(s) exist`);
  return respond(plan.uid, problems, warnings);
}

/** Builds an AdmissionResponse from problems (deny when any) and warnings, within kube-apiserver's limits. */
export function respond(uid: string, problems: readonly Problem[], warnings: readonly string[]): AdmissionResponse {
  const shownWarnings = [...new Set(warnings)].slice(0, MAX_WARNINGS).map((w) => cut(w, MAX_WARNING_LENGTH));
  const warningsPart = shownWarnings.length > 0 ? { warnings: shownWarnings } : {};
  if (problems.length === 0) return { uid, allowed: true, ...warningsPart };
  const type: ProblemType = problems.some((p) => p.type === 'Error')
    ? 'Error'
    : problems.some((p) => p.type === 'Forbidden')
      ? 'Forbidden'
      : 'Invalid';
  const status = {
    Error: { code: 500, reason: 'InternalError' },
    Forbidden: { code: 403, reason: 'Forbidden' },
    Invalid: { code: 422, reason: 'Invalid' },
  }[type];
  const message = cut(problems.map((p) => `${p.field}: ${p.message}`).join('; '), MAX_MESSAGE_LENGTH);
  return { uid, allowed: false, status: { ...status, message }, ...warningsPart };
}

/** Whether a plan still needs the cluster (Secret access or references). */
export function needsCluster(plan: ValidationPlan): boolean {
  return plan.secretReads.length > 0 || plan.references.length > 0;
}

/** The object of a request, for logging: kind, namespace and name only (never the spec). */
export function describeRequest(request: AdmissionRequest): JsonObject {
  return {
    uid: request.uid,
    operation: request.operation,
    kind: request.kind.kind,
    ...(request.namespace !== undefined && request.namespace !== '' ? { namespace: request.namespace } : {}),
    ...(request.name !== undefined && request.name !== '' ? { name: request.name } : {}),
    user: request.userInfo.username ?? '',
    ...(request.dryRun === true ? { dryRun: true } : {}),
  };
}

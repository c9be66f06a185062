import { withDefaults } from '@git-events-runner/shared';
import { formatInterval, parseInterval } from '@git-events-runner/shared/schedule';
import type { Policy } from '../policy.js';
import type { AdmissionRequest, AdmissionResponse } from '../review.js';
import { isObject, type JsonObject, jsonEqual, requestKind } from './objects.js';

/** One JSONPatch (RFC 6902) operation; the mutating webhook only ever adds or replaces. */
export interface JsonPatchOperation {
  readonly op: 'add' | 'replace';
  readonly path: string;
  readonly value: unknown;
}

function pointer(parent: string, key: string): string {
  return `${parent}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;
}

// Adds what `target` has and `source` lacks, and replaces leaves that differ; never removes anything.
function diff(source: unknown, target: unknown, at: string, out: JsonPatchOperation[]): void {
  if (isObject(source) && isObject(target)) {
    for (const [key, value] of Object.entries(target)) {
      if (value === undefined) continue;
      if (!Object.hasOwn(source, key) || source[key] === undefined)
        out.push({ op: 'add', path: pointer(at, key), value });
      else diff(source[key], value, pointer(at, key), out);
    }
    return;
  }
  if (!jsonEqual(source, target)) out.push({ op: 'replace', path: at, value: target });
}

function canonicalInterval(text: string): string | undefined {
  try {
    return formatInterval(parseInterval(text));
  } catch {
    // Left as written: the validating webhook (or the CRD pattern) refuses it with the reason.
    return undefined;
  }
}

/**
 * The mutating webhook's changes to a request's object (pure), as JSONPatch operations against it:
 *
 * - the CRD's defaults, computed from the one schema: kube-apiserver applies them before calling the
 *   webhook, so they cost no operation unless the installed CRD lacks them;
 * - `webhook.authConfig.header` of a WebhookTrigger, which the schema leaves to the controller's runtime
 *   configuration: the policy's `webhookAuthHeader`, so the header a sender must use is written down;
 * - `schedule.interval` of a ScheduleTrigger in canonical form (`90s` and `1m 30s` become `1m30s`), so a
 *   cosmetic edit does not change the spec, bump the generation or reschedule.
 *
 * Fields the user set are never changed except the interval's spelling. An object already in this form
 * gets no operation, so an update that changes nothing is not patched.
 */
export function mutationPatch(request: AdmissionRequest, policy: Policy): JsonPatchOperation[] {
  const kind = requestKind(request);
  if (kind === undefined || (request.operation !== 'CREATE' && request.operation !== 'UPDATE')) return [];
  if (request.subResource !== undefined && request.subResource !== '') return [];
  const object = request.object;
  if (!isObject(object) || !isObject(object.spec)) return [];
  const spec = withDefaults(kind, object.spec) as JsonObject;
  if (kind === 'WebhookTrigger') {
    const webhook = spec.webhook;
    const auth = isObject(webhook) ? webhook.authConfig : undefined;
    if (isObject(auth) && auth.header === undefined) auth.header = policy.webhookAuthHeader;
  }
  if (kind === 'ScheduleTrigger') {
    const schedule = spec.schedule;
    if (isObject(schedule) && typeof schedule.interval === 'string') {
      const canonical = canonicalInterval(schedule.interval);
      if (canonical !== undefined) schedule.interval = canonical;
    }
  }
  const ops: JsonPatchOperation[] = [];
  diff(object.spec, spec, '/spec', ops);
  return ops;
}

/** The mutating webhook's response: allowed, with the patch when there is anything to change. */
export function mutate(request: AdmissionRequest, policy: Policy): AdmissionResponse {
  const ops = mutationPatch(request, policy);
  if (ops.length === 0) return { uid: request.uid, allowed: true };
  return {
    uid: request.uid,
    allowed: true,
    patchType: 'JSONPatch',
    patch: Buffer.from(JSON.stringify(ops)).toString('base64'),
  };
}

import { API_VERSION, GROUP, KINDS, type KindName, VERSION } from '@git-events-runner/shared';
import type { AdmissionRequest, UserInfo } from '../src/review.js';

/** Builders of AdmissionRequests as kube-apiserver sends them, for the unit tests. */

export const alice: UserInfo = { username: 'alice', uid: 'u-1', groups: ['team-a', 'system:authenticated'] };

let counter = 0;

/** A CREATE (or, with `old`, an UPDATE) of an object of `kind` named `name` in `namespace` (ignored for Cluster kinds). */
export function admissionRequest(
  kind: KindName,
  spec: unknown,
  options: {
    namespace?: string;
    name?: string;
    old?: unknown;
    user?: UserInfo;
    operation?: AdmissionRequest['operation'];
  } = {},
): AdmissionRequest {
  const def = KINDS.find((k) => k.kind === kind);
  if (def === undefined) throw new Error(kind);
  const namespace = def.scope === 'Namespaced' ? (options.namespace ?? 'team-a') : undefined;
  const name = options.name ?? 'obj';
  const object = {
    apiVersion: API_VERSION,
    kind,
    metadata: { name, ...(namespace !== undefined ? { namespace } : {}) },
    spec,
  };
  const update = options.old !== undefined;
  return {
    uid: `uid-${++counter}`,
    kind: { group: GROUP, version: VERSION, kind },
    resource: { group: GROUP, version: VERSION, resource: def.plural },
    name,
    ...(namespace !== undefined ? { namespace } : {}),
    operation: options.operation ?? (update ? 'UPDATE' : 'CREATE'),
    userInfo: options.user ?? alice,
    object,
    ...(update ? { oldObject: { ...object, spec: options.old } } : {}),
  };
}

/** A whole AdmissionReview body around a request. */
export function reviewBody(request: AdmissionRequest): unknown {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request };
}

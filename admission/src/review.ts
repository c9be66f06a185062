import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { AdmissionError } from './errors.js';

/** `apiVersion` of the AdmissionReview objects exchanged with kube-apiserver. */
export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

const GroupVersionKind = Type.Object({ group: Type.String(), version: Type.String(), kind: Type.String() });
const GroupVersionResource = Type.Object({ group: Type.String(), version: Type.String(), resource: Type.String() });

const UserInfoSchema = Type.Object({
  username: Type.Optional(Type.String()),
  uid: Type.Optional(Type.String()),
  groups: Type.Optional(Type.Array(Type.String())),
  extra: Type.Optional(Type.Record(Type.String(), Type.Array(Type.String()))),
});

const RequestSchema = Type.Object({
  uid: Type.String({ minLength: 1 }),
  kind: GroupVersionKind,
  resource: GroupVersionResource,
  subResource: Type.Optional(Type.String()),
  name: Type.Optional(Type.String()),
  namespace: Type.Optional(Type.String()),
  operation: Type.Union([
    Type.Literal('CREATE'),
    Type.Literal('UPDATE'),
    Type.Literal('DELETE'),
    Type.Literal('CONNECT'),
  ]),
  userInfo: UserInfoSchema,
  object: Type.Optional(Type.Unknown()),
  oldObject: Type.Optional(Type.Unknown()),
  dryRun: Type.Optional(Type.Boolean()),
});

const ReviewSchema = Type.Object({
  apiVersion: Type.Literal(ADMISSION_API_VERSION),
  kind: Type.Literal('AdmissionReview'),
  request: RequestSchema,
});

/** Who asks (AdmissionRequest.userInfo). */
export type UserInfo = Static<typeof UserInfoSchema>;

/** The `request` of an AdmissionReview v1, as far as this server reads it. */
export type AdmissionRequest = Static<typeof RequestSchema>;

/** The `response` of an AdmissionReview v1. */
export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: boolean;
  /** Why a request is denied; `message` is what kubectl shows after "denied the request:". */
  readonly status?: { readonly code: number; readonly reason: string; readonly message: string };
  /** Shown by kubectl as `Warning: ...`; each under 256 characters (kube-apiserver truncates longer ones). */
  readonly warnings?: readonly string[];
  readonly patchType?: 'JSONPatch';
  /** Base64 of the JSONPatch document. */
  readonly patch?: string;
}

/** A whole AdmissionReview carrying a response. */
export interface AdmissionReviewResponse {
  readonly apiVersion: typeof ADMISSION_API_VERSION;
  readonly kind: 'AdmissionReview';
  readonly response: AdmissionResponse;
}

function pointerToField(pointer: string): string {
  const parts = pointer
    .split('/')
    .filter((p) => p !== '')
    .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'));
  return parts.length === 0 ? '(body)' : parts.join('.');
}

/**
 * Reads the request out of an AdmissionReview v1 body (already JSON-parsed).
 *
 * @throws AdmissionError `InvalidReview` naming the first field that is missing or of the wrong type.
 */
export function parseAdmissionReview(body: unknown): AdmissionRequest {
  const [first] = Value.Errors(ReviewSchema, body);
  if (first !== undefined) {
    throw new AdmissionError(
      'InvalidReview',
      `not an ${ADMISSION_API_VERSION} AdmissionReview request: ${pointerToField(first.path)}: ${first.message}`,
    );
  }
  return (body as Static<typeof ReviewSchema>).request;
}

/** Wraps a response into the AdmissionReview kube-apiserver expects back. */
export function reviewResponse(response: AdmissionResponse): AdmissionReviewResponse {
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}

import { CodedError } from '@git-events-runner/shared';
/** Why the settings of a source (its Secrets) could not be turned into credentials. */
export const SOURCE_ERROR_CODES = [
  'SecretNotFound',
  'SecretKeyMissing',
  'SecretForbidden',
  'SecretUnavailable',
  'SecretNotUtf8',
  'NamespaceNotAllowed',
  'SourceNotFound',
  'SourceForbidden',
  'SourceInvalid',
] as const;

/** One of SOURCE_ERROR_CODES. */
export type SourceErrorCode = (typeof SOURCE_ERROR_CODES)[number];

/** A source's configuration cannot be used; the message names the source and the Secret, never a value. */
export class SourceError extends CodedError<SourceErrorCode> {
  override readonly name = 'SourceError';
}

import { CodedError } from '../errors.js';
/** Why a git operation failed; stable values to branch on (never on messages). */
export const GIT_ERROR_CODES = [
  'Unreachable',
  'Tls',
  'AuthFailed',
  'HostKeyUnknown',
  'HostKeyMismatch',
  'NotFound',
  'RefNotFound',
  'Timeout',
  'TooLarge',
  'Protocol',
  'Config',
  'SignatureRefused',
] as const;

/** One of GIT_ERROR_CODES. */
export type GitErrorCode = (typeof GIT_ERROR_CODES)[number];

/**
 * A failed git operation. The message names the repository and never contains a credential; the
 * cause (kept for logs at debug level) is the underlying library or socket error.
 */
export class GitError extends CodedError<GitErrorCode> {
  override readonly name = 'GitError';
  readonly repository: string;

  constructor(code: GitErrorCode, repository: string, reason: string, options?: { cause?: unknown }) {
    super(code, `${repository}: ${reason}`, options);
    this.repository = repository;
  }
}

/** Whether an error is a GitError with one of the given codes. */
export function isGitError(err: unknown, ...codes: GitErrorCode[]): err is GitError {
  return err instanceof GitError && (codes.length === 0 || codes.includes(err.code));
}

/**
 * An error with a stable `code` to branch on (one of a closed `as const` set), a message for people and
 * an optional `cause`. Every package's error classes extend it, each with its own `name` and codes:
 *
 * ```ts
 * export const THING_ERROR_CODES = ['Missing', 'Invalid'] as const;
 * export class ThingError extends CodedError<(typeof THING_ERROR_CODES)[number]> {
 *   override readonly name = 'ThingError';
 * }
 * ```
 */
export class CodedError<C extends string> extends Error {
  readonly code: C;

  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

import t from 'tap';
import { CodedError } from '../src/index.js';

t.test('a coded error: code to branch on, message, cause, its own name', async (t) => {
  const CODES = ['Missing', 'Invalid'] as const;
  class ThingError extends CodedError<(typeof CODES)[number]> {
    override readonly name = 'ThingError';
  }
  const cause = new Error('underneath');
  const err = new ThingError('Invalid', 'thing x is invalid', { cause });
  t.ok(err instanceof ThingError && err instanceof CodedError && err instanceof Error);
  t.equal(err.code, 'Invalid');
  t.equal(err.message, 'thing x is invalid');
  t.equal(err.cause, cause);
  t.equal(err.name, 'ThingError');
  t.match(String(err), /^ThingError: thing x is invalid/);
  t.equal(new ThingError('Missing', 'no thing').cause, undefined, 'cause is optional');
});

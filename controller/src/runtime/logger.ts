import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { LogFormat, LogLevel } from '../config/index.js';

/** Paths that could carry credentials; pino replaces their values before anything is written. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers["x-trigger-auth"]',
  'req.headers["x-hub-signature-256"]',
  'req.headers["x-gitlab-token"]',
  'headers.authorization',
  '*.password',
  '*.token',
  '*.privateKey',
  '*.passphrase',
];

/**
 * The process logger: JSON lines by default (metadata first, then `msg`), or readable text for
 * development. Sensitive paths are redacted.
 */
export function createLogger(
  format: LogFormat,
  level: LogLevel,
  destination: NodeJS.WritableStream = process.stderr,
): Logger {
  const options = {
    level,
    base: { service: 'git-events-runner' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
  if (format === 'text')
    return pino(options, pretty({ destination, colorize: false, sync: true, ignore: 'pid,hostname,service' }));
  return pino(options, destination);
}

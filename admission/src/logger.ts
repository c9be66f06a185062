import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { LogFormat, LogLevel } from './log-options.js';

export { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from './log-options.js';

/**
 * Paths that could carry credentials. Requests are never logged whole (only kind, namespace, name, user
 * and verdict), so these are a second line of defence.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  '*.password',
  '*.token',
  '*.privateKey',
  '*.key',
];

/** The process logger: JSON lines by default, or readable text for development. */
export function createLogger(
  format: LogFormat,
  level: LogLevel,
  destination: NodeJS.WritableStream = process.stderr,
): Logger {
  const options = {
    level,
    base: { service: 'git-events-admission' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
  if (format === 'text')
    return pino(options, pretty({ destination, colorize: false, sync: true, ignore: 'pid,hostname,service' }));
  return pino(options, destination);
}

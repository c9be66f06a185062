import { stringify } from 'yaml';
import { PluginError } from '../errors.js';

/** Output formats of `status`. */
export const STATUS_FORMATS = ['table', 'wide', 'json', 'yaml'] as const;
/** Output formats of `fire` (default: lines for people). */
export const FIRE_FORMATS = ['text', 'json', 'yaml'] as const;

/**
 * Checks an `-o/--output` value against the formats a command offers.
 * @throws PluginError `Usage` naming the value and the choices.
 */
export function parseFormat<const T extends readonly string[]>(value: string, allowed: T): T[number] {
  if ((allowed as readonly string[]).includes(value)) return value as T[number];
  throw new PluginError('Usage', `unknown output format "${value}": use one of ${allowed.join(', ')}`);
}

/** JSON (two-space indent, as kubectl) or YAML of a value, ending with a newline. */
export function serialize(value: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : stringify(value, { lineWidth: 0 });
}

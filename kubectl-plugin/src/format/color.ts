import { styleText } from 'node:util';

/** Colours the plugin uses; each maps to a meaning, not a decoration. */
export type Tone = 'good' | 'bad' | 'warn' | 'busy' | 'dim';

/** Paints text in a tone, or returns it unchanged when colour is off. */
export type Painter = (tone: Tone, text: string) => string;

/**
 * Colour only on a terminal, never with `NO_COLOR` set to anything non-empty (no-color.org) and never
 * for `TERM=dumb`.
 */
export function colorEnabled(isTTY: boolean, env: Readonly<Record<string, string | undefined>>): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return isTTY;
}

const STYLES: Readonly<Record<Tone, Parameters<typeof styleText>[0]>> = {
  good: 'green',
  bad: 'red',
  warn: 'yellow',
  busy: 'cyan',
  dim: 'gray',
};

/** A painter: ANSI colours when enabled, the identity otherwise. */
export function painter(enabled: boolean): Painter {
  if (!enabled) return (_tone, text) => text;
  // The decision is made above (terminal, NO_COLOR); styleText must not second-guess it per stream.
  return (tone, text) => (text === '' ? text : styleText(STYLES[tone], text, { validateStream: false }));
}

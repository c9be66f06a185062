import { PluginError } from '../errors.js';

/**
 * A duration the way kubectl prints ages (its `HumanDuration`): seconds up to 2 minutes, then minutes
 * and seconds up to 10 minutes, minutes up to 3 hours, hours and minutes up to 8 hours, hours up to
 * 2 days, days and hours up to 8 days, days up to 2 years, then years and days.
 */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  // kubectl tolerates two seconds of clock difference between client and server.
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  if (hours < 24 * 365 * 8) return days % 365 === 0 ? `${years}y` : `${years}y${days % 365}d`;
  return `${years}y`;
}

/**
 * A timestamp relative to `now`: `5m ago`, `in 3m` for the future, `never` for the status value `Never`,
 * undefined when absent, `<invalid>` when it is not a time.
 */
export function relativeTime(value: string | undefined, now: number): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'Never') return 'never';
  const at = Date.parse(value);
  if (Number.isNaN(at)) return '<invalid>';
  const diff = now - at;
  // Two seconds of skew count as "now", as in kubectl.
  if (diff >= -2000) return `${humanDuration(Math.max(0, diff))} ago`;
  return `in ${humanDuration(-diff)}`;
}

/** Time between two timestamps as kubectl prints durations, undefined when either is missing. */
export function elapsed(start: string | undefined, end: string | undefined): string | undefined {
  if (start === undefined || end === undefined) return undefined;
  const a = Date.parse(start);
  const b = Date.parse(end);
  if (Number.isNaN(a) || Number.isNaN(b)) return undefined;
  return humanDuration(Math.max(0, b - a));
}

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Parses a duration flag the way kubectl's `--timeout` reads them (Go durations such as `30s`, `5m`,
 * `1h30m`, `1.5h`, `500ms`), or a bare number of seconds. Must be positive.
 * @throws PluginError `Usage` naming the flag and the value.
 */
export function parseDuration(text: string, flag: string): number {
  const value = text.trim();
  const bad = () => new PluginError('Usage', `invalid ${flag} "${text}": use a duration such as 30s, 5m or 1h30m`);
  if (/^\d+(\.\d+)?$/.test(value)) {
    const ms = Number(value) * 1000;
    if (ms <= 0) throw bad();
    return ms;
  }
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value) throw bad();
  let ms = 0;
  for (const p of parts) ms += Number(p[1]) * (UNIT_MS[p[2] ?? ''] ?? 0);
  if (!(ms > 0) || !Number.isFinite(ms)) throw bad();
  return Math.round(ms);
}

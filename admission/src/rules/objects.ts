import { GROUP, KINDS, type KindName, VERSION } from '@git-events-runner/shared';
import type { AdmissionRequest } from '../review.js';

/** A JSON object. */
export type JsonObject = Record<string, unknown>;

/** Whether a value is a plain JSON object (not null, not an array). */
export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Structural equality of two JSON values (key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a).filter((k) => a[k] !== undefined);
    const other = Object.keys(b).filter((k) => b[k] !== undefined);
    return keys.length === other.length && keys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

/** A path into an object: keys and array indexes. */
export type Path = readonly (string | number)[];

/** `spec.sources.names[0]`: how fields are named in messages (as kube-apiserver names them). */
export function formatPath(path: Path): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? part : `.${part}`;
  return out;
}

/** Parses a field name made by formatPath back into a path (keys holding dots come back split). */
export function parsePath(field: string): Path {
  const out: (string | number)[] = [];
  for (const segment of field.split('.')) {
    const match = /^([^[]*)((?:\[\d+\])*)$/.exec(segment);
    if (match === null) {
      out.push(segment);
      continue;
    }
    if (match[1] !== '') out.push(match[1] ?? '');
    for (const index of (match[2] ?? '').matchAll(/\[(\d+)\]/g)) out.push(Number(index[1]));
  }
  return out;
}

/** The value at a path, or undefined when any step is missing. */
export function valueAt(root: unknown, path: Path): unknown {
  let current = root;
  for (const part of path) {
    if (typeof part === 'number') {
      if (!Array.isArray(current)) return undefined;
      current = current[part];
    } else {
      if (!isObject(current) || !Object.hasOwn(current, part)) return undefined;
      current = current[part];
    }
  }
  return current;
}

/** The kind of a request when it is one of this project's six kinds, else undefined. */
export function requestKind(request: AdmissionRequest): KindName | undefined {
  if (request.kind.group !== GROUP || request.kind.version !== VERSION) return undefined;
  return KINDS.find((k) => k.kind === request.kind.kind)?.kind;
}

/** Whether a kind is cluster-scoped. */
export function isClusterScoped(kind: KindName): boolean {
  return KINDS.find((k) => k.kind === kind)?.scope === 'Cluster';
}

/** A value for a message: JSON-quoted and cut to `max` characters, so user input cannot flood a response. */
export function quote(value: unknown, max = 80): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length <= max ? text : `${text.slice(0, max - 4)}..."`;
}

/** Cuts text to `max` characters with an ellipsis. */
export function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}

import { FormatRegistry, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { KINDS, type KindName, WebhookJournalEntry } from './schema/resources.js';
import { ruleFor } from './schema/rules.js';

/** One reason an object is invalid, with the path of the offending field (e.g. `spec.schedule`). */
export interface FieldError {
  readonly field: string;
  readonly message: string;
}

const INT_RANGES = { int32: 2 ** 31, int64: 2 ** 63 } as const;

let formatsReady = false;
function ensureFormats(): void {
  if (formatsReady) return;
  formatsReady = true;
  for (const [name, limit] of Object.entries(INT_RANGES)) {
    if (!FormatRegistry.Has(name))
      FormatRegistry.Set(name, (v) => Number.isInteger(Number(v)) && Math.abs(Number(v)) < limit);
  }
  if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => !Number.isNaN(Date.parse(v)));
}

function definition(kind: KindName) {
  const def = KINDS.find((d) => d.kind === kind);
  if (def === undefined) throw new Error(`unknown kind ${kind}`);
  return def;
}

function toFieldPath(pointer: string, prefix: string): string {
  const parts = pointer.split('/').filter((p) => p !== '');
  return [prefix, ...parts.map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'))].join('.');
}

// Walks schema and value together and evaluates every x-kubernetes-validations rule on present objects.
function checkRules(schema: TSchema, value: unknown, path: string, errors: FieldError[]): void {
  if (value === null || typeof value !== 'object') return;
  const rules = schema['x-kubernetes-validations'] as { rule: string; message: string }[] | undefined;
  for (const { rule } of rules ?? []) {
    const known = ruleFor(rule);
    if (known === undefined) throw new Error(`no TypeScript predicate for CEL rule ${rule}`);
    if (!known.check(value as Record<string, unknown>)) errors.push({ field: path, message: known.message });
  }
  const properties = schema.properties as Record<string, TSchema> | undefined;
  if (properties !== undefined) {
    for (const [key, sub] of Object.entries(properties))
      checkRules(sub, (value as Record<string, unknown>)[key], `${path}.${key}`, errors);
  }
  if (schema['x-kubernetes-list-type'] === 'set' && Array.isArray(value)) {
    const seen = new Set<string>();
    for (const [i, v] of value.entries()) {
      const key = JSON.stringify(v);
      if (seen.has(key)) errors.push({ field: `${path}[${i}]`, message: `Duplicate value: ${key}` });
      seen.add(key);
    }
  }
  const items = schema.items as TSchema | undefined;
  if (items !== undefined && Array.isArray(value)) {
    for (const [i, v] of value.entries()) checkRules(items, v, `${path}[${i}]`, errors);
  }
}

// kube-apiserver's structural defaulting: a property that is absent gets a copy of its default, then
// defaulting recurses into it; present values (even empty objects) are never replaced. TypeBox's
// Value.Default replaces empty objects, which the API server does not, so it is not used here.
function applyDefaults(schema: TSchema, value: unknown): void {
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    const items = schema.items as TSchema | undefined;
    if (items !== undefined) for (const v of value) applyDefaults(items, v);
    return;
  }
  const obj = value as Record<string, unknown>;
  const properties = schema.properties as Record<string, TSchema> | undefined;
  for (const [key, sub] of Object.entries(properties ?? {})) {
    if (obj[key] === undefined && sub.default !== undefined) obj[key] = structuredClone(sub.default);
    applyDefaults(sub, obj[key]);
  }
  const patternProperties = schema.patternProperties as Record<string, TSchema> | undefined;
  const [additional] = Object.values(patternProperties ?? {});
  if (additional !== undefined && properties === undefined)
    for (const v of Object.values(obj)) applyDefaults(additional, v);
}

/** Returns `spec` with the CRD's defaults filled in, as kube-apiserver would; the input is not modified. */
export function withDefaults<T>(kind: KindName, spec: T): T {
  const copy = structuredClone(spec);
  applyDefaults(definition(kind).spec, copy);
  return copy;
}

/**
 * Validates a spec the way kube-apiserver does with the generated CRD (after defaulting): the schema's
 * types, patterns and bounds, and the cross-field rules. Returns every problem found, each naming its field.
 */
export function validateSpec(kind: KindName, spec: unknown): FieldError[] {
  ensureFormats();
  const schema = definition(kind).spec;
  const value = withDefaults(kind, spec);
  const errors: FieldError[] = [...Value.Errors(schema, value)].map((e) => ({
    field: toFieldPath(e.path, 'spec'),
    message: e.message,
  }));
  if (errors.length === 0) checkRules(schema, value, 'spec', errors);
  return errors;
}

/** Whether a value decoded from a webhook journal is an entry (the schema in resources.ts). */
export function webhookJournalEntryValid(value: unknown): value is Static<typeof WebhookJournalEntry> {
  ensureFormats();
  return Value.Check(WebhookJournalEntry, value);
}

import { type JsonSchemaProps, toOpenApi } from './crd.js';
import { CodedError } from './errors.js';
import { API_VERSION, CATEGORY, KINDS, type KindDefinition } from './schema/resources.js';

// Pure renderers of the generated parts of the user documentation (`npm run docs:generate`,
// scripts/gen-docs.mjs): Markdown tables of the resources' fields from the one schema, of command-line
// options and of metrics, and the template step that puts them into hand-written pages.

/** Codes of DocsError. */
export const DOCS_ERROR_CODES = ['UnknownDirective', 'InvalidDirective', 'UnknownKind'] as const;
/** One of DOCS_ERROR_CODES. */
export type DocsErrorCode = (typeof DOCS_ERROR_CODES)[number];

/** A documentation template cannot be rendered; the message names the directive (and line). */
export class DocsError extends CodedError<DocsErrorCode> {
  override readonly name = 'DocsError';
}

// ---------------------------------------------------------------- Markdown helpers

/** Text as a Markdown code span (backticks inside are fenced with longer runs). */
export function codeSpan(text: string): string {
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

function cell(text: string): string {
  // A table row is one line, and `|` ends a cell even inside a code span (GitHub's rule).
  return text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
}

/** A GitHub-flavoured Markdown table with padded columns (readable as plain text too). */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows].map((r) => header.map((_, i) => cell(r[i] ?? '')));
  const widths = header.map((_, i) => Math.max(3, ...all.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 3)).join(' | ')} |`;
  const [head, ...body] = all;
  return [line(head ?? []), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...body.map(line)].join('\n');
}

/** A value in compact YAML flow style, as written in a manifest: `{branch: main}`, `[a, b]`, `true`. */
export function flowValue(value: unknown): string {
  if (typeof value === 'string') {
    const plain =
      /^[A-Za-z0-9_./:<>@-]+$/.test(value) &&
      !/^(true|false|null|yes|no|on|off|~)$/i.test(value) &&
      Number.isNaN(Number(value));
    return plain ? value : JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(flowValue).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value)
      .map(([k, v]) => `${k}: ${flowValue(v)}`)
      .join(', ')}}`;
  }
  return String(value);
}

function sentence(text: string): string {
  const t = text.trim();
  if (t === '') return '';
  return /[.!?:]$/.test(t) ? t : `${t}.`;
}

// ---------------------------------------------------------------- schema fields

/** One documented field of a schema. */
export interface FieldDoc {
  /** Dotted path, e.g. `spec.sources.watchOn.reference.branch`; `[]` marks array items, `<name>` map keys. */
  readonly path: string;
  /** `string`, `integer (int64)`, `boolean`, `object`, `[]string`, `map[string]string`, ... */
  readonly type: string;
  /** Required whenever the object holding it is given. */
  readonly required: boolean;
  /** The default in YAML flow style, when the schema declares one (empty objects are left out). */
  readonly default?: string;
  /** The default is an object too long to show: it is what the fields' own defaults make up. */
  readonly defaultPerField?: boolean;
  /** The schema's description followed by its constraints in words. */
  readonly description: string;
  /** A pattern too long for a table cell: rendered below the table. */
  readonly longPattern?: string;
}

/** Patterns longer than this go below the table instead of into the description. */
const MAX_INLINE_PATTERN = 48;

function typeName(s: JsonSchemaProps): string {
  if (s['x-kubernetes-preserve-unknown-fields'] === true) return 'object (any fields)';
  const type = typeof s.type === 'string' ? s.type : 'any';
  if (type === 'array') {
    const items = (s.items ?? {}) as JsonSchemaProps;
    return `[]${typeName(items)}`;
  }
  if (type === 'object' && s.additionalProperties !== undefined) {
    return `map[string]${typeName(s.additionalProperties as JsonSchemaProps)}`;
  }
  if (typeof s.format === 'string') return `${type} (${s.format})`;
  return type;
}

function constraints(s: JsonSchemaProps): { text: string[]; longPattern?: string } {
  const text: string[] = [];
  let longPattern: string | undefined;
  if (Array.isArray(s.enum)) text.push(`One of ${s.enum.map((v) => codeSpan(String(v))).join(', ')}.`);
  if (typeof s.pattern === 'string') {
    if (s.pattern.length <= MAX_INLINE_PATTERN) text.push(`Pattern ${codeSpan(s.pattern)}.`);
    else {
      text.push('Pattern below the table.');
      longPattern = s.pattern;
    }
  }
  if (s.minLength === 1) text.push('Not empty.');
  else if (typeof s.minLength === 'number') text.push(`At least ${s.minLength} characters.`);
  if (typeof s.maxLength === 'number') text.push(`At most ${s.maxLength} characters.`);
  if (typeof s.minimum === 'number') text.push(`Minimum ${s.minimum}.`);
  // The largest safe integer only says "no practical bound".
  if (typeof s.maximum === 'number' && s.maximum < Number.MAX_SAFE_INTEGER) text.push(`Maximum ${s.maximum}.`);
  if (typeof s.minItems === 'number') text.push(`At least ${s.minItems} items.`);
  if (typeof s.maxItems === 'number') text.push(`At most ${s.maxItems} items.`);
  if (s['x-kubernetes-list-type'] === 'set') text.push('No duplicates.');
  const mapKeys = s['x-kubernetes-list-map-keys'];
  if (s['x-kubernetes-list-type'] === 'map' && Array.isArray(mapKeys)) {
    text.push(`One item per ${mapKeys.map((k) => codeSpan(String(k))).join(', ')}.`);
  }
  // Cross-field rules (x-kubernetes-validations) are listed apart, by renderValidationRules.
  return longPattern === undefined ? { text } : { text, longPattern };
}

function hasDefault(value: unknown): boolean {
  if (value === undefined) return false;
  return !(value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0);
}

/** Object defaults longer than this are left to their fields' rows. */
const MAX_OBJECT_DEFAULT = 60;

function defaultOf(s: JsonSchemaProps): Pick<FieldDoc, 'default' | 'defaultPerField'> {
  if (!hasDefault(s.default)) return {};
  const text = flowValue(s.default);
  const isObject = s.default !== null && typeof s.default === 'object' && !Array.isArray(s.default);
  return isObject && s.properties !== undefined && text.length > MAX_OBJECT_DEFAULT
    ? { default: text, defaultPerField: true }
    : { default: text };
}

/**
 * Every field of a structural schema (as in a CRD), depth first in declaration order, with its type,
 * whether it is required, its default and its constraints. `prefix` is the path of `schema` itself
 * (`spec`, `status`, or '' for a document root).
 */
export function describeFields(schema: JsonSchemaProps, prefix: string): FieldDoc[] {
  const out: FieldDoc[] = [];
  const join = (a: string, b: string) => (a === '' ? b : `${a}.${b}`);
  const walk = (s: JsonSchemaProps, path: string) => {
    const properties = s.properties as Record<string, JsonSchemaProps> | undefined;
    if (properties !== undefined) {
      const required = new Set((s.required as string[] | undefined) ?? []);
      for (const [name, child] of Object.entries(properties)) {
        const childPath = join(path, name);
        const { text, longPattern } = constraints(child);
        const description = [sentence(typeof child.description === 'string' ? child.description : ''), ...text]
          .filter((t) => t !== '')
          .join(' ');
        out.push({
          path: childPath,
          type: typeName(child),
          required: required.has(name),
          ...defaultOf(child),
          description,
          ...(longPattern !== undefined ? { longPattern } : {}),
        });
        walk(child, childPath);
      }
    }
    if (s.type === 'array' && s.items !== undefined) walk(s.items as JsonSchemaProps, `${path}[]`);
    if (s.additionalProperties !== undefined && typeof s.additionalProperties === 'object') {
      walk(s.additionalProperties as JsonSchemaProps, `${path}.<name>`);
    }
  };
  walk(schema, prefix);
  return out;
}

/** Options of renderFieldTable. */
export interface FieldTableOptions {
  /** Show the Required column (default true; a configuration document where everything is optional hides it). */
  readonly required?: boolean;
}

/** The fields of a structural schema as a table, with long patterns listed below it. */
export function renderFieldTable(schema: JsonSchemaProps, prefix: string, options: FieldTableOptions = {}): string {
  const fields = describeFields(schema, prefix);
  const withRequired = options.required !== false;
  const header = withRequired
    ? ['field', 'type', 'required', 'default', 'description']
    : ['field', 'type', 'default', 'description'];
  const rows = fields.map((f) => {
    const base = [codeSpan(f.path), f.type];
    const dflt =
      f.default === undefined ? '' : f.defaultPerField === true ? "each field's default" : codeSpan(f.default);
    const rest = [dflt, f.description];
    return withRequired ? [...base, f.required ? 'yes' : '', ...rest] : [...base, ...rest];
  });
  const long = fields.filter((f) => f.longPattern !== undefined);
  const patterns = long.map((f) => `Pattern of ${codeSpan(f.path)}:\n\n\`\`\`text\n${f.longPattern}\n\`\`\``);
  return [markdownTable(header, rows), ...patterns].join('\n\n');
}

// ---------------------------------------------------------------- resources

/** The definition of one of the six kinds. @throws DocsError `UnknownKind`. */
export function kindDefinition(kind: string): KindDefinition {
  const def = KINDS.find((k) => k.kind === kind);
  if (def === undefined) {
    throw new DocsError(
      'UnknownKind',
      `unknown kind ${JSON.stringify(kind)}: one of ${KINDS.map((k) => k.kind).join(', ')}`,
    );
  }
  return def;
}

/** API version, scope, names, category and subresources of a kind, as a table. */
export function renderKindSummary(kind: string): string {
  const def = kindDefinition(kind);
  return markdownTable(
    ['property', 'value'],
    [
      ['apiVersion', codeSpan(API_VERSION)],
      ['kind', `${codeSpan(def.kind)} (list: ${codeSpan(`${def.kind}List`)})`],
      ['scope', def.scope],
      ['plural, singular', `${codeSpan(def.plural)}, ${codeSpan(def.singular)}`],
      ['short names', def.shortNames.map(codeSpan).join(', ')],
      ['category', `${codeSpan(CATEGORY)} (${codeSpan(`kubectl get ${CATEGORY}`)} lists every kind)`],
      ['status subresource', def.status === undefined ? 'no' : 'yes (written by the controller only)'],
    ],
  );
}

/** The `kubectl get` columns of a kind. */
export function renderPrinterColumns(kind: string): string {
  const def = kindDefinition(kind);
  return markdownTable(
    ['column', 'JSONPath', 'type', 'shown', 'description'],
    def.printerColumns.map((c) => [
      c.name,
      codeSpan(c.jsonPath),
      c.type,
      (c.priority ?? 0) > 0 ? 'with `-o wide`' : 'always',
      c.description ?? '',
    ]),
  );
}

/** The schema of a kind's `spec` or `status`, as in its CRD. @throws DocsError `InvalidDirective`. */
export function kindSchema(kind: string, part: string): JsonSchemaProps {
  const def = kindDefinition(kind);
  if (part === 'spec') return toOpenApi(def.spec);
  if (part === 'status') {
    if (def.status === undefined) throw new DocsError('InvalidDirective', `${def.kind} has no status`);
    return toOpenApi(def.status);
  }
  throw new DocsError('InvalidDirective', `part must be spec or status, not ${JSON.stringify(part)}`);
}

/** The CEL rules (`x-kubernetes-validations`) of a kind's spec, with the path they apply to. */
export function validationRules(kind: string): { path: string; rule: string; message: string }[] {
  const out: { path: string; rule: string; message: string }[] = [];
  const walk = (s: JsonSchemaProps, path: string) => {
    const rules = s['x-kubernetes-validations'];
    if (Array.isArray(rules)) {
      for (const r of rules as { rule: string; message: string }[])
        out.push({ path, rule: r.rule, message: r.message });
    }
    const properties = s.properties as Record<string, JsonSchemaProps> | undefined;
    for (const [name, child] of Object.entries(properties ?? {})) walk(child, `${path}.${name}`);
    if (s.items !== undefined) walk(s.items as JsonSchemaProps, `${path}[]`);
  };
  walk(kindSchema(kind, 'spec'), 'spec');
  return out;
}

/** The CEL rules of a kind as a list: where, the message kube-apiserver answers, the expression. */
export function renderValidationRules(kind: string): string {
  const rules = validationRules(kind);
  if (rules.length === 0) return 'No cross-field rules.';
  return rules.map((r) => `- ${codeSpan(r.path)}: ${sentence(r.message)}\n  CEL: ${codeSpan(r.rule)}`).join('\n');
}

/** Directives of resource pages: `kind-summary K`, `fields K spec|status`, `printer-columns K`, `validation-rules K`. */
export const RESOURCE_DIRECTIVES: Readonly<Record<string, (args: readonly string[]) => string>> = {
  'kind-summary': (args) => renderKindSummary(arg(args, 0, 'kind-summary <Kind>')),
  fields: (args) =>
    renderFieldTable(
      kindSchema(arg(args, 0, 'fields <Kind> spec|status'), arg(args, 1, 'fields <Kind> spec|status')),
      arg(args, 1, 'fields <Kind> spec|status'),
    ),
  'printer-columns': (args) => renderPrinterColumns(arg(args, 0, 'printer-columns <Kind>')),
  'validation-rules': (args) => renderValidationRules(arg(args, 0, 'validation-rules <Kind>')),
};

function arg(args: readonly string[], i: number, usage: string): string {
  const v = args[i];
  if (v === undefined) throw new DocsError('InvalidDirective', `missing argument: ${usage}`);
  return v;
}

// ---------------------------------------------------------------- options and metrics

/** A command-line option, in the shape of a commander `Option` (only what the table shows). */
export interface OptionDoc {
  readonly flags: string;
  readonly description: string;
  readonly defaultValue?: unknown;
  readonly defaultValueDescription?: string | undefined;
  readonly argChoices?: readonly string[] | undefined;
  readonly hidden?: boolean;
  readonly mandatory?: boolean;
}

/** Command-line options as a table: flag, default, description (with choices; hidden ones say so). */
export function renderOptionsTable(options: readonly OptionDoc[]): string {
  return markdownTable(
    ['flag', 'default', 'description'],
    options.map((o) => {
      const dflt =
        o.defaultValueDescription !== undefined && o.defaultValueDescription !== ''
          ? o.defaultValueDescription
          : o.defaultValue === undefined
            ? ''
            : codeSpan(String(o.defaultValue));
      const notes = [
        sentence(o.description.charAt(0).toUpperCase() + o.description.slice(1)),
        o.argChoices !== undefined ? `One of ${o.argChoices.map(codeSpan).join(', ')}.` : '',
        o.mandatory === true ? 'Required.' : '',
        o.hidden === true ? 'Not listed by `--help`.' : '',
      ].filter((t) => t !== '');
      return [codeSpan(o.flags), dflt, notes.join(' ')];
    }),
  );
}

/** A Prometheus metric as registered (name with prefix, type, help, label names, histogram buckets). */
export interface MetricDoc {
  readonly name: string;
  readonly type: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly buckets?: readonly number[];
}

/** Metrics as a table: name, type, labels, meaning (with buckets for histograms). */
export function renderMetricsTable(metrics: readonly MetricDoc[]): string {
  return markdownTable(
    ['metric', 'type', 'labels', 'description'],
    metrics.map((m) => [
      codeSpan(m.name),
      m.type,
      m.labelNames.map(codeSpan).join(', '),
      [sentence(m.help), m.buckets !== undefined ? `Buckets: ${m.buckets.join(', ')}.` : '']
        .filter((t) => t !== '')
        .join(' '),
    ]),
  );
}

// ---------------------------------------------------------------- templates

/** A directive line: `<!-- @name arg1 arg2 -->`, alone on its line. */
const DIRECTIVE = /^<!--\s*@([a-z][a-z0-9-]*)((?:\s+\S+)*?)\s*-->$/;

/** Renders the output of one directive from its arguments; may throw DocsError. */
export type Directive = (args: readonly string[]) => string;

/**
 * Replaces every directive line of a Markdown template with the output of its renderer; every other
 * line is kept as written. Lines inside fenced code blocks are never directives.
 * @throws DocsError `UnknownDirective` (or the renderer's error), the message prefixed with `line N:`.
 */
export function renderTemplate(template: string, directives: Readonly<Record<string, Directive>>): string {
  let fence: string | undefined;
  return template
    .split('\n')
    .map((line, i) => {
      const fenceMatch = /^\s*(`{3,}|~{3,})/.exec(line);
      if (fenceMatch !== null) {
        const marker = fenceMatch[1] ?? '';
        if (fence === undefined) fence = marker;
        else if (marker.startsWith(fence)) fence = undefined;
        return line;
      }
      if (fence !== undefined) return line;
      const m = DIRECTIVE.exec(line.trim());
      if (m === null) return line;
      const name = m[1] ?? '';
      const args = (m[2] ?? '')
        .trim()
        .split(/\s+/)
        .filter((a) => a !== '');
      const render = Object.hasOwn(directives, name) ? directives[name] : undefined;
      if (render === undefined) {
        throw new DocsError(
          'UnknownDirective',
          `line ${i + 1}: unknown directive @${name} (known: ${Object.keys(directives).sort().join(', ')})`,
        );
      }
      try {
        return render(args);
      } catch (err: unknown) {
        if (err instanceof DocsError)
          throw new DocsError(err.code, `line ${i + 1}: @${name}: ${err.message}`, { cause: err });
        throw err;
      }
    })
    .join('\n');
}

/** First line of every generated page: where to edit instead. */
export function generatedNotice(templatePath: string): string {
  return `<!-- Generated by \`npm run docs:generate\` from ${templatePath}: edit that file, not this one. -->`;
}

import { readFile } from 'node:fs/promises';
import { formatInterval, parseInterval, ScheduleError } from '@git-events-runner/shared/schedule';
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parseDocument } from 'yaml';
import { AdmissionError } from './errors.js';

/** An HTTP header name (RFC 9110 token): what `webhook.authConfig.header` may hold. */
export const HEADER_NAME_PATTERN = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";

const SERVICE_ACCOUNT_NAME = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';

const PolicySchema = Type.Object(
  {
    minInterval: Type.String({
      default: '10s',
      description:
        'Shortest schedule.interval accepted, and shortest gap between two fire times of a cron schedule (interval syntax).',
    }),
    shortInterval: Type.String({
      default: '5m',
      description: 'onChangeOnly: false with a schedule firing more often than this gets a warning (interval syntax).',
    }),
    actionServiceAccounts: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 253, pattern: SERVICE_ACCOUNT_NAME }), {
        description:
          'Service accounts a namespaced Action may name in actionJob.serviceAccount. Absent: any. An Action naming none always passes (the controller default applies).',
      }),
    ),
    allowClusterGitRepos: Type.Boolean({
      default: true,
      description: "Whether namespaced triggers' sources and Actions' sourceOverride may be ClusterGitRepos.",
    }),
    allowClusterActions: Type.Boolean({
      default: true,
      description: 'Whether namespaced triggers may run ClusterActions.',
    }),
    webhookAuthHeader: Type.String({
      default: 'x-trigger-auth',
      pattern: HEADER_NAME_PATTERN,
      description:
        "Header written into webhook.authConfig.header when a WebhookTrigger names none (the controller's default).",
    }),
  },
  { additionalProperties: false },
);

type PolicyDocument = Static<typeof PolicySchema>;

/** The admission policy, parsed once, deep-frozen. */
export interface Policy {
  /** Canonical text of the minimum interval (e.g. `10s`). */
  readonly minInterval: string;
  readonly minIntervalMs: number;
  /** Canonical text of the interval below which `onChangeOnly: false` is warned about. */
  readonly shortInterval: string;
  readonly shortIntervalMs: number;
  /** Undefined: any service account. */
  readonly actionServiceAccounts: readonly string[] | undefined;
  readonly allowClusterGitRepos: boolean;
  readonly allowClusterActions: boolean;
  readonly webhookAuthHeader: string;
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number' && Number.isInteger(value)) return 'integer';
  return typeof value;
}

function fieldPath(pointer: string): string {
  const parts = pointer
    .split('/')
    .filter((p) => p !== '')
    .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'));
  return parts.length === 0 ? '(root)' : parts.join('.');
}

// Absent and null (an empty YAML value) both mean "use the default".
function applyDefaults(schema: TSchema, data: Record<string, unknown>): void {
  for (const [key, sub] of Object.entries(schema.properties as Record<string, TSchema>)) {
    if (!Object.hasOwn(data, key) || data[key] === null) {
      if (sub.default !== undefined) data[key] = structuredClone(sub.default);
      else delete data[key];
    }
  }
}

function invalid(field: string, message: string, cause?: unknown): AdmissionError {
  return new AdmissionError('InvalidPolicy', `${field}: ${message}`, { cause });
}

function interval(field: string, text: string): number {
  try {
    return parseInterval(text);
  } catch (err: unknown) {
    if (err instanceof ScheduleError) throw invalid(field, err.message, err);
    throw err;
  }
}

/**
 * Parses a policy document (YAML). Every field is optional; unknown fields are refused so a typo never
 * silently leaves a rule off. An empty document gives the defaults.
 *
 * @throws AdmissionError `InvalidPolicyYaml`, or `InvalidPolicy` naming the first bad field
 *   (e.g. `minInterval: invalid interval "5x": unknown unit "x" ...`).
 */
export function parsePolicy(yamlText: string): Policy {
  const doc = parseDocument(yamlText, { uniqueKeys: true });
  const [parseError] = doc.errors;
  if (parseError !== undefined) {
    const description = (parseError.message.split('\n')[0] ?? '').replace(/:$/, '');
    throw new AdmissionError('InvalidPolicyYaml', `not valid YAML: ${description}`, { cause: parseError });
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err: unknown) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : 'unreadable document';
    throw new AdmissionError('InvalidPolicyYaml', `not valid YAML: ${reason}`, { cause: err });
  }
  if (data === null || data === undefined) data = {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw invalid('(root)', `expected a mapping of policy fields (got ${typeOf(data)})`);
  }
  const record = data as Record<string, unknown>;
  applyDefaults(PolicySchema, record);
  for (const key of Object.keys(record)) {
    if (!Object.hasOwn(PolicySchema.properties, key)) {
      throw invalid(key, `unknown field (known: ${Object.keys(PolicySchema.properties).join(', ')})`);
    }
  }
  const [first] = Value.Errors(PolicySchema, record);
  if (first !== undefined) throw invalid(fieldPath(first.path), `${first.message} (got ${typeOf(first.value)})`);
  const document = record as PolicyDocument;
  const minIntervalMs = interval('minInterval', document.minInterval);
  const shortIntervalMs = interval('shortInterval', document.shortInterval);
  const policy: Policy = {
    minInterval: formatInterval(minIntervalMs),
    minIntervalMs,
    shortInterval: formatInterval(shortIntervalMs),
    shortIntervalMs,
    actionServiceAccounts:
      document.actionServiceAccounts === undefined ? undefined : Object.freeze([...document.actionServiceAccounts]),
    allowClusterGitRepos: document.allowClusterGitRepos,
    allowClusterActions: document.allowClusterActions,
    webhookAuthHeader: document.webhookAuthHeader.toLowerCase(),
  };
  return Object.freeze(policy);
}

/** The policy used without `--config`. */
export function defaultPolicy(): Policy {
  return parsePolicy('');
}

/**
 * Reads and parses a policy file.
 *
 * @throws AdmissionError `UnreadableFile`, `InvalidPolicyYaml` or `InvalidPolicy`, the message starting
 *   with the file's path.
 */
export async function loadPolicyFile(path: string): Promise<Policy> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err: unknown) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
    throw new AdmissionError('UnreadableFile', `policy file ${path}: cannot read it (${reason})`, { cause: err });
  }
  try {
    return parsePolicy(text);
  } catch (err: unknown) {
    if (err instanceof AdmissionError) {
      throw new AdmissionError(err.code, `policy file ${path}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

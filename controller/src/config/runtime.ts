import { readFileSync } from 'node:fs';
import { CodedError } from '@git-events-runner/shared';
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parseDocument, stringify } from 'yaml';

/** Recursively readonly view of a plain-data type. */
export type DeepReadonly<T> = T extends readonly (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** Image repositories of the Job containers; the tag is `v<controller version>`. */
export const IMAGE_REPOSITORIES = {
  // Our controller image also carries the cloner: the Job's init container runs `git-events-runner clone`.
  cloner: 'ghcr.io/git-events-runner/git-events-runner',
  worker: 'ghcr.io/git-events-runner/action-worker',
} as const;

const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
// RFC 9110 token: what an HTTP header name may contain.
const HTTP_TOKEN = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";
const INT32_MAX = 2 ** 31 - 1;

// Every object is closed (unknown keys reject the document, as in the original) and every field has a
// default, so after defaulting the schema's static type is the fully defaulted configuration. Limits
// are the ones Kubernetes enforces on the Job fields they end up in, so a bad value is rejected here
// rather than as a failed Job creation.
const closed = { additionalProperties: false, default: {} } as const;

/**
 * The runtime configuration schema with every default. It is a function because the default images
 * carry the controller version, which is read from package.json and must not be read at import time.
 */
export function runtimeConfigSchema(version: string) {
  return Type.Object(
    {
      action: Type.Object(
        {
          maxRunningJobs: Type.Integer({
            minimum: 1,
            maximum: Number.MAX_SAFE_INTEGER,
            default: 16,
            description: 'Admitted, unfinished Jobs at once, cluster-wide; more wait in the queue.',
          }),
          jobWaitingTimeoutSeconds: Type.Integer({
            minimum: 0,
            maximum: Number.MAX_SAFE_INTEGER,
            default: 300,
            description: 'How long a Job may wait in the queue before it is dropped (Expired).',
          }),
          defaultServiceAccount: Type.Optional(
            Type.String({
              pattern: DNS_SUBDOMAIN,
              maxLength: 253,
              description: 'Service account of Jobs whose action names none; unset: the namespace default.',
            }),
          ),
          activeDeadlineSeconds: Type.Integer({
            minimum: 1,
            maximum: Number.MAX_SAFE_INTEGER,
            default: 3600,
            description: 'Job spec.activeDeadlineSeconds when the action sets none.',
          }),
          ttlSecondsAfterFinished: Type.Integer({
            minimum: 0,
            maximum: INT32_MAX,
            default: 7200,
            description: 'Job spec.ttlSecondsAfterFinished when the action sets none.',
          }),
          workdir: Type.Object(
            {
              mountPath: Type.String({
                pattern: '^/',
                default: '/action_workdir',
                description: 'Where the cloned repository is mounted in both containers (absolute).',
              }),
              volumeName: Type.String({
                pattern: DNS_LABEL,
                maxLength: 63,
                default: 'action-workdir',
                description: 'Name of the emptyDir volume holding the clone.',
              }),
            },
            closed,
          ),
          containers: Type.Object(
            {
              cloner: Type.Object(
                {
                  name: Type.String({ pattern: DNS_LABEL, maxLength: 63, default: 'action-cloner' }),
                  image: Type.String({ minLength: 1, default: `${IMAGE_REPOSITORIES.cloner}:v${version}` }),
                },
                closed,
              ),
              worker: Type.Object(
                {
                  name: Type.String({ pattern: DNS_LABEL, maxLength: 63, default: 'action-worker' }),
                  image: Type.String({ minLength: 1, default: `${IMAGE_REPOSITORIES.worker}:v${version}` }),
                  variablesPrefix: Type.String({
                    pattern: '^([A-Za-z_][A-Za-z0-9_]*)?$',
                    default: 'ACTION_JOB_',
                    description: 'Prefix of the environment variables given to the worker.',
                  }),
                },
                closed,
              ),
            },
            closed,
          ),
        },
        closed,
      ),
      trigger: Type.Object(
        {
          webhook: Type.Object(
            {
              defaultAuthHeader: Type.String({
                pattern: HTTP_TOKEN,
                default: 'x-trigger-auth',
                description: 'Header carrying the token when a WebhookTrigger names none.',
              }),
            },
            closed,
          ),
        },
        closed,
      ),
    },
    { additionalProperties: false },
  );
}

/** The runtime configuration, fully defaulted; deep-frozen wherever this module returns one. */
export type RuntimeConfig = DeepReadonly<Static<ReturnType<typeof runtimeConfigSchema>>>;

/** Codes of RuntimeConfigError. */
export const RUNTIME_CONFIG_ERROR_CODES = ['InvalidYaml', 'InvalidRuntimeConfig'] as const;

/** One of RUNTIME_CONFIG_ERROR_CODES. */
export type RuntimeConfigErrorCode = (typeof RUNTIME_CONFIG_ERROR_CODES)[number];

/** One problem in a runtime configuration document. */
export interface RuntimeConfigProblem {
  /** Dotted path of the field, e.g. `action.maxRunningJobs`; `(root)` for the document itself. */
  readonly field: string;
  readonly message: string;
}

/**
 * The `runtimeConfig` document cannot be used. The message names the offending fields and the types
 * of their values, never the values themselves (the document is user input and may be large).
 */
export class RuntimeConfigError extends CodedError<RuntimeConfigErrorCode> {
  override readonly name = 'RuntimeConfigError';
  readonly problems: readonly RuntimeConfigProblem[];

  constructor(
    code: RuntimeConfigErrorCode,
    message: string,
    options: { cause?: unknown; problems?: readonly RuntimeConfigProblem[] } = {},
  ) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.problems = options.problems ?? [];
  }
}

let cachedVersion: string | undefined;

/**
 * Version of the controller package (its package.json), read once on first use. From
 * `dist/src/config/` and `src/config/` alike the package root is three levels up.
 */
export function controllerVersion(): string {
  if (cachedVersion === undefined) {
    const text = readFileSync(new URL('../../../package.json', import.meta.url), 'utf8');
    const version = (JSON.parse(text) as { version?: unknown }).version;
    if (typeof version !== 'string' || version === '') throw new Error('controller package.json has no version');
    cachedVersion = version;
  }
  return cachedVersion;
}

/** Freezes a plain-data value and everything in it; returns it. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

// Absent and null (an empty YAML value) both mean "use the default"; a null without a default is
// dropped so that an optional field left empty reads as unset.
function applyDefaults(schema: TSchema, value: unknown): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return;
  const obj = value as Record<string, unknown>;
  const properties = schema.properties as Record<string, TSchema> | undefined;
  for (const [key, sub] of Object.entries(properties ?? {})) {
    if (!Object.hasOwn(obj, key) || obj[key] === null) {
      if (sub.default !== undefined) obj[key] = structuredClone(sub.default);
      else delete obj[key];
    }
    applyDefaults(sub, obj[key]);
  }
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

const MAX_PROBLEMS_IN_MESSAGE = 5;

function validationError(problems: RuntimeConfigProblem[]): RuntimeConfigError {
  const shown = problems.slice(0, MAX_PROBLEMS_IN_MESSAGE).map((p) => `${p.field}: ${p.message}`);
  const more = problems.length - shown.length;
  const suffix = more > 0 ? `; and ${more} more` : '';
  return new RuntimeConfigError('InvalidRuntimeConfig', `invalid runtime config: ${shown.join('; ')}${suffix}`, {
    problems,
  });
}

/**
 * The default configuration for a controller version, deep-frozen. A function rather than a constant
 * because the default image tags come from package.json, which must not be read at import time.
 */
export function defaultRuntimeConfig(version: string = controllerVersion()): RuntimeConfig {
  return parseRuntimeConfig('', version);
}

/**
 * Longest `runtimeConfig` document accepted, in characters: 30 times the default document. The YAML
 * reader's time grows with the square of the number of keys (64 KiB of keys: about 2 s; a full 1 MiB
 * ConfigMap: minutes), and the controller parses on its event loop.
 */
export const MAX_RUNTIME_CONFIG_LENGTH = 16 * 1024;

/**
 * Parses the `runtimeConfig` YAML of the runtime ConfigMap: absent or empty fields take their
 * defaults, unknown keys anywhere reject the whole document. Returns a deep-frozen configuration.
 * @throws RuntimeConfigError `InvalidYaml` when the text is not one YAML document, or
 *   `InvalidRuntimeConfig` naming each offending field (e.g. `action.maxRunningJobs: Expected integer (got string)`),
 *   or `(root)` for a document longer than MAX_RUNTIME_CONFIG_LENGTH.
 */
export function parseRuntimeConfig(yamlText: string, version: string = controllerVersion()): RuntimeConfig {
  if (yamlText.length > MAX_RUNTIME_CONFIG_LENGTH) {
    throw validationError([
      {
        field: '(root)',
        message: `document of ${yamlText.length} characters, longer than the ${MAX_RUNTIME_CONFIG_LENGTH} allowed`,
      },
    ]);
  }
  let doc: ReturnType<typeof parseDocument>;
  try {
    doc = parseDocument(yamlText, { uniqueKeys: true });
  } catch (err: unknown) {
    // The reader reports most problems in doc.errors, but some shapes (e.g. `{a: 1\na: 1\n…}` a few
    // thousand times) overflow its recursion and throw a RangeError instead.
    const reason = err instanceof Error ? err.message.split('\n')[0] : 'unreadable document';
    throw new RuntimeConfigError('InvalidYaml', `runtime config is not valid YAML: ${reason}`, { cause: err });
  }
  const [parseError] = doc.errors;
  if (parseError !== undefined) {
    // The first line of a yaml error describes it and its position; the following lines quote the source.
    const description = (parseError.message.split('\n')[0] ?? '').replace(/:$/, '');
    throw new RuntimeConfigError('InvalidYaml', `runtime config is not valid YAML: ${description}`, {
      cause: parseError,
    });
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err: unknown) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : 'unreadable document';
    throw new RuntimeConfigError('InvalidYaml', `runtime config is not valid YAML: ${reason}`, { cause: err });
  }
  if (data === null || data === undefined) data = {};
  const schema = runtimeConfigSchema(version);
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw validationError([{ field: '(root)', message: `Expected object (got ${typeOf(data)})` }]);
  }
  applyDefaults(schema, data);
  const problems: RuntimeConfigProblem[] = [];
  const seen = new Set<string>();
  for (const error of Value.Errors(schema, data)) {
    const field = fieldPath(error.path);
    // One problem per field: a wrong type also fails the field's pattern or bounds.
    if (seen.has(field)) continue;
    seen.add(field);
    problems.push({ field, message: `${error.message} (got ${typeOf(error.value)})` });
  }
  if (problems.length > 0) throw validationError(problems);
  return deepFreeze(data as RuntimeConfig);
}

/** What `git-events-runner config` prints. */
export interface RenderOptions {
  /** Emit the chart's template: the service account include and `{{ .Chart.AppVersion }}` image tags. */
  readonly helmTemplate: boolean;
  /** Controller version of the image tags in raw mode; default: this package's version. */
  readonly version?: string;
}

const HELM_SERVICE_ACCOUNT = '{{ include "git-events-runner.actionJobServiceAccountName" . }}';
// The chart's appVersion has no leading v (Chart.yaml: "0.1.0") while image tags do, so the template
// keeps the v: the rendered chart then names the same images as the raw output.
const HELM_TAG = 'v{{ .Chart.AppVersion }}';

/**
 * The default runtime configuration as YAML, for `git-events-runner config [-t|--helm-template]`.
 * Raw mode omits `defaultServiceAccount` and tags images `:v<version>`; Helm mode sets the service
 * account from the chart's helper and tags images with the chart's appVersion.
 */
export function renderRuntimeConfig(options: RenderOptions): string {
  const defaults = defaultRuntimeConfig(options.version ?? controllerVersion());
  const { action, trigger } = defaults;
  const image = (repository: string, fallback: string) =>
    options.helmTemplate ? `${repository}:${HELM_TAG}` : fallback;
  const document = {
    action: {
      maxRunningJobs: action.maxRunningJobs,
      jobWaitingTimeoutSeconds: action.jobWaitingTimeoutSeconds,
      ...(options.helmTemplate ? { defaultServiceAccount: HELM_SERVICE_ACCOUNT } : {}),
      activeDeadlineSeconds: action.activeDeadlineSeconds,
      ttlSecondsAfterFinished: action.ttlSecondsAfterFinished,
      workdir: { ...action.workdir },
      containers: {
        cloner: {
          name: action.containers.cloner.name,
          image: image(IMAGE_REPOSITORIES.cloner, action.containers.cloner.image),
        },
        worker: {
          name: action.containers.worker.name,
          image: image(IMAGE_REPOSITORIES.worker, action.containers.worker.image),
          variablesPrefix: action.containers.worker.variablesPrefix,
        },
      },
    },
    trigger: { webhook: { ...trigger.webhook } },
  };
  return stringify(document, { singleQuote: true });
}

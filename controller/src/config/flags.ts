import { readFileSync } from 'node:fs';
import { CodedError } from '@git-events-runner/shared';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { deepFreeze } from './runtime.js';

/** Log output formats: one JSON object per line (default, for log collectors) or human-readable text. */
export const LOG_FORMATS = ['json', 'text'] as const;
/** One of LOG_FORMATS. */
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Log levels, most to least severe (pino's names). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** One of LOG_LEVELS. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Codes of FlagsError. */
export const FLAGS_ERROR_CODES = ['InvalidFlags', 'InvalidValue'] as const;
/** One of FLAGS_ERROR_CODES. */
export type FlagsErrorCode = (typeof FLAGS_ERROR_CODES)[number];

/**
 * The `run` command line cannot be used: `InvalidValue` for one flag's value (the parsers), or
 * `InvalidFlags` for flags that contradict each other (toRunOptions).
 */
export class FlagsError extends CodedError<FlagsErrorCode> {
  override readonly name = 'FlagsError';
}

/** A webhook rate limit: a bucket of `burst` requests, refilled by one every `periodSeconds / burst` seconds. */
export interface RateLimit {
  readonly burst: number;
  readonly periodSeconds: number;
}

const U32_MAX = 2 ** 32 - 1;

/**
 * Parses a rate limit `N/S` (the original's syntax): N requests (integer 1 to 2^32-1) per S seconds
 * (integer > 0). `10/100` allows a burst of 10, then one request every 10 s.
 * @throws FlagsError `InvalidValue` for anything else ("", "/", "1", "1/", "/1", "1/0", "0/1", "q/w").
 */
export function parseRateLimit(spec: string): RateLimit {
  const match = /^(\d+)\/(\d+)$/.exec(spec);
  const burst = Number(match?.[1]);
  const periodSeconds = Number(match?.[2]);
  if (match === null || burst < 1 || burst > U32_MAX || periodSeconds < 1 || !Number.isSafeInteger(periodSeconds)) {
    throw new FlagsError(
      'InvalidValue',
      `rate limit must be N/S: N requests (an integer from 1 to ${U32_MAX}) per S seconds (an integer > 0), e.g. 10/60`,
    );
  }
  return { burst, periodSeconds };
}

/** Parses a decimal integer within [min, max]. @throws FlagsError `InvalidValue`. */
export function parseIntegerInRange(value: string, min: number, max: number): number {
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new FlagsError(
      'InvalidValue',
      max === Number.MAX_SAFE_INTEGER ? `must be an integer >= ${min}` : `must be an integer from ${min} to ${max}`,
    );
  }
  return n;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const METRIC_PREFIX = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

function checkName(value: string, what: 'label' | 'subdomain'): string {
  const ok =
    what === 'label' ? DNS_LABEL.test(value) && value.length <= 63 : DNS_SUBDOMAIN.test(value) && value.length <= 253;
  if (!ok) {
    throw new FlagsError(
      'InvalidValue',
      what === 'label'
        ? 'must be a DNS-1123 label: at most 63 lower-case letters, digits and -, starting and ending with a letter or digit'
        : 'must be a DNS-1123 subdomain: at most 253 lower-case letters, digits, - and ., each part starting and ending with a letter or digit',
    );
  }
  return value;
}

// commander reports InvalidArgumentError as "option '<flags>' argument '<value>' is invalid. <message>".
function parser<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (err: unknown) {
      if (err instanceof FlagsError) throw new InvalidArgumentError(err.message);
      throw err;
    }
  };
}

const integer = (min: number, max: number) => parser((v) => parseIntegerInRange(v, min, max));
const port = integer(1, 65535);
const parallelism = integer(1, 255);
const backlog = integer(1, 1_000_000);
const seconds = (min: number, max: number = Number.MAX_SAFE_INTEGER) => integer(min, max);
const subdomain = parser((v) => checkName(v, 'subdomain'));
const label = parser((v) => checkName(v, 'label'));
const nonEmpty = parser((v) => {
  if (v === '') throw new FlagsError('InvalidValue', 'must not be empty');
  return v;
});

/** When a webhook request is answered 202 (--webhooks-ack). */
export const WEBHOOKS_ACK_MODES = ['recorded', 'immediate'] as const;
export type WebhooksAck = (typeof WEBHOOKS_ACK_MODES)[number];

/** Values of the `run` flags as commander returns them (`cmd.opts<RunFlags>()` after addRunOptions). */
export interface RunFlags {
  readonly webhooksPort: number;
  readonly utilityPort: number;
  readonly webhooksParallelism: number;
  readonly webhooksMaxPending: number;
  readonly webhooksAck: WebhooksAck;
  readonly webhooksReplayAfter: number;
  readonly scheduleParallelism: number;
  readonly secretsCacheTime: number;
  readonly sourceCloneFolder: string;
  readonly configMapName: string;
  readonly leaderLeaseName: string;
  readonly leaderLeaseDuration: number;
  readonly leaderLeaseGrace: number;
  readonly metricsPrefix: string;
  readonly hooksRrlGlobal?: RateLimit;
  readonly hooksRrlTrigger?: RateLimit;
  readonly hooksRrlSource?: RateLimit;
  readonly tlsCertPath?: string;
  readonly tlsKeyPath?: string;
  readonly tlsSecretName?: string;
  readonly tlsSecretNamespace?: string;
  readonly logFormat: LogFormat;
  readonly jsonLogs?: boolean;
  readonly logLevel: LogLevel;
  readonly perHostParallelism: number;
  readonly gitTimeoutSeconds: number;
  readonly shutdownTimeoutSeconds: number;
  readonly namespace?: string;
}

/**
 * Adds the `run` command's options to `cmd` (the original's flags, same names and defaults, plus
 * logging, git and shutdown settings). Values are parsed and range-checked as they are read; flags
 * that depend on each other are checked by toRunOptions.
 */
export function addRunOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('-w, --webhooks-port <port>', 'port of the webhook HTTP(S) server').default(8080).argParser(port),
    )
    .addOption(
      new Option('-u, --utility-port <port>', 'port of the utility server: health probes and Prometheus metrics')
        .default(3000)
        .argParser(port),
    )
    .addOption(
      new Option('--webhooks-parallelism <n>', 'webhook-triggered checks run at once (1-255); more wait')
        .default(16)
        .argParser(parallelism),
    )
    .addOption(
      new Option(
        '--webhooks-max-pending <n>',
        'webhook checks that may wait for their turn (1-1000000); while more wait, the webhook server answers 503 with Retry-After instead of queueing more',
      )
        .default(1000)
        .argParser(backlog),
    )
    .addOption(
      new Option(
        '--webhooks-ack <mode>',
        "when a webhook request is answered 202: 'recorded' once the webhook journal (ConfigMap <config-map-name>-journal) lists it (a replica that dies before its check leaves it for the leader to replay: nothing accepted is lost); 'immediate' at once, recording it only if its check takes longer than 200 ms (faster answers; a replica killed before the record loses it)",
      )
        .choices(WEBHOOKS_ACK_MODES)
        .default('recorded'),
    )
    .addOption(
      new Option(
        '--webhooks-replay-after <seconds>',
        'seconds after which the leader checks again an accepted webhook request whose check has not ended (its replica stopped), with the same run key (5-3600)',
      )
        .default(60)
        .argParser(seconds(5, 3600)),
    )
    .addOption(
      new Option('--schedule-parallelism <n>', 'scheduled checks run at once (1-255); more wait')
        .default(16)
        .argParser(parallelism),
    )
    .addOption(
      new Option(
        '--secrets-cache-time <seconds>',
        'seconds a watched Secret (webhook tokens, git credentials) stays cached after its last use before it is forgotten (values below 60 count as 60); Secrets are watched, so changes apply at once',
      )
        .default(60)
        .argParser(seconds(1)),
    )
    .addOption(
      new Option('--source-clone-folder <path>', 'directory for the git caches of the sources checked')
        .default('/tmp/git-events-runner')
        .argParser(nonEmpty),
    )
    .addOption(
      new Option(
        '--config-map-name <name>',
        "name of the ConfigMap (in the controller's namespace) whose runtimeConfig key holds the runtime configuration",
      )
        .default('git-events-runner-config')
        .argParser(subdomain),
    )
    .addOption(
      new Option(
        '--leader-lease-name <name>',
        "name of the Lease (in the controller's namespace) used to elect the leader",
      )
        .default('git-events-runner-leader-lock')
        .argParser(subdomain),
    )
    .addOption(
      new Option('--leader-lease-duration <seconds>', 'seconds a leader holds the Lease without renewing it (1-300)')
        .default(30)
        .argParser(seconds(1, 300)),
    )
    .addOption(
      new Option(
        '--leader-lease-grace <seconds>',
        'seconds before the Lease expires at which the leader renews it (1-300, less than --leader-lease-duration)',
      )
        .default(5)
        .argParser(seconds(1, 300)),
    )
    .addOption(
      new Option('--metrics-prefix <prefix>', 'prefix of every Prometheus metric name')
        .default('git_events_runner')
        .argParser(
          parser((v) => {
            if (!METRIC_PREFIX.test(v)) {
              throw new FlagsError('InvalidValue', 'must be a Prometheus metric name: letters, digits, _ and :');
            }
            return v;
          }),
        ),
    )
    .addOption(
      new Option(
        '--hooks-rrl-global <N/S>',
        'rate limit of all webhook requests: N requests per S seconds (burst N, one more every S/N s); default unlimited',
      ).argParser(parser(parseRateLimit)),
    )
    .addOption(
      new Option(
        '--hooks-rrl-trigger <N/S>',
        'rate limit of webhook requests per trigger (N/S); default unlimited',
      ).argParser(parser(parseRateLimit)),
    )
    .addOption(
      new Option(
        '--hooks-rrl-source <N/S>',
        'rate limit of webhook requests per trigger source (N/S); default unlimited',
      ).argParser(parser(parseRateLimit)),
    )
    .addOption(
      new Option(
        '--tls-cert-path <path>',
        'PEM certificate (chain) of the webhook server; needs --tls-key-path',
      ).argParser(nonEmpty),
    )
    .addOption(
      new Option('--tls-key-path <path>', 'PEM private key of the webhook server; needs --tls-cert-path').argParser(
        nonEmpty,
      ),
    )
    .addOption(
      new Option(
        '--tls-secret-name <name>',
        'TLS Secret (keys tls.crt, tls.key) of the webhook server, instead of --tls-cert-path/--tls-key-path',
      ).argParser(subdomain),
    )
    .addOption(
      new Option(
        '--tls-secret-namespace <namespace>',
        "namespace of --tls-secret-name (default: the controller's namespace)",
      ).argParser(label),
    )
    .addOption(new Option('--log-format <format>', 'log output format').choices(LOG_FORMATS).default('json'))
    .addOption(
      new Option('-j, --json-logs', 'same as --log-format json (kept for compatibility)')
        .hideHelp()
        .conflicts('logFormat'),
    )
    .addOption(new Option('--log-level <level>', 'least severe level logged').choices(LOG_LEVELS).default('info'))
    .addOption(
      new Option('--per-host-parallelism <n>', 'git checks run at once against one git host (1-255)')
        .default(4)
        .argParser(parallelism),
    )
    .addOption(
      new Option('--git-timeout-seconds <seconds>', 'time limit of one git operation (check or fetch), 1-3600')
        .default(60)
        .argParser(seconds(1, 3600)),
    )
    .addOption(
      new Option(
        '--shutdown-timeout-seconds <seconds>',
        'on SIGTERM, time allowed to finish running checks and requests before exiting (1-3600); keep it below the pod terminationGracePeriodSeconds',
      )
        .default(25)
        .argParser(seconds(1, 3600)),
    )
    .addOption(
      new Option(
        '-n, --namespace <namespace>',
        "the controller's namespace: its ConfigMap, Lease and default TLS Secret live there",
      )
        .default(undefined, "$POD_NAMESPACE, else the pod's service account namespace, else default")
        .argParser(label),
    );
}

/** Where toRunOptions looks up the controller's namespace; injectable for tests. */
export interface RunEnvironment {
  /** Environment variables (POD_NAMESPACE). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Reads a text file; throws when it does not exist. */
  readonly readFile: (path: string) => string;
}

/** The real environment: process.env and the file system. */
export function processEnvironment(): RunEnvironment {
  return { env: process.env, readFile: (path) => readFileSync(path, 'utf8') };
}

/** Service account namespace file of a pod. */
export const SERVICE_ACCOUNT_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** TLS of the webhook server: PEM files, or a kubernetes.io/tls Secret. */
export type TlsOptions =
  | { readonly source: 'files'; readonly certPath: string; readonly keyPath: string }
  | { readonly source: 'secret'; readonly name: string; readonly namespace: string };

/** Settings of `git-events-runner run`, validated, defaulted and deep-frozen. */
export interface RunOptions {
  readonly webhooksPort: number;
  readonly utilityPort: number;
  readonly webhooksParallelism: number;
  /** Webhook checks that may wait; beyond it the webhook server sheds load with 503. */
  readonly webhooksMaxPending: number;
  /** Whether a 202 waits for the request to be recorded in the webhook journal. */
  readonly webhooksAck: WebhooksAck;
  /** Age after which the leader replays an accepted request whose check has not ended. */
  readonly webhooksReplayAfterSeconds: number;
  readonly scheduleParallelism: number;
  /** Idle seconds after which a watched Secret is dropped from the cache (was a plain TTL in the original). */
  readonly secretsCacheTimeSeconds: number;
  readonly sourceCloneFolder: string;
  readonly configMapName: string;
  readonly leaderLease: {
    readonly name: string;
    readonly durationSeconds: number;
    readonly graceSeconds: number;
  };
  readonly metricsPrefix: string;
  /** Webhook rate limits; an absent one is unlimited. */
  readonly rateLimits: {
    readonly global?: RateLimit;
    readonly trigger?: RateLimit;
    readonly source?: RateLimit;
  };
  /** Absent: plain HTTP. */
  readonly tls?: TlsOptions;
  readonly log: { readonly format: LogFormat; readonly level: LogLevel };
  readonly perHostParallelism: number;
  readonly gitTimeoutSeconds: number;
  readonly shutdownTimeoutSeconds: number;
  /** The controller's own namespace. */
  readonly namespace: string;
}

function resolveNamespace(flag: string | undefined, environment: RunEnvironment): string {
  if (flag !== undefined) return flag;
  const fromEnv = environment.env.POD_NAMESPACE?.trim();
  let namespace = fromEnv !== undefined && fromEnv !== '' ? fromEnv : undefined;
  let origin = 'POD_NAMESPACE';
  if (namespace === undefined) {
    try {
      const fromFile = environment.readFile(SERVICE_ACCOUNT_NAMESPACE_FILE).trim();
      if (fromFile !== '') {
        namespace = fromFile;
        origin = SERVICE_ACCOUNT_NAMESPACE_FILE;
      }
    } catch {
      // Not in a pod.
    }
  }
  if (namespace === undefined) return 'default';
  if (!DNS_LABEL.test(namespace) || namespace.length > 63) {
    throw new FlagsError('InvalidFlags', `the namespace from ${origin} is not a valid namespace name`);
  }
  return namespace;
}

function resolveTls(flags: RunFlags, namespace: string): TlsOptions | undefined {
  const files = flags.tlsCertPath !== undefined || flags.tlsKeyPath !== undefined;
  const secret = flags.tlsSecretName !== undefined;
  if (files && secret) {
    throw new FlagsError(
      'InvalidFlags',
      '--tls-cert-path/--tls-key-path and --tls-secret-name are mutually exclusive: give one form of TLS',
    );
  }
  if (flags.tlsSecretNamespace !== undefined && !secret) {
    throw new FlagsError('InvalidFlags', '--tls-secret-namespace needs --tls-secret-name');
  }
  if (files) {
    if (flags.tlsCertPath === undefined || flags.tlsKeyPath === undefined) {
      throw new FlagsError('InvalidFlags', '--tls-cert-path and --tls-key-path must be given together');
    }
    return { source: 'files', certPath: flags.tlsCertPath, keyPath: flags.tlsKeyPath };
  }
  if (flags.tlsSecretName !== undefined) {
    return { source: 'secret', name: flags.tlsSecretName, namespace: flags.tlsSecretNamespace ?? namespace };
  }
  return undefined;
}

/**
 * Turns parsed `run` flags into RunOptions: checks the flags that depend on each other and resolves
 * the controller's namespace (--namespace, else $POD_NAMESPACE, else the pod's service account
 * namespace file, else `default`).
 * @throws FlagsError `InvalidFlags` when flags contradict each other.
 */
export function toRunOptions(flags: RunFlags, environment: RunEnvironment): RunOptions {
  if (flags.leaderLeaseGrace >= flags.leaderLeaseDuration) {
    throw new FlagsError(
      'InvalidFlags',
      `--leader-lease-grace (${flags.leaderLeaseGrace}) must be less than --leader-lease-duration (${flags.leaderLeaseDuration})`,
    );
  }
  if (flags.webhooksPort === flags.utilityPort) {
    throw new FlagsError('InvalidFlags', `--webhooks-port and --utility-port are both ${flags.webhooksPort}`);
  }
  const namespace = resolveNamespace(flags.namespace, environment);
  const tls = resolveTls(flags, namespace);
  const options: RunOptions = {
    webhooksPort: flags.webhooksPort,
    utilityPort: flags.utilityPort,
    webhooksParallelism: flags.webhooksParallelism,
    webhooksMaxPending: flags.webhooksMaxPending,
    webhooksAck: flags.webhooksAck,
    webhooksReplayAfterSeconds: flags.webhooksReplayAfter,
    scheduleParallelism: flags.scheduleParallelism,
    secretsCacheTimeSeconds: flags.secretsCacheTime,
    sourceCloneFolder: flags.sourceCloneFolder,
    configMapName: flags.configMapName,
    leaderLease: {
      name: flags.leaderLeaseName,
      durationSeconds: flags.leaderLeaseDuration,
      graceSeconds: flags.leaderLeaseGrace,
    },
    metricsPrefix: flags.metricsPrefix,
    rateLimits: {
      ...(flags.hooksRrlGlobal === undefined ? {} : { global: { ...flags.hooksRrlGlobal } }),
      ...(flags.hooksRrlTrigger === undefined ? {} : { trigger: { ...flags.hooksRrlTrigger } }),
      ...(flags.hooksRrlSource === undefined ? {} : { source: { ...flags.hooksRrlSource } }),
    },
    ...(tls === undefined ? {} : { tls }),
    log: { format: flags.jsonLogs === true ? 'json' : flags.logFormat, level: flags.logLevel },
    perHostParallelism: flags.perHostParallelism,
    gitTimeoutSeconds: flags.gitTimeoutSeconds,
    shutdownTimeoutSeconds: flags.shutdownTimeoutSeconds,
    namespace,
  };
  return deepFreeze(options);
}

import { readFile } from 'node:fs/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import { Command, InvalidArgumentError, Option } from 'commander';
import { AdmissionError } from './errors.js';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from './log-options.js';
import { parseBaseUrl, parseServiceRef, renderWebhookManifests, type WebhookTarget } from './manifests.js';
import { defaultPolicy, loadPolicyFile } from './policy.js';
import type { AdmissionServer } from './server.js';

/** Where the CLI writes, how it reaches Kubernetes, and its environment; injectable for tests. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Loads the Kubernetes client configuration (KUBECONFIG, in-cluster or ~/.kube/config by default). */
  readonly kubeConfig?: () => KubeConfig;
  readonly env?: NodeJS.ProcessEnv;
}

/** An error the CLI reports in one line, with an exit code (1: cannot run, 2: usage). */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly exitCode: number;

  constructor(exitCode: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.exitCode = exitCode;
  }
}

const defaultIo: CliIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

// The server's modules (fastify, the Kubernetes client, pino) load only for `serve`, so `manifests` starts fast.
async function loadKubeConfig(): Promise<KubeConfig> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

function port(value: string, min = 0): number {
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > 65535)
    throw new InvalidArgumentError(`must be a port from ${min} to 65535`);
  return n;
}

function seconds(value: string): number {
  const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= 0.1 && n <= 3600)) throw new InvalidArgumentError('must be a number of seconds from 0.1 to 3600');
  return n;
}

interface ServeFlags {
  port: number;
  host?: string;
  tlsCertPath: string;
  tlsKeyPath: string;
  config?: string;
  logFormat: LogFormat;
  logLevel: LogLevel;
  tlsReloadInterval: number;
}

interface ManifestFlags {
  url?: string;
  service?: string;
  caBundleFile?: string;
  port: number;
}

/** Builds the `git-events-admission` command line. Nothing runs until `parseAsync` is called. */
export function buildProgram(io: CliIo = defaultIo): Command {
  const env = io.env ?? process.env;
  const program = new Command('git-events-admission')
    .description(
      'Admission server of git-events-runner: validating and mutating webhooks for the six git-events-runner.rs kinds.',
    )
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .exitOverride();

  const serve = program
    .command('serve')
    .description('Serve POST /validate and /mutate (AdmissionReview v1), GET /healthz and /metrics over HTTPS.')
    .addOption(new Option('--port <n>', 'port to listen on (0: any free port)').default(8443).argParser((v) => port(v)))
    .addOption(new Option('--host <addr>', 'address to listen on (default 0.0.0.0, or $GER_LISTEN_HOST)'))
    .requiredOption('--tls-cert-path <file>', 'PEM certificate chain; re-read when the file changes')
    .requiredOption('--tls-key-path <file>', 'PEM private key; re-read when the file changes')
    .option('--config <file>', 'YAML policy file (see docs/admission.md); defaults apply without it')
    .addOption(new Option('--log-format <format>', 'log format').choices(LOG_FORMATS).default('json'))
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default('info'))
    .addOption(
      new Option('--tls-reload-interval <seconds>', 'how often the certificate files are checked for changes')
        .default(5)
        .argParser(seconds),
    )
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  serve.action(async (flags: ServeFlags) => {
    const [{ createLogger }, { startAdmissionServer }] = await Promise.all([
      import('./logger.js'),
      import('./server.js'),
    ]);
    const log = createLogger(flags.logFormat, flags.logLevel);
    let policy = defaultPolicy();
    let kc: KubeConfig;
    try {
      if (flags.config !== undefined) policy = await loadPolicyFile(flags.config);
      kc = io.kubeConfig !== undefined ? io.kubeConfig() : await loadKubeConfig();
    } catch (err: unknown) {
      if (err instanceof AdmissionError) throw new CliError(1, err.message, { cause: err });
      throw new CliError(
        1,
        `cannot load the Kubernetes client configuration: ${err instanceof Error ? err.message : String(err)}`,
        {
          cause: err,
        },
      );
    }
    let server: AdmissionServer;
    try {
      server = await startAdmissionServer({
        kubeConfig: kc,
        tlsCertPath: flags.tlsCertPath,
        tlsKeyPath: flags.tlsKeyPath,
        port: flags.port,
        host: flags.host ?? env.GER_LISTEN_HOST ?? '0.0.0.0',
        policy,
        logger: log,
        tlsReloadMs: flags.tlsReloadInterval * 1000,
      });
    } catch (err: unknown) {
      if (err instanceof AdmissionError) throw new CliError(1, err.message, { cause: err });
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
        throw new CliError(1, `cannot listen on port ${flags.port}: ${code}`, { cause: err });
      }
      throw err;
    }
    log.info({ policy }, 'policy in force');
    await new Promise<void>((resolve) => {
      for (const signal of ['SIGTERM', 'SIGINT'] as const) {
        process.once(signal, () => {
          log.info({ signal }, 'signal received');
          server.stop().then(resolve, (err: unknown) => {
            log.error({ err: err instanceof Error ? err.message : String(err) }, 'shutdown failed');
            resolve();
          });
        });
      }
    });
  });

  const manifests = program
    .command('manifests')
    .description(
      'Print the ValidatingWebhookConfiguration and MutatingWebhookConfiguration (YAML) that make kube-apiserver call the server.',
    )
    .addOption(
      new Option('--url <https-base>', 'base URL of the server, e.g. https://127.0.0.1:8443').conflicts('service'),
    )
    .addOption(new Option('--service <namespace/name>', 'Service in front of the server').conflicts('url'))
    .option(
      '--ca-bundle-file <pem>',
      'CA certificate(s) that signed the serving certificate (else left to an injector)',
    )
    .addOption(new Option('--port <n>', 'Service port (with --service)').default(443).argParser((v) => port(v, 1)))
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  manifests.action(async (flags: ManifestFlags) => {
    let target: WebhookTarget;
    try {
      if (flags.url !== undefined) target = { url: parseBaseUrl(flags.url) };
      else if (flags.service !== undefined)
        target = { service: { ...parseServiceRef(flags.service), port: flags.port } };
      else throw new AdmissionError('InvalidFlags', 'one of --url or --service is required');
    } catch (err: unknown) {
      if (err instanceof AdmissionError) manifests.error(`error: ${err.message}`, { exitCode: 2 });
      throw err;
    }
    let caBundle: string | undefined;
    if (flags.caBundleFile !== undefined) {
      try {
        caBundle = await readFile(flags.caBundleFile, 'utf8');
      } catch (err: unknown) {
        const reason = (err as NodeJS.ErrnoException).code ?? String(err);
        throw new CliError(1, `--ca-bundle-file ${flags.caBundleFile}: cannot read it (${reason})`, { cause: err });
      }
      if (!caBundle.includes('-----BEGIN CERTIFICATE-----')) {
        throw new CliError(1, `--ca-bundle-file ${flags.caBundleFile}: no PEM certificate in it`);
      }
    }
    io.stdout(renderWebhookManifests({ target, ...(caBundle !== undefined ? { caBundle } : {}) }));
  });

  return program;
}

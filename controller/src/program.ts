import { renderCrdsYaml } from '@git-events-runner/shared';
import { isGitError, type RefSelector } from '@git-events-runner/shared/git';
import { KubeConfig } from '@kubernetes/client-node';
import { Command, InvalidArgumentError, Option } from 'commander';
import { jobNamespace, runClone } from './clone.js';
import {
  addRunOptions,
  controllerVersion,
  defaultRuntimeConfig,
  FlagsError,
  processEnvironment,
  type RunFlags,
  renderRuntimeConfig,
  toRunOptions,
} from './config/index.js';
import { startController } from './runtime/controller.js';
import { withConnectionReuse } from './runtime/kubeconfig.js';
import { createLogger } from './runtime/logger.js';
import { SourceError } from './sources/errors.js';

/** Where the CLI writes and how it reaches Kubernetes; injectable so tests run it in-process. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Loads the Kubernetes client configuration (in-cluster, KUBECONFIG or ~/.kube/config by default). */
  readonly kubeConfig?: () => KubeConfig;
}

/** An error the CLI reports in one line, with an exit code. */
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

function loadKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

// An empty --source would make the cloner GET the namespace's GitRepo collection and report it as an
// invalid GitRepo; an empty --destination would clone into the working directory.
function nonEmpty(value: string): string {
  if (value === '') throw new InvalidArgumentError('must not be empty');
  return value;
}

interface CloneFlags {
  kind: 'GitRepo' | 'ClusterGitRepo';
  source: string;
  branch?: string;
  tag?: string;
  commit?: string;
  destination: string;
  preserveGitFolder?: boolean;
  debug?: boolean;
  namespace?: string;
}

/** Builds the `git-events-runner` command line. Nothing runs until `parseAsync` is called. */
export function buildProgram(io: CliIo = defaultIo): Command {
  const program = new Command('git-events-runner')
    .description('Kubernetes operator: runs Jobs with a Git repository content on changes, schedules and webhooks.')
    .version(controllerVersion(), '-V, --version', 'print the version')
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .exitOverride();

  program
    .command('crds')
    .description('Print the six CustomResourceDefinitions as multi-document YAML (kubectl apply -f -).')
    .action(() => {
      io.stdout(renderCrdsYaml());
    });

  program
    .command('config')
    .description('Print the default runtime configuration (the runtimeConfig key of the runtime ConfigMap) as YAML.')
    .option('-t, --helm-template', "print the Helm chart's template of it instead")
    .action((flags: { helmTemplate?: boolean }) => {
      io.stdout(renderRuntimeConfig({ helmTemplate: flags.helmTemplate === true }));
    });

  const run = addRunOptions(
    program
      .command('run')
      .description(
        'Run the controller: watch triggers, check sources, launch Jobs; probes and metrics on the utility port.',
      ),
  );
  run.action(async (flags: RunFlags) => {
    let options: ReturnType<typeof toRunOptions>;
    try {
      options = toRunOptions(flags, processEnvironment());
    } catch (err: unknown) {
      if (err instanceof FlagsError) run.error(`error: ${err.message}`, { exitCode: 2 });
      throw err;
    }
    const log = createLogger(options.log.format, options.log.level);
    const kc = withConnectionReuse((io.kubeConfig ?? loadKubeConfig)());
    const env = process.env;
    const proxyEnv = {
      HTTPS_PROXY: env.HTTPS_PROXY ?? env.https_proxy,
      HTTP_PROXY: env.HTTP_PROXY ?? env.http_proxy,
      NO_PROXY: env.NO_PROXY ?? env.no_proxy,
    };
    const otel = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('OTEL_')));
    const controller = await startController(kc, options, log, defaultRuntimeConfig(), {
      proxyEnv,
      env: otel,
      ...(env.GER_LISTEN_HOST !== undefined ? { listenHost: env.GER_LISTEN_HOST } : {}),
    });
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => {
        log.info({ signal }, 'signal received');
        controller.stop().catch((err: unknown) => log.error({ err: String(err) }, 'shutdown failed'));
      });
    }
    await controller.done;
    // Everything was stopped and flushed; a handle some library still holds open must not keep the
    // process (and its Pod) alive until SIGKILL.
    setTimeout(() => {
      // What they are (e.g. TCPSocketWrap, Timeout), so the holder can be found.
      log.warn({ handles: process.getActiveResourcesInfo() }, 'handles still open after shutdown; exiting');
      process.exit(0);
    }, 3000).unref();
  });

  const clone = program
    .command('clone')
    .description(
      "Clone one commit of a GitRepo or ClusterGitRepo into a directory: the action Job's init container. Reads the source and its Secrets with the Job's service account.",
    )
    .addOption(
      new Option('-k, --kind <kind>', 'kind of the source')
        .choices(['GitRepo', 'ClusterGitRepo'])
        .makeOptionMandatory(),
    )
    .addOption(new Option('-s, --source <name>', 'name of the source').makeOptionMandatory().argParser(nonEmpty))
    .addOption(new Option('-b, --branch <branch>', 'branch to clone').conflicts(['tag', 'commit']).argParser(nonEmpty))
    .addOption(new Option('-t, --tag <tag>', 'tag to clone').conflicts(['branch', 'commit']).argParser(nonEmpty))
    .addOption(new Option('-c, --commit <sha>', 'commit to clone').conflicts(['branch', 'tag']).argParser(nonEmpty))
    .addOption(
      new Option('-d, --destination <dir>', 'empty or missing directory to clone into')
        .makeOptionMandatory()
        .argParser(nonEmpty),
    )
    .option('-p, --preserve-git-folder', 'keep the .git folder (HEAD at the commit, clean status)')
    .option('--debug', 'print progress on stderr')
    .option(
      '-n, --namespace <namespace>',
      "namespace of the Job and GitRepo (default: the pod's, else the kubeconfig's)",
      nonEmpty,
    )
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  clone.action(async (flags: CloneFlags) => {
    const ref: RefSelector | undefined =
      flags.branch !== undefined
        ? { branch: flags.branch }
        : flags.tag !== undefined
          ? { tag: flags.tag }
          : flags.commit !== undefined
            ? { commit: flags.commit }
            : undefined;
    if (ref === undefined) clone.error('error: one of --branch, --tag or --commit is required', { exitCode: 2 });
    const kc = (io.kubeConfig ?? loadKubeConfig)();
    const log = flags.debug === true ? (line: string) => io.stderr(`clone: ${line}\n`) : undefined;
    try {
      await runClone(
        kc,
        {
          kind: flags.kind,
          source: flags.source,
          ref: ref as RefSelector,
          destination: flags.destination,
          preserveGitFolder: flags.preserveGitFolder === true,
          namespace: flags.namespace ?? jobNamespace(kc),
        },
        log,
      );
    } catch (err: unknown) {
      if (isGitError(err) || err instanceof SourceError) throw new CliError(1, err.message, { cause: err });
      throw err;
    }
  });

  return program;
}

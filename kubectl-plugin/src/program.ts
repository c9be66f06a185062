import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { firstLine, PluginError } from './errors.js';
import { DEFAULT_SERVICE, SERVICE_ENV } from './fire/request.js';
import { FIRE_FORMATS, parseFormat, STATUS_FORMATS } from './format/output.js';
import { parseDuration } from './format/time.js';
import type { Io } from './io.js';
import type { ConnectionFlags, Kube } from './kube/client.js';

/** The name kubectl shows (the executable is `kubectl-git_events`). */
export const COMMAND_NAME = 'kubectl git-events';

const STATUS_EXAMPLES = `
Examples:
  # Triggers of the current namespace: state, readiness, last run, and per source the commit and last Job
  kubectl git-events status

  # Every namespace, with the action, policy, errors and messages
  kubectl git-events status -A -o wide

  # One trigger in detail, with its recent Jobs and Events
  kubectl git-events status -n ci deploy

  # The same as JSON, for scripts
  kubectl git-events status -n ci wtrig/deploy -o json
`;

const FIRE_EXAMPLES = `
Examples:
  # Fire a WebhookTrigger through the API server (token read from the trigger's Secret) and wait for its Jobs
  kubectl git-events fire -n ci deploy --wait

  # Check one source only; the token from an environment variable (never printed)
  DEPLOY_TOKEN=... kubectl git-events fire -n ci deploy app-repo --token-env DEPLOY_TOKEN

  # Reach the webhook server directly instead of through the API server
  kubectl git-events fire -n ci deploy --url https://hooks.example.com

  # Ask the controller to run a ScheduleTrigger now (run-now annotation) and follow the run
  kubectl git-events fire -n ci strig/nightly --wait --timeout 10m
`;

const MAIN_EXAMPLES = `
Examples:
  kubectl git-events status -A
  kubectl git-events fire -n ci deploy --wait

Flags follow kubectl's: --kubeconfig, --context, -n/--namespace may come before or after the command.
Colour is used on a terminal only, never with NO_COLOR set. Exit code 0 on success, 1 on any error.
`;

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

type GlobalFlags = ConnectionFlags;

/** Replaceable parts for tests; the defaults talk to the cluster of the kubeconfig. */
export interface ProgramDeps {
  readonly connect?: (flags: ConnectionFlags, env: Io['env']) => Kube;
}

// The API client is large to load: only commands that talk to a cluster load it (help stays instant).
async function connectDefault(flags: ConnectionFlags, env: Io['env']): Promise<Kube> {
  const { connect } = await import('./kube/client.js');
  return connect(flags, env);
}

/** Builds the command line of the plugin; actions write through `io`. */
export function buildProgram(io: Io, deps: ProgramDeps = {}): Command {
  const open = async (flags: GlobalFlags) =>
    deps.connect === undefined ? connectDefault(flags, io.env) : deps.connect(flags, io.env);
  const program = new Command(COMMAND_NAME)
    .description('Show git-events-runner triggers and fire them by hand (a kubectl plugin).')
    .version(version(), '--version', 'print the plugin version')
    .option('--kubeconfig <path>', 'path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'the kubeconfig context to use')
    .option('-n, --namespace <namespace>', "namespace (default: the context's namespace, else default)")
    .configureHelp({ showGlobalOptions: true })
    .addHelpText('after', MAIN_EXAMPLES)
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout(s),
      writeErr: (s) => io.stderr(s),
      // One line, kubectl's "error: ..." form.
      outputError: (s, write) => write(`${s.trim().split('\n')[0]}\n`),
    });

  program
    .command('status')
    .summary('show triggers: state, readiness, last run, and per source the commit and last Job')
    .description(
      'Show ScheduleTriggers and WebhookTriggers: state, Ready reason, schedule or webhook path, last run, and per source the ref, commit, last change, last Job and its phase. With TRIGGER ([KIND/]NAME): one trigger in detail with its recent Jobs and Events.',
    )
    .argument('[trigger]', 'one trigger: NAME or KIND/NAME (strig/NAME, wtrig/NAME)')
    .option('-A, --all-namespaces', 'list the triggers of every namespace')
    .option('-l, --selector <selector>', 'label selector, e.g. team=web')
    .option('-o, --output <format>', `output format: ${STATUS_FORMATS.join('|')}`, 'table')
    .addHelpText('after', STATUS_EXAMPLES)
    .action(
      async (
        trigger: string | undefined,
        flags: { allNamespaces?: boolean; selector?: string; output: string },
        cmd: Command,
      ) => {
        const output = parseFormat(flags.output, STATUS_FORMATS);
        const kube = await open(cmd.optsWithGlobals<GlobalFlags>());
        const { runStatus } = await import('./status/command.js');
        await runStatus(
          kube,
          {
            ...(trigger === undefined ? {} : { trigger }),
            allNamespaces: flags.allNamespaces === true,
            output,
            ...(flags.selector === undefined ? {} : { selector: flags.selector }),
          },
          io,
        );
      },
    );

  program
    .command('fire')
    .summary('fire a WebhookTrigger, or run a ScheduleTrigger now; --wait follows its Jobs')
    .description(
      `Fire a trigger now. A WebhookTrigger gets its webhook, sent through the API server's service proxy to the webhook Service (default ${DEFAULT_SERVICE}, or $${SERVICE_ENV}) or straight to --url; the token comes from --token/--token-env, else from the trigger's Secret. A ScheduleTrigger gets the run-now annotation. Prints the task id; --wait follows the check and its Jobs to the end.`,
    )
    .argument('<trigger>', 'NAME or KIND/NAME (strig/NAME, wtrig/NAME)')
    .argument(
      '[source]',
      "one source of a WebhookTrigger (default: every source with multiSource, else the trigger's only source)",
    )
    .addOption(
      new Option(
        '--service <[https:]namespace/name[:port]>',
        'webhook Service reached through the API server',
      ).conflicts('url'),
    )
    .option('--url <url>', 'base URL of the webhook server, reached directly (e.g. http://127.0.0.1:8080)')
    .addOption(
      new Option(
        '--token <token>',
        'the webhook token (visible to other local users in the process list: prefer --token-env)',
      ).conflicts('tokenEnv'),
    )
    .option('--token-env <var>', 'read the webhook token from this environment variable')
    .option(
      '--auth-header <name>',
      "token header when the trigger names none (the controller's default)",
      'x-trigger-auth',
    )
    .option('-w, --wait', 'follow the check, then its Jobs, until they finish; exit 1 if one fails')
    .option('--timeout <duration>', 'how long --wait waits, e.g. 30s, 5m, 1h', '5m')
    .option('-o, --output <format>', `output format: ${FIRE_FORMATS.join('|')}`, 'text')
    .addHelpText('after', FIRE_EXAMPLES)
    .action(
      async (
        trigger: string,
        source: string | undefined,
        flags: {
          service?: string;
          url?: string;
          token?: string;
          tokenEnv?: string;
          authHeader: string;
          wait?: boolean;
          timeout: string;
          output: string;
        },
        cmd: Command,
      ) => {
        const output = parseFormat(flags.output, FIRE_FORMATS);
        const timeoutMs = parseDuration(flags.timeout, '--timeout');
        if (flags.token === '') throw new PluginError('Usage', '--token is empty');
        const kube = await open(cmd.optsWithGlobals<GlobalFlags>());
        const { runFire } = await import('./fire/command.js');
        await runFire(
          kube,
          {
            trigger,
            ...(source === undefined ? {} : { source }),
            ...(flags.service === undefined ? {} : { service: flags.service }),
            ...(flags.url === undefined ? {} : { url: flags.url }),
            ...(flags.token === undefined ? {} : { token: flags.token }),
            ...(flags.tokenEnv === undefined ? {} : { tokenEnv: flags.tokenEnv }),
            authHeader: flags.authHeader,
            wait: flags.wait === true,
            timeoutMs,
            output,
          },
          io,
        );
      },
    );
  return program;
}

/**
 * kubectl (pflag) reads `-o=json` and `-n=ci` as the value after `=`; commander would keep the `=`.
 * Splits such short flags in two, up to a `--`.
 */
export function kubectlStyleArgs(argv: readonly string[]): string[] {
  const end = argv.indexOf('--');
  const flags = end < 0 ? argv : argv.slice(0, end);
  const rest = end < 0 ? [] : argv.slice(end);
  return [
    ...flags.flatMap((arg) => {
      const m = /^-([A-Za-z])=(.*)$/s.exec(arg);
      return m === null ? [arg] : [`-${m[1]}`, m[2] ?? ''];
    }),
    ...rest,
  ];
}

/**
 * Runs the plugin with arguments (without `node` and the script) and returns the exit code: 0 on
 * success, 1 on any error, which is printed on stderr in one line without a stack trace.
 */
export async function main(argv: readonly string[], io: Io, deps: ProgramDeps = {}): Promise<number> {
  const program = buildProgram(io, deps);
  try {
    await program.parseAsync(kubectlStyleArgs(argv), { from: 'user' });
    return 0;
  } catch (err: unknown) {
    if (err instanceof CommanderError) {
      // Help and --version end with exit code 0; usage errors were printed by commander.
      return err.exitCode === 0 ? 0 : 1;
    }
    const message = err instanceof PluginError ? err.message : `unexpected error: ${firstLine(err)}`;
    io.stderr(`error: ${message.replaceAll(/\s*\n\s*/g, ' ')}\n`);
    return 1;
  }
}

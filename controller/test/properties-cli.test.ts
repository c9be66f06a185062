import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { propertySeed } from '@git-events-runner/shared/testing';
import { KubeConfig } from '@kubernetes/client-node';
import { CommanderError } from 'commander';
import fc from 'fast-check';
import t from 'tap';
import { buildProgram, CliError } from '../src/index.js';

// Hostile input for the cloner's command line (issue 9): `git-events-runner clone` runs as the action Job's
// init container with arguments built from Action and trigger fields. Random command lines, run against the
// test control plane, must end in a usage error (exit 2), a one-line runtime error naming the source
// (exit 1) or help (exit 0): never an unexplained exception, never a hang.

// A fixed seed keeps CI deterministic; FC_SEED explores others. fast-check prints seed and path on failure.
// Hangs are caught per call (budgets below); the overall limit only shortens a run on a very busy machine.
const { seed: SEED, runs } = propertySeed(0xc10e);
t.comment(`fast-check seed ${SEED} (set FC_SEED to replay another)`);

// The control plane started by the test runner (e2e/src/run-tests.ts); the controller's tests cannot use the
// e2e harness, which depends on this package.
const kubeconfig = process.env.GER_KUBECONFIG;
if (kubeconfig === undefined) throw new Error('GER_KUBECONFIG is not set: run the tests with "npm test"');
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig);

// Names as Actions and triggers might carry them, valid or not, including ones that look like options.
const name = fc.oneof(
  fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/),
  fc.constantFrom('', '-', '--', '-x', '--source', '../../etc', 'a/b', 'a b', 'x'.repeat(300), 'ünïcode', '%2e%2e'),
  fc.string({ maxLength: 20 }),
);
const option = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.tuple(
      fc.constantFrom('-k', '--kind'),
      fc.oneof(fc.constantFrom('GitRepo', 'ClusterGitRepo', 'gitrepo', 'Secret', ''), name),
    ),
  },
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom('-s', '--source'), name) },
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom('-b', '--branch', '-t', '--tag', '-c', '--commit'), name) },
  {
    weight: 3,
    arbitrary: fc.tuple(
      fc.constantFrom('-d', '--destination'),
      fc.constantFrom('/nonexistent/clone-target', '', '-', 'relative/dir'),
    ),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(
      fc.constantFrom('-n', '--namespace'),
      fc.oneof(fc.constantFrom('clone-props-none', 'default', 'kube-system'), name),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      ['-p'],
      ['--preserve-git-folder'],
      ['--debug'],
      ['--debug=1'],
      ['--'],
      ['extra'],
      ['--unknown'],
      ['-h'],
    ),
  },
  { weight: 1, arbitrary: name.map((v) => [`--source=${v}`]) },
);
// Always `clone` (the other subcommands print or, for `run`, start a controller), sometimes with garbage before.
const argv = fc
  .tuple(
    fc.constantFrom([], [], [], ['--bogus'], ['help'], ['nope']),
    fc.array(option, { maxLength: 9 }),
    // A complete, valid-looking request so that the API-server path is reached often, not just usage errors.
    fc.boolean(),
  )
  .map(([before, options, complete]) => [
    ...before,
    'clone',
    ...(complete
      ? [
          '--kind',
          'GitRepo',
          '--source',
          'missing-source',
          '--commit',
          'e03087d8',
          '-d',
          '/nonexistent/x',
          '-n',
          'clone-props-none',
        ]
      : []),
    ...options.flat(),
  ]);

type Result = { exitCode: number; stdout: string; stderr: string; error?: unknown };

// What cli.ts does with the outcome: commander errors exit 2 (0 for help), CliError its code, others 1.
async function runInProcess(args: string[]): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const program = buildProgram({
    stdout: (s) => {
      stdout += s;
    },
    stderr: (s) => {
      stderr += s;
    },
    kubeConfig: () => kc,
  });
  try {
    await program.parseAsync(args, { from: 'user' });
    return { exitCode: 0, stdout, stderr };
  } catch (error: unknown) {
    if (error instanceof CommanderError) return { exitCode: error.exitCode === 0 ? 0 : 2, stdout, stderr, error };
    if (error instanceof CliError) return { exitCode: error.exitCode, stdout, stderr, error };
    return { exitCode: 1, stdout, stderr, error };
  }
}

async function withinMs<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, limit]);
  } finally {
    clearTimeout(timer);
  }
}

t.test('clone: random command lines end in help, a usage error or a runtime error naming the source', async (t) => {
  const seen = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(argv, async (args) => {
      const result = await withinMs(5000, `clone ${JSON.stringify(args)}`, runInProcess(args));
      const { error } = result;
      const kind =
        error instanceof CommanderError
          ? error.code
          : error instanceof CliError
            ? 'CliError'
            : error === undefined
              ? 'ok'
              : 'other';
      seen.set(kind, (seen.get(kind) ?? 0) + 1);
      const explain = (why: string) => new Error(`clone ${JSON.stringify(args)}: ${why}`, { cause: error });
      if (error instanceof CommanderError) {
        if (error.exitCode === 0) return result.stdout.includes('Usage:');
        // commander printed one message starting "error:" that says what is wrong.
        if (result.exitCode === 2 && /^error: .+/.test(result.stderr)) return true;
        throw explain(`usage error without a message: ${JSON.stringify(result.stderr)}`);
      }
      if (error instanceof CliError) {
        // A source that cannot be read: the message names it, on one line, with nothing from the API's body.
        const clear =
          /^(?:GitRepo .+\/.+ not found|ClusterGitRepo .+ not found|not allowed to read .+|cannot read (?:Cluster)?GitRepo .+ \(HTTP .+\))$/s;
        if (result.exitCode === 1 && clear.test(error.message)) return true;
        throw explain(`unclear runtime error (exit ${result.exitCode}): ${error.message}`);
      }
      if (error !== undefined) throw explain(`unexplained ${String(error)}`);
      // Success would mean a clone happened, which no generated source allows.
      return false;
    }),
    runs(400),
  );
  t.ok((seen.get('CliError') ?? 0) > 20, `the API-server path is reached: ${JSON.stringify([...seen])}`);
  t.ok(seen.size >= 4, 'several kinds of usage errors are reached');
});

const cli = fileURLToPath(new URL('../src/cli.js', import.meta.url));

function runProcess(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], {
      env: { ...process.env, KUBECONFIG: kubeconfig },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 20_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

t.test('clone: the real executable maps the outcomes to exit codes 0, 1 and 2', async (t) => {
  // Few runs: each starts a Node process. The in-process property above covers the breadth.
  await fc.assert(
    fc.asyncProperty(argv, async (args) => {
      const expected = await runInProcess(args);
      const { code, stderr } = await runProcess(args);
      if (code !== expected.exitCode) throw new Error(`exit ${code}, expected ${expected.exitCode}: ${stderr}`);
      // Runtime errors are one line on stderr, prefixed with the program name.
      return code !== 1 || /^git-events-runner: [^\n]+\n$/.test(stderr);
    }),
    { ...runs(6), interruptAfterTimeLimit: 45_000 },
  );
  t.pass('exit codes match');
});

import { propertySeed } from '@git-events-runner/shared/testing';
import { Command, CommanderError } from 'commander';
import fc from 'fast-check';
import t from 'tap';
import { stringify } from 'yaml';
import {
  addRunOptions,
  FlagsError,
  parseRateLimit,
  parseRuntimeConfig,
  RUNTIME_CONFIG_ERROR_CODES,
  type RunEnvironment,
  type RunFlags,
  type RunOptions,
  RuntimeConfigError,
  runtimeConfigSchema,
  toRunOptions,
} from '../src/config/index.js';
import { MAX_RUNTIME_CONFIG_LENGTH } from '../src/config/runtime.js';

// Hostile input for the controller's configuration (issue 9): rate-limit specs, the runtime ConfigMap
// document and the `run` command line. Each input is accepted with a sane, frozen result or refused with
// the documented error class and a message that says what is wrong; no call takes long.

// A fixed seed keeps CI deterministic; FC_SEED explores others. fast-check prints seed and path on failure.
// Hangs are caught per call (budgets below); the overall limit only shortens a run on a very busy machine.
const { seed: SEED, runs } = propertySeed(0xc0f16);
t.comment(`fast-check seed ${SEED} (set FC_SEED to replay another)`);

// One call must never take long. A slow call is retried once so that a GC pause or a busy machine does not
// fail the run; an input that is slow by nature is slow both times.
const BUDGET_MS = 100;
// The runtime ConfigMap is parsed once per change, not per request, and the YAML reader is quadratic in
// keys up to the length cap (16 KiB: about 0.2 s at worst); without the cap 64 KiB take seconds.
const CONFIG_BUDGET_MS = 1000;
type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };
async function bounded<T>(what: string, fn: () => T | Promise<T>, budgetMs = BUDGET_MS): Promise<Outcome<T>> {
  let elapsed = 0;
  let outcome: Outcome<T> = { ok: false, error: undefined };
  for (let attempt = 0; attempt < 2; attempt++) {
    const start = performance.now();
    try {
      outcome = { ok: true, value: await fn() };
    } catch (error: unknown) {
      outcome = { ok: false, error };
    }
    elapsed = performance.now() - start;
    if (elapsed <= budgetMs) return outcome;
  }
  throw new Error(`${what} took ${elapsed.toFixed(0)} ms (budget ${budgetMs} ms)`);
}

function unexpected(what: string, error: unknown): never {
  throw new Error(
    `${what} threw an unexpected ${error instanceof Error ? error.name : typeof error}: ${String(error)}`,
    {
      cause: error,
    },
  );
}

function deeplyFrozen(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return true;
  return Object.isFrozen(value) && Object.values(value).every(deeplyFrozen);
}

const U32_MAX = 2 ** 32 - 1;

// ------------------------------------------------------------------------------------------ rate limits

const rateLimitText = fc.oneof(
  fc
    .tuple(
      fc.nat({ max: 2 }).map((n) => '0'.repeat(n)),
      fc.nat({ max: 1000 }),
      fc.nat({ max: 100_000 }),
    )
    .map(([zeros, n, s]) => `${zeros}${n}/${s}`),
  fc
    .tuple(
      fc.nat({ max: 5 }).map((n) => '0'.repeat(n)),
      fc.bigInt({ min: 0n, max: 2n ** 70n }),
      fc.bigInt({ min: 0n, max: 2n ** 60n }),
    )
    .map(([zeros, n, s]) => `${zeros}${n}/${s}`),
  fc.string({ unit: fc.constantFrom('0', '1', '9', '/', ' ', '-', '+', '.', 'e', 'x', '\n'), maxLength: 12 }),
  fc.constantFrom(
    '',
    '/',
    '1',
    '1/',
    '/1',
    '1/0',
    '0/1',
    'q/w',
    '1/1/1',
    '1 /1',
    '1e3/1',
    '0x10/1',
    '١/١',
    `${U32_MAX}/1`,
    `${U32_MAX + 1}/1`,
  ),
  fc.string({ maxLength: 30 }),
);

t.test(
  'rate limits: N/S accepted exactly when both are in range; other specs are refused with InvalidValue',
  async (t) => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(rateLimitText, async (spec) => {
        const outcome = await bounded(`parseRateLimit(${JSON.stringify(spec)})`, () => parseRateLimit(spec));
        const match = /^(\d+)\/(\d+)$/.exec(spec);
        const inRange =
          match !== null &&
          BigInt(match[1] ?? '0') >= 1n &&
          BigInt(match[1] ?? '0') <= BigInt(U32_MAX) &&
          BigInt(match[2] ?? '0') >= 1n &&
          BigInt(match[2] ?? '0') <= BigInt(Number.MAX_SAFE_INTEGER);
        if (outcome.ok) {
          accepted++;
          return (
            inRange &&
            outcome.value.burst === Number(BigInt(match?.[1] ?? '0')) &&
            outcome.value.periodSeconds === Number(BigInt(match?.[2] ?? '0'))
          );
        }
        if (!(outcome.error instanceof FlagsError)) unexpected('parseRateLimit', outcome.error);
        return !inRange && outcome.error.code === 'InvalidValue' && outcome.error.message.includes('N/S');
      }),
      runs(3000),
    );
    t.ok(accepted > 200, `valid specs are reached (${accepted})`);
  },
);

// ------------------------------------------------------------------------------------------ runtime ConfigMap

const schemaKeys = (() => {
  const names = new Set<string>();
  const walk = (schema: { properties?: Record<string, unknown> }) => {
    for (const [name, sub] of Object.entries(schema.properties ?? {})) {
      names.add(name);
      walk(sub as { properties?: Record<string, unknown> });
    }
  };
  walk(runtimeConfigSchema('1.2.3'));
  return [...names].sort();
})();

// Values carry a marker that must never reach an error message: the document is user input.
const MARK = 'ZQXJ';
const configKey = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...schemaKeys) },
  { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', '<<', '', '1', 'true') },
  { weight: 1, arbitrary: fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9_.-]{0,12}$/) },
);
const configValue = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    tie('leaf'),
    fc.dictionary(configKey, tie('node'), { maxKeys: 5 }),
    fc.array(tie('node'), { maxLength: 3 }),
  ),
  leaf: fc.oneof(
    fc.integer(),
    fc.constantFrom(0, -1, 1, 2 ** 31, 2 ** 53, 1.5, Number.NaN, Number.POSITIVE_INFINITY),
    fc.boolean(),
    fc.constant(null),
    fc.string({ maxLength: 12 }).map((s) => `${MARK}${s}`),
    fc.constantFrom(`${MARK}`, `/${MARK}`, `x-${MARK.toLowerCase()}`, `image:${MARK}`),
  ),
}));

// Documents built from the schema's own keys, so that deep fields and their bounds are reached.
const plausibleConfig = fc
  .record({
    action: fc.dictionary(configKey, configValue.node, { maxKeys: 6 }),
    trigger: fc.option(fc.record({ webhook: fc.dictionary(configKey, configValue.leaf, { maxKeys: 2 }) }), {
      nil: undefined,
    }),
  })
  .map((doc) => stringify(doc));

// Many keys in the shapes the YAML reader is slowest on, around the length cap and well beyond it.
function manyKeys(length: number, line: (key: string) => string): string {
  let text = '';
  for (let i = 0; text.length < length; i++) text += line(`k${i.toString(36)}`);
  return text;
}
const keyFlood = fc
  .tuple(
    fc.constantFrom(1024, MAX_RUNTIME_CONFIG_LENGTH - 64, MAX_RUNTIME_CONFIG_LENGTH + 1, 4 * MAX_RUNTIME_CONFIG_LENGTH),
    fc.constantFrom(
      (k: string) => `${k}:\n`,
      (k: string) => `${k}: 1\n`,
      (k: string) => `${k}: 1, `,
      () => 'a: 1\n',
    ),
    fc.boolean(),
  )
  .map(([length, line, flow]) => {
    const body = manyKeys(length - 2, line);
    return flow ? `{${body}}` : body;
  });

// Text that stresses the YAML reader itself.
const hostileYaml = fc.oneof(
  keyFlood,
  fc.nat({ max: 40_000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`),
  fc.nat({ max: 8000 }).map((n) => `${'{a: '.repeat(n)}1${'}'.repeat(n)}`),
  fc.nat({ max: 3000 }).map((n) => Array.from({ length: n }, (_, i) => `${' '.repeat(i % 200)}k${i}:`).join('\n')),
  // An alias bomb: each level refers to the previous one ten times.
  fc.integer({ min: 1, max: 12 }).map((levels) => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i <= levels; i++)
      lines.push(
        `a${i}: &a${i} [${Array(10)
          .fill(`*a${i - 1}`)
          .join(', ')}]`,
      );
    return lines.join('\n');
  }),
  fc.constantFrom(
    'action: {maxRunningJobs: 1, maxRunningJobs: 2}',
    'action: !!js/function "function () {}"',
    'action: !!binary aGVsbG8=',
    '--- {}\n--- {}',
    '%YAML 9.9\n--- {}',
    'action:\n  __proto__:\n    maxRunningJobs: 5',
    '__proto__: {polluted: true}',
    '<<: {action: {maxRunningJobs: 3}}',
    'action: *undefinedAlias',
    '\u0000',
    '\ufeffaction: {}',
    'action:\n\tmaxRunningJobs: 1',
    `action:\n  containers:\n    worker:\n      image: ${'x'.repeat(100_000)}`,
  ),
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
);

function checkConfigOutcome(text: string, outcome: Outcome<unknown>): boolean {
  if (outcome.ok) {
    const config = outcome.value as { action?: { maxRunningJobs?: unknown }; trigger?: { webhook?: unknown } };
    return (
      deeplyFrozen(config) && typeof config.action?.maxRunningJobs === 'number' && config.trigger?.webhook !== undefined
    );
  }
  const { error } = outcome;
  if (!(error instanceof RuntimeConfigError))
    unexpected(`parseRuntimeConfig(${JSON.stringify(text.slice(0, 200))})`, error);
  if (!RUNTIME_CONFIG_ERROR_CODES.includes(error.code)) return false;
  if (
    !error.message.startsWith('runtime config is not valid YAML: ') &&
    !error.message.startsWith('invalid runtime config: ')
  ) {
    return false;
  }
  if (error.message.length > 2000) return false;
  if (error.code === 'InvalidRuntimeConfig') {
    // Every problem names its field, the message names the first ones, and no value is quoted back.
    if (error.problems.length === 0) return false;
    if (!error.problems.every((p) => p.field !== '' && p.message !== '')) return false;
    if (!error.problems.slice(0, 5).every((p) => error.message.includes(`${p.field}: `))) return false;
    if (error.message.includes(MARK)) return false;
  }
  return true;
}

t.test(
  'runtime config: random documents are accepted frozen or refused naming fields, never quoting values',
  async (t) => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.oneof(plausibleConfig, hostileYaml), async (text) => {
        const outcome = await bounded(
          `parseRuntimeConfig(${JSON.stringify(text.slice(0, 80))}…)`,
          () => parseRuntimeConfig(text, '1.2.3'),
          CONFIG_BUDGET_MS,
        );
        const label = outcome.ok
          ? 'accepted'
          : outcome.error instanceof RuntimeConfigError
            ? outcome.error.code
            : 'other';
        seen.set(label, (seen.get(label) ?? 0) + 1);
        return checkConfigOutcome(text, outcome);
      }),
      runs(1500),
    );
    t.ok(seen.size === 3, `every outcome is reached: ${JSON.stringify([...seen])}`);
    t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype was polluted');
  },
);

// ------------------------------------------------------------------------------------------ run flags

function runCommand(stderr: (s: string) => void): Command {
  return addRunOptions(
    new Command('run').exitOverride().configureOutput({ writeOut: () => {}, writeErr: stderr }),
  ).action(() => {});
}

// The flags as declared, so that a flag added later is exercised too.
const declared = runCommand(() => {}).options.map((o) => ({
  long: o.long ?? '',
  short: o.short,
  takesValue: o.required || o.optional,
}));

const flagValue = fc.oneof(
  fc.constantFrom(
    '0',
    '1',
    '2',
    '5',
    '30',
    '255',
    '256',
    '65535',
    '65536',
    '300',
    '3600',
    '-1',
    '1.5',
    '1e3',
    '0x10',
    '',
  ),
  fc.constantFrom('10/60', '0/1', '1/0', 'json', 'text', 'xml', 'info', 'debug', 'silent', 'loud'),
  fc.constantFrom(
    'ger-system',
    'Ger',
    'a.b',
    'a..b',
    '-a',
    'a'.repeat(64),
    'x'.repeat(254),
    '/tmp/x',
    'my_prefix',
    '9bad',
  ),
  fc.stringMatching(/^[a-z0-9.-]{1,20}$/),
  fc.string({ maxLength: 20 }),
);

const argvItem = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.tuple(fc.constantFrom(...declared), flagValue, fc.constantFrom('space', 'equals', 'short')),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('--unknown', '-z', 'positional', '--', '-', '--webhooks-port=', '--help=no'),
  },
);
const argv = fc.array(argvItem, { maxLength: 8 }).map((items) =>
  items.flatMap((item): string[] => {
    if (typeof item === 'string') return [item];
    const [flag, value, form] = item;
    if (!flag.takesValue) return [form === 'short' && flag.short !== undefined ? flag.short : flag.long];
    if (form === 'equals') return [`${flag.long}=${value}`];
    return [form === 'short' && flag.short !== undefined ? flag.short : flag.long, value];
  }),
);

// Where the controller's namespace may come from: POD_NAMESPACE and the service account file, either hostile.
const environment = fc.record({
  podNamespace: fc.option(
    fc.oneof(fc.constantFrom('ns', ' ns ', '', 'NS', 'a/b', '..'), fc.string({ maxLength: 10 })),
    { nil: undefined },
  ),
  file: fc.option(fc.oneof(fc.constantFrom('ns\n', '', 'x'.repeat(70), 'bad ns'), fc.string({ maxLength: 10 })), {
    nil: undefined,
  }),
});

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function sane(options: RunOptions): boolean {
  const ports = [options.webhooksPort, options.utilityPort];
  return (
    deeplyFrozen(options) &&
    ports.every((p) => Number.isInteger(p) && p >= 1 && p <= 65_535) &&
    options.webhooksPort !== options.utilityPort &&
    options.leaderLease.graceSeconds < options.leaderLease.durationSeconds &&
    DNS_LABEL.test(options.namespace) &&
    options.namespace.length <= 63 &&
    (options.tls === undefined || options.tls.source === 'files' || DNS_LABEL.test(options.tls.namespace))
  );
}

t.test('run flags: random command lines give frozen RunOptions, a commander error or InvalidFlags', async (t) => {
  const seen = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(argv, environment, async (args, env) => {
      let stderr = '';
      const runEnvironment: RunEnvironment = {
        env: env.podNamespace === undefined ? {} : { POD_NAMESPACE: env.podNamespace },
        readFile: () => {
          if (env.file === undefined) throw new Error('ENOENT');
          return env.file;
        },
      };
      const outcome = await bounded(`run ${JSON.stringify(args)}`, async () => {
        stderr = '';
        const cmd = runCommand((s) => {
          stderr += s;
        });
        await cmd.parseAsync(args, { from: 'user' });
        return toRunOptions(cmd.opts<RunFlags>(), runEnvironment);
      });
      if (outcome.ok) {
        seen.set('accepted', (seen.get('accepted') ?? 0) + 1);
        return sane(outcome.value);
      }
      const { error } = outcome;
      if (error instanceof CommanderError) {
        seen.set(error.code, (seen.get(error.code) ?? 0) + 1);
        if (error.code === 'commander.helpDisplayed') return error.exitCode === 0;
        // commander wrote one line saying what is wrong; an invalid value is quoted with its flag.
        if (error.exitCode !== 1 || !stderr.startsWith('error: ')) return false;
        return error.code !== 'commander.invalidArgument' || /option '.+' argument '.*' is invalid/s.test(stderr);
      }
      if (error instanceof FlagsError) {
        seen.set(error.code, (seen.get(error.code) ?? 0) + 1);
        return error.code === 'InvalidFlags' && /--[a-z-]+|namespace/.test(error.message);
      }
      unexpected(`run ${JSON.stringify(args)}`, error);
    }),
    runs(1500),
  );
  t.ok((seen.get('accepted') ?? 0) > 20, `valid command lines are reached: ${JSON.stringify([...seen])}`);
  t.ok((seen.get('InvalidFlags') ?? 0) > 5, 'contradicting flags are reached');
});

import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import t, { type Test } from 'tap';
import { parse } from 'yaml';
import {
  addRunOptions,
  defaultRuntimeConfig,
  FlagsError,
  parseRateLimit,
  parseRuntimeConfig,
  type RunEnvironment,
  type RunFlags,
  RuntimeConfigError,
  renderRuntimeConfig,
  SERVICE_ACCOUNT_NAMESPACE_FILE,
  toRunOptions,
} from '../src/config/index.js';

const VERSION = '1.2.3';

const DEFAULTS = {
  action: {
    maxRunningJobs: 16,
    jobWaitingTimeoutSeconds: 300,
    activeDeadlineSeconds: 3600,
    ttlSecondsAfterFinished: 7200,
    workdir: { mountPath: '/action_workdir', volumeName: 'action-workdir' },
    containers: {
      cloner: { name: 'action-cloner', image: 'ghcr.io/git-events-runner/git-events-runner:v1.2.3' },
      worker: {
        name: 'action-worker',
        image: 'ghcr.io/git-events-runner/action-worker:v1.2.3',
        variablesPrefix: 'ACTION_JOB_',
      },
    },
  },
  trigger: { webhook: { defaultAuthHeader: 'x-trigger-auth' } },
};

function configError(t: Test, text: string): RuntimeConfigError {
  try {
    parseRuntimeConfig(text, VERSION);
  } catch (err: unknown) {
    if (err instanceof RuntimeConfigError) return err;
    throw err;
  }
  t.fail(`accepted: ${text}`);
  throw new Error('unreachable');
}

// ---------------------------------------------------------------- runtime config

t.test('empty documents give every default', async (t) => {
  for (const text of ['', '   \n', '# only a comment\n', '{}', '~', 'null', 'action:\ntrigger:\n', 'action: {}']) {
    t.same(parseRuntimeConfig(text, VERSION), DEFAULTS, JSON.stringify(text));
  }
  t.notOk('defaultServiceAccount' in parseRuntimeConfig('', VERSION).action, 'defaultServiceAccount stays unset');
});

t.test('defaultRuntimeConfig tags images with the controller package version', async (t) => {
  const pkg = JSON.parse(await readFile(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as {
    version: string;
  };
  const config = defaultRuntimeConfig();
  t.equal(config.action.containers.cloner.image, `ghcr.io/git-events-runner/git-events-runner:v${pkg.version}`);
  t.equal(config.action.containers.worker.image, `ghcr.io/git-events-runner/action-worker:v${pkg.version}`);
  t.same(defaultRuntimeConfig(VERSION), DEFAULTS);
});

t.test('given fields replace defaults, the others keep theirs', async (t) => {
  const config = parseRuntimeConfig(
    [
      'action:',
      '  maxRunningJobs: 3',
      '  defaultServiceAccount: runner',
      '  workdir:',
      '    mountPath: /w',
      '  containers:',
      '    worker:',
      '      variablesPrefix: X_',
      'trigger:',
      '  webhook:',
      '    defaultAuthHeader: X-Token',
    ].join('\n'),
    VERSION,
  );
  t.same(config, {
    action: {
      ...DEFAULTS.action,
      maxRunningJobs: 3,
      defaultServiceAccount: 'runner',
      workdir: { mountPath: '/w', volumeName: 'action-workdir' },
      containers: {
        ...DEFAULTS.action.containers,
        worker: { ...DEFAULTS.action.containers.worker, variablesPrefix: 'X_' },
      },
    },
    trigger: { webhook: { defaultAuthHeader: 'X-Token' } },
  });
});

t.test('an empty value means the default (or unset)', async (t) => {
  const config = parseRuntimeConfig('action:\n  maxRunningJobs:\n  defaultServiceAccount:\n  containers:\n', VERSION);
  t.same(config, DEFAULTS);
  t.notOk('defaultServiceAccount' in config.action);
  t.same(
    parseRuntimeConfig('action:\n  containers:\n    worker:\n      variablesPrefix: ""\n', VERSION).action.containers
      .worker.variablesPrefix,
    '',
    'an empty prefix is allowed',
  );
});

t.test('the result is deep-frozen', async (t) => {
  const config = parseRuntimeConfig('action:\n  maxRunningJobs: 3\n', VERSION);
  t.ok(Object.isFrozen(config));
  t.ok(Object.isFrozen(config.action));
  t.ok(Object.isFrozen(config.action.containers.worker));
  t.ok(Object.isFrozen(config.trigger.webhook));
  t.throws(() => {
    (config.action as { maxRunningJobs: number }).maxRunningJobs = 5;
  }, TypeError);
  t.ok(Object.isFrozen(defaultRuntimeConfig(VERSION).action.workdir));
});

t.test('unknown keys anywhere reject the whole document', async (t) => {
  const cases: [string, string][] = [
    ['foo: 1', 'foo: Unexpected property (got integer)'],
    ['action:\n  maxWaitingJobs: 16', 'action.maxWaitingJobs: Unexpected property (got integer)'],
    [
      'action:\n  containers:\n    cloner:\n      tag: x',
      'action.containers.cloner.tag: Unexpected property (got string)',
    ],
    ['trigger:\n  webhook:\n    header: x', 'trigger.webhook.header: Unexpected property (got string)'],
    ['__proto__:\n  polluted: true', '__proto__: Unexpected property (got object)'],
  ];
  for (const [text, problem] of cases) {
    const err = configError(t, text);
    t.equal(err.code, 'InvalidRuntimeConfig');
    t.equal(err.message, `invalid runtime config: ${problem}`);
  }
  t.equal(({} as { polluted?: boolean }).polluted, undefined, 'no prototype pollution');
});

t.test('type and range errors name the field and the value type, never the value', async (t) => {
  const cases: [string, string][] = [
    ['action:\n  maxRunningJobs: "s3cr3t"', 'action.maxRunningJobs: Expected integer (got string)'],
    ['action:\n  maxRunningJobs: 1.5', 'action.maxRunningJobs: Expected integer (got number)'],
    [
      'action:\n  maxRunningJobs: 0',
      'action.maxRunningJobs: Expected integer to be greater or equal to 1 (got integer)',
    ],
    [
      'action:\n  activeDeadlineSeconds: 0',
      'action.activeDeadlineSeconds: Expected integer to be greater or equal to 1 (got integer)',
    ],
    [
      'action:\n  jobWaitingTimeoutSeconds: -1',
      'action.jobWaitingTimeoutSeconds: Expected integer to be greater or equal to 0 (got integer)',
    ],
    [
      'action:\n  ttlSecondsAfterFinished: 2147483648',
      'action.ttlSecondsAfterFinished: Expected integer to be less or equal to 2147483647 (got integer)',
    ],
    ['action:\n  workdir: /w', 'action.workdir: Expected object (got string)'],
    [
      'action:\n  workdir:\n    mountPath: relative',
      "action.workdir.mountPath: Expected string to match '^/' (got string)",
    ],
    ['trigger: [1]', 'trigger: Expected object (got array)'],
    ['action:\n  defaultServiceAccount: true', 'action.defaultServiceAccount: Expected string (got boolean)'],
  ];
  for (const [text, problem] of cases) {
    const err = configError(t, text);
    t.equal(err.code, 'InvalidRuntimeConfig', text);
    t.equal(err.message, `invalid runtime config: ${problem}`);
    t.notMatch(err.message, /s3cr3t/);
  }
  const names = configError(t, 'action:\n  containers:\n    worker:\n      name: Not_A_Name\n');
  t.match(names.message, /^invalid runtime config: action\.containers\.worker\.name: Expected string to match/);
  t.same(
    names.problems.map((p) => p.field),
    ['action.containers.worker.name'],
  );
});

t.test('every problem is listed, the message shows at most five', async (t) => {
  const err = configError(t, 'a: 1\nb: 2\nc: 3\nd: 4\ne: 5\nf: 6\ng: 7\n');
  t.equal(err.problems.length, 7);
  t.equal(
    err.message,
    'invalid runtime config: a: Unexpected property (got integer); b: Unexpected property (got integer); ' +
      'c: Unexpected property (got integer); d: Unexpected property (got integer); e: Unexpected property (got integer); and 2 more',
  );
});

t.test('a document that is not a mapping is rejected', async (t) => {
  t.equal(configError(t, '- 1\n- 2').message, 'invalid runtime config: (root): Expected object (got array)');
  t.equal(configError(t, 'just text').message, 'invalid runtime config: (root): Expected object (got string)');
  t.equal(configError(t, '42').message, 'invalid runtime config: (root): Expected object (got integer)');
});

t.test('invalid YAML is InvalidYaml with its position and the parser error as cause', async (t) => {
  const cases: [string, RegExp][] = [
    ['action: [', /at line 1, column \d+$/],
    ['action:\n  maxRunningJobs: 1\n  maxRunningJobs: 2', /Map keys must be unique at line 3, column 3$/],
    ['action: {}\n---\ntrigger: {}', /multiple documents/],
    ['action: *nowhere', /alias/i],
  ];
  for (const [text, message] of cases) {
    const err = configError(t, text);
    t.equal(err.code, 'InvalidYaml', text);
    t.match(err.message, /^runtime config is not valid YAML: /);
    t.match(err.message, message);
    t.notMatch(err.message, /\n/, 'one line: the source is not quoted');
    t.ok(err.cause instanceof Error, 'cause is the parser error');
  }
});

t.test('renderRuntimeConfig: raw mode', async (t) => {
  const text = renderRuntimeConfig({ helmTemplate: false, version: VERSION });
  t.equal(
    text,
    [
      'action:',
      '  maxRunningJobs: 16',
      '  jobWaitingTimeoutSeconds: 300',
      '  activeDeadlineSeconds: 3600',
      '  ttlSecondsAfterFinished: 7200',
      '  workdir:',
      '    mountPath: /action_workdir',
      '    volumeName: action-workdir',
      '  containers:',
      '    cloner:',
      '      name: action-cloner',
      '      image: ghcr.io/git-events-runner/git-events-runner:v1.2.3',
      '    worker:',
      '      name: action-worker',
      '      image: ghcr.io/git-events-runner/action-worker:v1.2.3',
      '      variablesPrefix: ACTION_JOB_',
      'trigger:',
      '  webhook:',
      '    defaultAuthHeader: x-trigger-auth',
      '',
    ].join('\n'),
  );
  t.same(parseRuntimeConfig(text, VERSION), defaultRuntimeConfig(VERSION), 'round trip gives the defaults');
  t.same(parseRuntimeConfig(renderRuntimeConfig({ helmTemplate: false })), defaultRuntimeConfig());
});

t.test('renderRuntimeConfig: Helm template mode', async (t) => {
  const text = renderRuntimeConfig({ helmTemplate: true, version: VERSION });
  t.match(
    text,
    /^ {2}defaultServiceAccount: '\{\{ include "git-events-runner\.actionJobServiceAccountName" \. \}\}'$/m,
  );
  t.match(text, /^ {6}image: ghcr\.io\/git-events-runner\/git-events-runner:v\{\{ \.Chart\.AppVersion \}\}$/m);
  t.match(text, /^ {6}image: ghcr\.io\/git-events-runner\/action-worker:v\{\{ \.Chart\.AppVersion \}\}$/m);
  t.notMatch(text, /1\.2\.3/);
  t.ok(parse(text), 'the template itself is YAML');
  // What Helm renders with appVersion 1.2.3 is the raw defaults plus the chart's service account.
  const rendered = text
    .replace('{{ include "git-events-runner.actionJobServiceAccountName" . }}', 'git-events-runner-action-job')
    .replaceAll('{{ .Chart.AppVersion }}', VERSION);
  t.same(parseRuntimeConfig(rendered, VERSION), {
    ...DEFAULTS,
    action: { ...DEFAULTS.action, defaultServiceAccount: 'git-events-runner-action-job' },
  });
});

// ---------------------------------------------------------------- run flags

const noEnvironment: RunEnvironment = {
  env: {},
  readFile: () => {
    throw new Error('ENOENT');
  },
};

async function parseRun(args: string[]): Promise<RunFlags> {
  const cmd = addRunOptions(
    new Command('run').exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} }),
  ).action(() => {});
  await cmd.parseAsync(args, { from: 'user' });
  return cmd.opts<RunFlags>();
}

async function runOptions(args: string[], environment: RunEnvironment = noEnvironment) {
  return toRunOptions(await parseRun(args), environment);
}

async function commanderError(t: Test, args: string[]): Promise<CommanderError> {
  try {
    await parseRun(args);
  } catch (err: unknown) {
    if (err instanceof CommanderError) return err;
    throw err;
  }
  t.fail(`accepted: ${args.join(' ')}`);
  throw new Error('unreachable');
}

t.test('run flags: defaults', async (t) => {
  const options = await runOptions([]);
  t.same(options, {
    webhooksPort: 8080,
    utilityPort: 3000,
    webhooksParallelism: 16,
    webhooksMaxPending: 1000,
    webhooksAck: 'recorded',
    webhooksReplayAfterSeconds: 60,
    scheduleParallelism: 16,
    secretsCacheTimeSeconds: 60,
    sourceCloneFolder: '/tmp/git-events-runner',
    configMapName: 'git-events-runner-config',
    leaderLease: { name: 'git-events-runner-leader-lock', durationSeconds: 30, graceSeconds: 5 },
    metricsPrefix: 'git_events_runner',
    rateLimits: {},
    log: { format: 'json', level: 'info' },
    perHostParallelism: 4,
    gitTimeoutSeconds: 60,
    shutdownTimeoutSeconds: 25,
    namespace: 'default',
  });
  t.notOk('tls' in options);
  t.ok(Object.isFrozen(options));
  t.ok(Object.isFrozen(options.leaderLease));
  t.ok(Object.isFrozen(options.rateLimits));
  t.ok(Object.isFrozen(options.log));
});

t.test('run flags: every flag given', async (t) => {
  const options = await runOptions([
    '-w',
    '8443',
    '-u',
    '9000',
    '--webhooks-parallelism',
    '1',
    '--schedule-parallelism',
    '255',
    '--secrets-cache-time',
    '600',
    '--source-clone-folder',
    '/var/cache/ger',
    '--config-map-name',
    'my-config',
    '--leader-lease-name',
    'my.lease',
    '--leader-lease-duration',
    '300',
    '--leader-lease-grace',
    '299',
    '--metrics-prefix',
    'ger:x_',
    '--hooks-rrl-global',
    '100/60',
    '--hooks-rrl-trigger',
    '10/100',
    '--hooks-rrl-source',
    '1/10',
    '--tls-secret-name',
    'webhook-tls',
    '--tls-secret-namespace',
    'certs',
    '--log-format',
    'text',
    '--log-level',
    'debug',
    '--per-host-parallelism',
    '8',
    '--git-timeout-seconds',
    '120',
    '--shutdown-timeout-seconds',
    '50',
    '--webhooks-max-pending',
    '50',
    '--webhooks-ack',
    'immediate',
    '--webhooks-replay-after',
    '30',
    '-n',
    'ger-system',
  ]);
  t.same(options, {
    webhooksPort: 8443,
    utilityPort: 9000,
    webhooksParallelism: 1,
    webhooksMaxPending: 50,
    webhooksAck: 'immediate',
    webhooksReplayAfterSeconds: 30,
    scheduleParallelism: 255,
    secretsCacheTimeSeconds: 600,
    sourceCloneFolder: '/var/cache/ger',
    configMapName: 'my-config',
    leaderLease: { name: 'my.lease', durationSeconds: 300, graceSeconds: 299 },
    metricsPrefix: 'ger:x_',
    rateLimits: {
      global: { burst: 100, periodSeconds: 60 },
      trigger: { burst: 10, periodSeconds: 100 },
      source: { burst: 1, periodSeconds: 10 },
    },
    tls: { source: 'secret', name: 'webhook-tls', namespace: 'certs' },
    log: { format: 'text', level: 'debug' },
    perHostParallelism: 8,
    gitTimeoutSeconds: 120,
    shutdownTimeoutSeconds: 50,
    namespace: 'ger-system',
  });
});

t.test('parseRateLimit accepts N/S and rejects everything else', async (t) => {
  t.same(parseRateLimit('1/10'), { burst: 1, periodSeconds: 10 });
  t.same(parseRateLimit('10/100'), { burst: 10, periodSeconds: 100 });
  t.same(parseRateLimit('4294967295/1'), { burst: 4294967295, periodSeconds: 1 });
  for (const bad of [
    '',
    '/',
    '1',
    '1/',
    '/1',
    '1/0',
    '0/1',
    'q/w',
    '4294967296/1',
    '-1/5',
    '1/-5',
    ' 1/5',
    '1/5 ',
    '1.5/2',
    '1/2/3',
  ]) {
    t.throws(() => parseRateLimit(bad), { name: 'FlagsError', code: 'InvalidValue' }, JSON.stringify(bad));
  }
});

t.test('invalid rate limits are command-line errors', async (t) => {
  for (const flag of ['--hooks-rrl-global', '--hooks-rrl-trigger', '--hooks-rrl-source']) {
    for (const bad of ['', '/', '1', '1/', '/1', '1/0', '0/1', 'q/w']) {
      const err = await commanderError(t, [flag, bad]);
      t.equal(err.code, 'commander.invalidArgument', `${flag} ${JSON.stringify(bad)}`);
      t.match(err.message, /rate limit must be N\/S/);
    }
  }
});

t.test('out-of-range and malformed values are command-line errors', async (t) => {
  const cases: [string[], RegExp][] = [
    [['-w', '0'], /from 1 to 65535/],
    [['--webhooks-port', '65536'], /from 1 to 65535/],
    [['-u', 'http'], /from 1 to 65535/],
    [['-u', '80.5'], /from 1 to 65535/],
    [['-u', '1e3'], /from 1 to 65535/],
    [['--webhooks-parallelism', '0'], /from 1 to 255/],
    [['--webhooks-max-pending', '0'], /from 1 to 1000000/],
    [['--webhooks-ack', 'later'], /Allowed choices are recorded, immediate/],
    [['--webhooks-replay-after', '4'], /from 5 to 3600/],
    [['--schedule-parallelism', '256'], /from 1 to 255/],
    [['--per-host-parallelism', '0'], /from 1 to 255/],
    [['--secrets-cache-time', '0'], /integer >= 1/],
    [['--leader-lease-duration', '301'], /from 1 to 300/],
    [['--leader-lease-duration', '0'], /from 1 to 300/],
    [['--leader-lease-grace', '0'], /from 1 to 300/],
    [['--git-timeout-seconds', '0'], /from 1 to 3600/],
    [['--shutdown-timeout-seconds', '-1'], /from 1 to 3600/],
    [['--config-map-name', 'My_Config'], /DNS-1123 subdomain/],
    [['--leader-lease-name', ''], /DNS-1123 subdomain/],
    [['--tls-secret-namespace', 'a.b'], /DNS-1123 label/],
    [['--namespace', 'x'.repeat(64)], /DNS-1123 label/],
    [['--metrics-prefix', 'a-b'], /Prometheus metric name/],
    [['--source-clone-folder', ''], /must not be empty/],
    [['--log-format', 'xml'], /Allowed choices are json, text/],
    [['--log-level', 'verbose'], /Allowed choices are fatal, error, warn, info, debug, trace, silent/],
  ];
  for (const [args, message] of cases) {
    const err = await commanderError(t, args);
    t.match(err.code, /^commander\.(invalidArgument|optionMissingArgument)$/, args.join(' '));
    t.match(err.message, message, args.join(' '));
  }
});

t.test('lease grace must be less than its duration', async (t) => {
  t.equal(
    (await runOptions(['--leader-lease-duration', '10', '--leader-lease-grace', '9'])).leaderLease.graceSeconds,
    9,
  );
  for (const args of [
    ['--leader-lease-duration', '10', '--leader-lease-grace', '10'],
    ['--leader-lease-duration', '5', '--leader-lease-grace', '6'],
    ['--leader-lease-duration', '4'],
  ]) {
    await t.rejects(runOptions(args), { name: 'FlagsError', code: 'InvalidFlags', message: /--leader-lease-grace/ });
  }
});

t.test('the webhook and utility servers need different ports', async (t) => {
  await t.rejects(runOptions(['-w', '3000']), { name: 'FlagsError', code: 'InvalidFlags' });
});

t.test('TLS: files, a Secret, never both', async (t) => {
  t.same((await runOptions(['--tls-cert-path', '/c.pem', '--tls-key-path', '/k.pem'])).tls, {
    source: 'files',
    certPath: '/c.pem',
    keyPath: '/k.pem',
  });
  t.same(
    (await runOptions(['--tls-secret-name', 'tls'], { ...noEnvironment, env: { POD_NAMESPACE: 'ger' } })).tls,
    { source: 'secret', name: 'tls', namespace: 'ger' },
    "the Secret's namespace defaults to the controller's",
  );
  const invalid: [string[], RegExp][] = [
    [['--tls-cert-path', '/c.pem'], /must be given together/],
    [['--tls-key-path', '/k.pem'], /must be given together/],
    [['--tls-cert-path', '/c.pem', '--tls-key-path', '/k.pem', '--tls-secret-name', 'tls'], /mutually exclusive/],
    [['--tls-cert-path', '/c.pem', '--tls-secret-name', 'tls'], /mutually exclusive/],
    [['--tls-secret-namespace', 'ns'], /needs --tls-secret-name/],
  ];
  for (const [args, message] of invalid) {
    await t.rejects(runOptions(args), { name: 'FlagsError', code: 'InvalidFlags', message }, args.join(' '));
  }
});

t.test('logs: JSON by default; --json-logs kept for compatibility', async (t) => {
  t.equal((await runOptions(['--json-logs'])).log.format, 'json');
  t.equal((await runOptions(['-j'])).log.format, 'json');
  t.equal((await runOptions(['--log-format', 'text'])).log.format, 'text');
  const err = await commanderError(t, ['--json-logs', '--log-format', 'text']);
  t.equal(err.code, 'commander.conflictingOption');
});

t.test('the controller namespace: flag, POD_NAMESPACE, service account file, default', async (t) => {
  const files: Record<string, string> = { [SERVICE_ACCOUNT_NAMESPACE_FILE]: 'from-file\n' };
  const withFile: RunEnvironment = {
    env: {},
    readFile: (path) => {
      const text = files[path];
      if (text === undefined) throw new Error(`ENOENT ${path}`);
      return text;
    },
  };
  t.equal(
    (await runOptions(['-n', 'from-flag'], { ...withFile, env: { POD_NAMESPACE: 'from-env' } })).namespace,
    'from-flag',
  );
  t.equal((await runOptions([], { ...withFile, env: { POD_NAMESPACE: 'from-env' } })).namespace, 'from-env');
  t.equal((await runOptions([], { ...withFile, env: { POD_NAMESPACE: '' } })).namespace, 'from-file');
  t.equal((await runOptions([], withFile)).namespace, 'from-file');
  t.equal((await runOptions([], noEnvironment)).namespace, 'default');
  await t.rejects(runOptions([], { ...noEnvironment, env: { POD_NAMESPACE: 'Not A Namespace' } }), {
    name: 'FlagsError',
    code: 'InvalidFlags',
    message: /POD_NAMESPACE/,
  });
});

t.test('FlagsError is an Error with a stable code', async (t) => {
  const err = new FlagsError('InvalidFlags', 'x', { cause: new Error('y') });
  t.ok(err instanceof Error);
  t.equal(err.code, 'InvalidFlags');
  t.equal((err.cause as Error).message, 'y');
});

t.test('help explains every option', async (t) => {
  const cmd = addRunOptions(new Command('run'));
  const help = cmd.helpInformation();
  for (const flag of [
    '--webhooks-port',
    '--utility-port',
    '--webhooks-parallelism',
    '--schedule-parallelism',
    '--secrets-cache-time',
    '--source-clone-folder',
    '--config-map-name',
    '--leader-lease-name',
    '--leader-lease-duration',
    '--leader-lease-grace',
    '--metrics-prefix',
    '--hooks-rrl-global',
    '--hooks-rrl-trigger',
    '--hooks-rrl-source',
    '--tls-cert-path',
    '--tls-key-path',
    '--tls-secret-name',
    '--tls-secret-namespace',
    '--log-format',
    '--log-level',
    '--per-host-parallelism',
    '--git-timeout-seconds',
    '--shutdown-timeout-seconds',
    '--namespace',
  ]) {
    t.match(help, flag);
  }
  t.notMatch(help, '--json-logs', 'the compatibility flag is hidden');
  t.match(help, /\(default: 8080\)/);
});

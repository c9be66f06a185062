import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { AdmissionError } from '../src/errors.js';
import { defaultPolicy, loadPolicyFile, parsePolicy } from '../src/policy.js';

// The --config policy file: defaults, every field, and errors that name the field.

t.test('defaults without a file, or with an empty one', async (t) => {
  const expected = {
    minInterval: '10s',
    minIntervalMs: 10_000,
    shortInterval: '5m',
    shortIntervalMs: 300_000,
    actionServiceAccounts: undefined,
    allowClusterGitRepos: true,
    allowClusterActions: true,
    webhookAuthHeader: 'x-trigger-auth',
  };
  t.same(defaultPolicy(), expected);
  t.same(parsePolicy('# nothing\n'), expected);
  t.same(parsePolicy('minInterval:\nallowClusterActions: ~\n'), expected, 'empty values mean the default');
  t.ok(Object.isFrozen(defaultPolicy()));
});

t.test('every field', async (t) => {
  const policy = parsePolicy(
    [
      'minInterval: 90s',
      'shortInterval: 1h',
      'actionServiceAccounts: [default, deployer]',
      'allowClusterGitRepos: false',
      'allowClusterActions: false',
      'webhookAuthHeader: X-Token',
    ].join('\n'),
  );
  t.same(policy, {
    minInterval: '1m30s',
    minIntervalMs: 90_000,
    shortInterval: '1h',
    shortIntervalMs: 3_600_000,
    actionServiceAccounts: ['default', 'deployer'],
    allowClusterGitRepos: false,
    allowClusterActions: false,
    webhookAuthHeader: 'x-token',
  });
  t.ok(Object.isFrozen(policy.actionServiceAccounts));
});

t.test('bad documents: the message names the field', async (t) => {
  const cases: [string, AdmissionError['code'], RegExp][] = [
    ['minInterval: 5x', 'InvalidPolicy', /^minInterval: invalid interval "5x": unknown unit "x"/],
    ['shortInterval: soon', 'InvalidPolicy', /^shortInterval: invalid interval "soon"/],
    ['minInterval: 10', 'InvalidPolicy', /^minInterval: Expected string \(got integer\)/],
    ['allowClusterActions: maybe', 'InvalidPolicy', /^allowClusterActions: Expected boolean \(got string\)/],
    ['actionServiceAccounts: default', 'InvalidPolicy', /^actionServiceAccounts: Expected array \(got string\)/],
    ['actionServiceAccounts: [Not_A_Name]', 'InvalidPolicy', /^actionServiceAccounts\.0: /],
    ['webhookAuthHeader: "x token"', 'InvalidPolicy', /^webhookAuthHeader: /],
    ['minIntreval: 10s', 'InvalidPolicy', /^minIntreval: unknown field \(known: minInterval, /],
    ['- a\n- b', 'InvalidPolicy', /^\(root\): expected a mapping of policy fields \(got array\)/],
    ['minInterval: [', 'InvalidPolicyYaml', /^not valid YAML: /],
    ['a: 1\na: 2', 'InvalidPolicyYaml', /^not valid YAML: /],
  ];
  for (const [text, code, message] of cases) {
    t.throws(() => parsePolicy(text), { name: 'AdmissionError', code, message }, text);
  }
});

t.test('files: the path leads the message', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'policy-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'policy.yaml');
  await writeFile(file, 'minInterval: 1m\n');
  t.equal((await loadPolicyFile(file)).minIntervalMs, 60_000);
  await writeFile(file, 'allowClusterGitRepos: nope\n');
  await t.rejects(loadPolicyFile(file), {
    code: 'InvalidPolicy',
    message: `policy file ${file}: allowClusterGitRepos: Expected boolean (got string)`,
  });
  await t.rejects(loadPolicyFile(join(dir, 'missing.yaml')), {
    code: 'UnreadableFile',
    message: `policy file ${join(dir, 'missing.yaml')}: cannot read it (ENOENT)`,
  });
});

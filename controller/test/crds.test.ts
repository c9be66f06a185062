import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { defaultRuntimeConfig, parseRuntimeConfig } from '../src/config/index.js';
import { buildProgram } from '../src/index.js';

const chartCrds = fileURLToPath(new URL('../../../charts/git-events-runner/crds/crds.yaml', import.meta.url));

async function runCli(args: string[]): Promise<{ out: string; err: string; code: number }> {
  let out = '';
  let err = '';
  try {
    await buildProgram({
      stdout: (s) => {
        out += s;
      },
      stderr: (s) => {
        err += s;
      },
    }).parseAsync(args, {
      from: 'user',
    });
    return { out, err, code: 0 };
  } catch (e: unknown) {
    return { out, err, code: (e as { exitCode?: number }).exitCode ?? 1 };
  }
}

t.test('crds prints the six CRDs as multi-document YAML in the original order', async (t) => {
  const { out, code } = await runCli(['crds']);
  t.equal(code, 0);
  t.ok(out.startsWith('---\n'), 'each document is preceded by ---');
  const docs = parseAllDocuments(out).map((d) => d.toJS() as { kind: string; spec: { names: { kind: string } } });
  t.same(
    docs.map((d) => d.spec.names.kind),
    ['GitRepo', 'ClusterGitRepo', 'ScheduleTrigger', 'WebhookTrigger', 'Action', 'ClusterAction'],
  );
  t.ok(docs.every((d) => d.kind === 'CustomResourceDefinition'));
});

t.test("the chart's crds/ copy is what `git-events-runner crds` prints (run `npm run generate`)", async (t) => {
  const { out } = await runCli(['crds']);
  t.equal(
    await readFile(chartCrds, 'utf8'),
    out,
    'charts/git-events-runner/crds/crds.yaml is stale: run npm run generate',
  );
});

t.test('an unknown command fails with a message and a non-zero code', async (t) => {
  const { err, code } = await runCli(['crdz']);
  t.not(code, 0);
  t.match(err, /unknown command 'crdz'/);
});

t.test('config prints the default runtime configuration, raw or as the Helm template', async (t) => {
  const raw = await runCli(['config']);
  t.equal(raw.code, 0);
  t.same(parseRuntimeConfig(raw.out), defaultRuntimeConfig(), 'the printed document parses back to the defaults');
  t.notMatch(raw.out, /defaultServiceAccount/);
  const helm = await runCli(['config', '--helm-template']);
  t.match(helm.out, /defaultServiceAccount: '\{\{ include "git-events-runner.actionJobServiceAccountName" \. \}\}'/);
  t.match(helm.out, /\.Chart\.AppVersion/);
});

t.test('run rejects bad flags with a usage error', async (t) => {
  const r = await runCli(['run', '--leader-lease-duration', '5', '--leader-lease-grace', '5']);
  t.not(r.code, 0);
  t.match(r.err, /--leader-lease-grace \(5\) must be less than --leader-lease-duration \(5\)/);
  const rate = await runCli(['run', '--hooks-rrl-global', '1/0']);
  t.not(rate.code, 0);
  t.match(rate.err, /1\/0/);
});

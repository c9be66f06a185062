import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { buildCrds, type KindName, toOpenApi, validateSpec, withDefaults } from '../src/index.js';
import { ruleFor } from '../src/schema/rules.js';
import { INVALID_CASES } from '../src/testing/index.js';

// Seed examples live in examples/seed at the repository root (dist/test -> ../../../examples).
const examplesDir = fileURLToPath(new URL('../../../examples/seed/', import.meta.url));

async function seedExamples(): Promise<{ kind: KindName; spec: unknown }[]> {
  const out: { kind: KindName; spec: unknown }[] = [];
  for (const file of ['gitrepo.yaml', 'scheduletrigger.yaml', 'action.yaml', 'webhooktrigger.yaml']) {
    for (const doc of parseAllDocuments(await readFile(`${examplesDir}${file}`, 'utf8'))) {
      const obj = doc.toJS() as { kind: KindName; spec: unknown };
      out.push({ kind: obj.kind, spec: obj.spec });
    }
  }
  return out;
}

t.test('the seed examples are valid and get the documented defaults', async (t) => {
  const examples = await seedExamples();
  t.equal(examples.length, 4);
  for (const { kind, spec } of examples) t.same(validateSpec(kind, spec), [], `${kind} is valid`);
  // biome-ignore lint/suspicious/noExplicitAny: test reads deep optional fields
  const byKind = Object.fromEntries(examples.map((e) => [e.kind, withDefaults(e.kind, e.spec)])) as Record<string, any>;
  t.same(byKind.GitRepo.authConfig.keys, {
    username: 'username',
    password: 'password',
    token: 'token',
    privateKey: 'ssh-privatekey',
    passphrase: 'passphrase',
    knownHosts: 'known_hosts',
  });
  t.equal(byKind.ScheduleTrigger.sources.kind, 'GitRepo');
  t.same(byKind.ScheduleTrigger.sources.watchOn, { onChangeOnly: true, reference: { branch: 'main' } });
  t.same(byKind.Action.actionJob, {
    args: ['./deploy.sh', './chart/'],
    serviceAccount: 'git-events-runner-jobs',
    enableClonerDebug: false,
    preserveGitFolder: false,
  });
  t.equal(byKind.WebhookTrigger.webhook.multiSource, true);
});

t.test('defaults: watchOn, reference and keys are filled only where absent', async (t) => {
  const trigger = withDefaults('ScheduleTrigger', {
    sources: { names: ['a'] },
    schedule: { interval: '1m' },
    action: { kind: 'Action', name: 'x' },
  }) as unknown as { sources: { watchOn: unknown } };
  t.same(trigger.sources.watchOn, { onChangeOnly: true, reference: { branch: 'main' } });
  const partial = withDefaults('WebhookTrigger', {
    sources: { names: ['a'], watchOn: { onChangeOnly: false } },
    webhook: {},
    action: { kind: 'Action', name: 'x' },
  }) as { sources: { watchOn: unknown }; webhook: unknown };
  t.same(partial.sources.watchOn, { onChangeOnly: false, reference: { branch: 'main' } });
  t.same(partial.webhook, { multiSource: false });
  const tagged = withDefaults('GitRepo', {
    repoUri: 'https://h/x',
    authConfig: { type: 'token', secretRef: { name: 's' }, keys: { token: 'bearer' } },
  }) as { authConfig: { keys: unknown } };
  t.same(tagged.authConfig.keys, {
    username: 'username',
    password: 'password',
    token: 'bearer',
    privateKey: 'ssh-privatekey',
    passphrase: 'passphrase',
    knownHosts: 'known_hosts',
  });
});

t.test('the runtime validator rejects each invalid case naming the field', async (t) => {
  for (const c of INVALID_CASES) {
    const errors = validateSpec(c.kind, c.spec);
    const hit = errors.find(
      (e) => (e.field === c.field || e.field.startsWith(`${c.field}[`)) && c.message.test(e.message),
    );
    t.ok(hit, `${c.name}: ${JSON.stringify(errors)}`);
  }
});

t.test('every repoUri scheme the seed allows is accepted', async (t) => {
  for (const repoUri of [
    'https://git.example.com/the-best-team/cool-project.git',
    'http://git.example.com:3000/a/b',
    'ssh://git@git.example.com:2222/a/b.git',
    'git@github.com:owner/repo.git',
    'git://127.0.0.1:9418/repo.git',
  ]) {
    t.same(validateSpec('GitRepo', { repoUri }), [], repoUri);
  }
  t.same(
    validateSpec('GitRepo', {
      repoUri: 'git@github.com:o/r.git',
      authConfig: { type: 'ssh', secretRef: { name: 'k' } },
    }),
    [],
  );
});

t.test('every CEL rule in the CRDs has a TypeScript predicate', async (t) => {
  const rules: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node !== null && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if (k === 'x-kubernetes-validations') for (const r of v as { rule: string }[]) rules.push(r.rule);
        else walk(v);
      }
    }
  };
  walk(buildCrds());
  t.ok(rules.length >= 5, `found ${rules.length} rules`);
  for (const rule of rules) t.ok(ruleFor(rule), rule);
});

t.test('CRD shape: names, scope, category, status subresource, printer columns', async (t) => {
  // biome-ignore lint/suspicious/noExplicitAny: reads generated plain objects
  const crds = buildCrds() as any[];
  t.same(
    crds.map((c) => c.spec.names.kind),
    ['GitRepo', 'ClusterGitRepo', 'ScheduleTrigger', 'WebhookTrigger', 'Action', 'ClusterAction'],
  );
  t.same(
    crds.map((c) => c.spec.scope),
    ['Namespaced', 'Cluster', 'Namespaced', 'Namespaced', 'Namespaced', 'Cluster'],
  );
  const shortNames = crds.flatMap((c) => c.spec.names.shortNames);
  t.equal(new Set(shortNames).size, shortNames.length, 'short names are unique');
  for (const crd of crds) {
    t.equal(crd.metadata.name, `${crd.spec.names.plural}.git-events-runner.rs`);
    t.same(crd.spec.names.categories, ['git-events']);
    const version = crd.spec.versions[0];
    t.equal(version.name, 'v1alpha1');
    const trigger = crd.spec.names.kind.endsWith('Trigger');
    t.equal(version.subresources !== undefined, trigger, `${crd.spec.names.kind} status subresource`);
    t.same(version.schema.openAPIV3Schema.required, ['spec']);
    if (trigger) {
      const columns = version.additionalPrinterColumns.map((c: { name: string }) => c.name);
      for (const c of ['State', 'Ready', 'Last Run', 'Age'])
        t.ok(columns.includes(c), `${crd.spec.names.kind} has ${c}`);
      const status = version.schema.openAPIV3Schema.properties.status.properties;
      t.same(Object.keys(status), ['state', 'lastRun', 'checkedSources', 'observedGeneration', 'conditions']);
      t.equal(status.conditions['x-kubernetes-list-type'], 'map');
    }
  }
});

t.test('toOpenApi converts TypeBox constructs to structural schema', async (t) => {
  const schema = toOpenApi({
    type: 'object',
    properties: {
      e: {
        anyOf: [
          { const: 'a', type: 'string' },
          { const: 'b', type: 'string' },
        ],
        description: 'd',
      },
      m: { type: 'object', patternProperties: { '^(.*)$': { type: 'string' } } },
      f: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, patternProperties: { '^(.*)$': {} } },
    },
    required: ['e'],
    $id: 'dropped',
  } as never);
  t.same(schema, {
    type: 'object',
    properties: {
      e: { type: 'string', enum: ['a', 'b'], description: 'd' },
      m: { type: 'object', additionalProperties: { type: 'string' } },
      f: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
    },
    required: ['e'],
  });
  t.throws(() => toOpenApi({ anyOf: [{ type: 'string' }, { type: 'number' }] } as never), /string literals/);
});

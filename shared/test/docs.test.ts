import t from 'tap';
import {
  codeSpan,
  DocsError,
  describeFields,
  flowValue,
  kindSchema,
  markdownTable,
  RESOURCE_DIRECTIVES,
  renderFieldTable,
  renderKindSummary,
  renderMetricsTable,
  renderOptionsTable,
  renderPrinterColumns,
  renderTemplate,
  renderValidationRules,
  validationRules,
} from '../src/docs.js';
import { KINDS, type KindDefinition, toOpenApi } from '../src/index.js';

// The pure renderers of the generated documentation. That the committed pages are what they render is
// checked by e2e/test/docs.test.ts (it runs scripts/gen-docs.mjs --check).

/** Every property path of a structural schema, in the notation describeFields uses. */
function allPaths(schema: Record<string, unknown>, prefix: string): string[] {
  const out: string[] = [];
  const walk = (s: Record<string, unknown>, path: string) => {
    for (const [name, child] of Object.entries((s.properties ?? {}) as Record<string, Record<string, unknown>>)) {
      const p = path === '' ? name : `${path}.${name}`;
      out.push(p);
      walk(child, p);
    }
    if (s.items !== undefined) walk(s.items as Record<string, unknown>, `${path}[]`);
    if (typeof s.additionalProperties === 'object')
      walk(s.additionalProperties as Record<string, unknown>, `${path}.<name>`);
  };
  walk(schema, prefix);
  return out;
}

t.test('every field of every kind, spec and status, gets a row with its type', async (t) => {
  for (const def of KINDS as readonly KindDefinition[]) {
    for (const part of def.status === undefined ? ['spec'] : ['spec', 'status']) {
      const schema = kindSchema(def.kind, part);
      const fields = describeFields(schema, part);
      t.same(
        fields.map((f) => f.path),
        allPaths(schema, part),
        `${def.kind} ${part}: one row per field, in declaration order`,
      );
      t.ok(
        fields.every((f) => f.type !== '' && f.type !== 'any'),
        `${def.kind} ${part}: every field has a type`,
      );
      const table = renderFieldTable(schema, part);
      for (const f of fields) t.match(table, `\`${f.path}\``, `${def.kind}: ${f.path} is in the table`);
    }
  }
});

t.test('rows carry required, defaults, enums, patterns and bounds from the schema', async (t) => {
  const trigger = describeFields(kindSchema('ScheduleTrigger', 'spec'), 'spec');
  const row = (path: string) => {
    const r = trigger.find((f) => f.path === path);
    if (r === undefined) throw new Error(`no row ${path}`);
    return r;
  };
  t.equal(row('spec.sources').required, true);
  t.equal(row('spec.sources.kind').required, false);
  t.equal(row('spec.sources.kind').default, 'GitRepo');
  t.match(row('spec.sources.kind').description, 'One of `GitRepo`, `ClusterGitRepo`.');
  t.equal(row('spec.sources.watchOn').default, '{onChangeOnly: true, reference: {branch: main}}');
  t.equal(row('spec.sources.watchOn.onChangeOnly').default, 'true');
  t.equal(row('spec.sources.names').type, '[]string');
  t.match(row('spec.sources.names').description, 'No duplicates.');
  t.match(row('spec.sources.watchOn.reference.commit').description, 'Pattern `^[0-9a-fA-F]{4,64}$`.');
  t.equal(row('spec.startingDeadlineSeconds').type, 'integer (int64)');
  t.match(row('spec.startingDeadlineSeconds').description, 'Minimum 0.');
  t.ok(row('spec.schedule.interval').longPattern?.startsWith('^ *([0-9]+'), 'a long pattern is kept apart');
  t.match(row('spec.schedule.interval').description, 'Pattern below the table.');

  const status = describeFields(kindSchema('WebhookTrigger', 'status'), 'status');
  t.ok(status.some((f) => f.path === 'status.checkedSources.<name>.lastJob.phase' && f.required));
  t.equal(status.find((f) => f.path === 'status.checkedSources')?.type, 'map[string]object');
  t.equal(status.find((f) => f.path === 'status.conditions')?.type, '[]object');

  const action = describeFields(kindSchema('Action', 'spec'), 'spec');
  t.equal(action.find((f) => f.path === 'spec.actionJob.affinity')?.type, 'object (any fields)');
  t.equal(action.find((f) => f.path === 'spec.actionJob.labels')?.type, 'map[string]string');

  const repo = describeFields(kindSchema('GitRepo', 'spec'), 'spec');
  const keys = repo.find((f) => f.path === 'spec.authConfig.keys');
  t.equal(keys?.defaultPerField, true, "a long object default is left to its fields' rows");
  t.equal(repo.find((f) => f.path === 'spec.authConfig.keys.privateKey')?.default, 'ssh-privatekey');
  t.match(renderFieldTable(kindSchema('GitRepo', 'spec'), 'spec'), "each field's default");
  t.match(renderFieldTable(kindSchema('GitRepo', 'spec'), 'spec'), /Pattern of `spec\.repoUri`:\n\n```text\n\^git@/);
});

t.test('a document whose fields are all optional can leave out the required column', async (t) => {
  const schema = { type: 'object', properties: { a: { type: 'integer', default: 3, maximum: 2 ** 53 - 1 } } };
  const table = renderFieldTable(schema, '', { required: false });
  t.match(table.split('\n')[0], /^\| field +\| type +\| default +\| description +\|$/);
  t.match(table, /\| `a` +\| integer \| `3` +\|/);
  t.notMatch(table, 'Maximum', 'the largest safe integer is no bound worth naming');
});

t.test('CEL rules are listed with the path they apply to', async (t) => {
  t.same(
    validationRules('ScheduleTrigger').map((r) => r.path),
    ['spec.sources.watchOn.reference', 'spec.schedule'],
  );
  t.same(
    validationRules('Action').map((r) => r.path),
    ['spec.sourceOverride.reference'],
  );
  const repo = renderValidationRules('GitRepo');
  t.match(repo, /^- `spec`: authConfig\.type does not fit repoUri/);
  t.match(repo, "CEL: `!has(self.authConfig) || (self.authConfig.type == 'ssh'");
});

t.test('kind summary and printer columns come from the kind definition', async (t) => {
  const summary = renderKindSummary('ClusterAction');
  t.match(summary, '| scope              | Cluster');
  t.match(summary, '`cgact`');
  t.match(summary, '| status subresource | no');
  t.match(renderKindSummary('WebhookTrigger'), 'yes (written by the controller only)');
  const columns = renderPrinterColumns('ScheduleTrigger');
  t.match(columns, /\| Interval +\| `\.spec\.schedule\.interval` +\| string +\| with `-o wide` \|/);
  t.match(columns, /\| Ready +\| `\.status\.conditions\[\?\(@\.type=="Ready"\)\]\.status` +\| string +\| always +\|/);
});

t.test('bad kinds and parts name what is wrong', async (t) => {
  t.throws(() => renderKindSummary('Gitrepo'), { name: 'DocsError', code: 'UnknownKind', message: /"Gitrepo"/ });
  t.throws(() => kindSchema('GitRepo', 'status'), { code: 'InvalidDirective', message: 'GitRepo has no status' });
  t.throws(() => kindSchema('GitRepo', 'spek'), { code: 'InvalidDirective', message: /"spek"/ });
  t.throws(() => RESOURCE_DIRECTIVES.fields?.(['GitRepo']), { code: 'InvalidDirective', message: /missing argument/ });
});

t.test('markdown tables escape pipes and newlines and pad columns', async (t) => {
  const table = markdownTable(
    ['a', 'b'],
    [
      ['x|y', 'one\ntwo'],
      ['longer cell', ''],
    ],
  );
  t.equal(
    table,
    [
      '| a           | b       |',
      '| ----------- | ------- |',
      '| x\\|y        | one two |',
      '| longer cell |         |',
    ].join('\n'),
  );
  t.equal(codeSpan('a'), '`a`');
  t.equal(codeSpan('a`b'), '``a`b``');
  t.equal(codeSpan('`a'), '`` `a ``');
});

t.test('defaults read as YAML flow values', async (t) => {
  t.equal(
    flowValue({ onChangeOnly: true, reference: { branch: 'main' } }),
    '{onChangeOnly: true, reference: {branch: main}}',
  );
  t.equal(flowValue(['a', 'b c']), '[a, "b c"]');
  t.equal(flowValue('true'), '"true"', 'a string that YAML would read as a boolean is quoted');
  t.equal(flowValue('300'), '"300"');
  t.equal(flowValue('/action_workdir'), '/action_workdir');
  t.equal(flowValue(16), '16');
});

t.test('options tables show defaults, choices, required and hidden options', async (t) => {
  const table = renderOptionsTable([
    { flags: '-w, --webhooks-port <port>', description: 'port of the webhook server', defaultValue: 8080 },
    {
      flags: '--log-format <format>',
      description: 'log output format',
      defaultValue: 'json',
      argChoices: ['json', 'text'],
    },
    { flags: '-n, --namespace <ns>', description: 'namespace', defaultValueDescription: '$POD_NAMESPACE' },
    { flags: '-k, --kind <kind>', description: 'kind of the source (1-2)', mandatory: true },
    { flags: '-j, --json-logs', description: 'same as --log-format json', hidden: true },
  ]);
  const lines = table.split('\n');
  t.match(lines[2], /\| `-w, --webhooks-port <port>` \| `8080` +\| Port of the webhook server\. +\|/);
  t.match(lines[3], 'Log output format. One of `json`, `text`.');
  t.match(lines[4], '| $POD_NAMESPACE |');
  t.match(lines[5], 'Kind of the source (1-2). Required.');
  t.match(lines[6], 'Same as --log-format json. Not listed by `--help`.');
});

t.test('metrics tables show type, labels and buckets', async (t) => {
  const table = renderMetricsTable([
    { name: 'p_checks_total', type: 'counter', help: 'Checks', labelNames: ['namespace', 'result'] },
    { name: 'p_lateness_seconds', type: 'histogram', help: 'Lateness.', labelNames: [], buckets: [0.1, 1] },
  ]);
  t.match(table, /\| `p_checks_total` +\| counter +\| `namespace`, `result` \| Checks\. +\|/);
  t.match(table, /\| `p_lateness_seconds` \| histogram \| +\| Lateness\. Buckets: 0\.1, 1\. \|/);
});

t.test('templates: directive lines are replaced, everything else is kept', async (t) => {
  const calls: string[][] = [];
  const out = renderTemplate(
    [
      '# Title',
      '<!-- @hello a b -->',
      'text <!-- @hello inline --> stays',
      '```md',
      '<!-- @hello in-a-fence -->',
      '```',
      '  <!-- @hello   -->  ',
    ].join('\n'),
    {
      hello: (args) => {
        calls.push([...args]);
        return `HELLO(${args.join(',')})`;
      },
    },
  );
  t.equal(
    out,
    [
      '# Title',
      'HELLO(a,b)',
      'text <!-- @hello inline --> stays',
      '```md',
      '<!-- @hello in-a-fence -->',
      '```',
      'HELLO()',
    ].join('\n'),
  );
  t.same(calls, [['a', 'b'], []]);
});

t.test('templates: unknown directives and renderer errors name the line', async (t) => {
  t.throws(() => renderTemplate('a\n<!-- @nope x -->', { hello: () => '' }), {
    name: 'DocsError',
    code: 'UnknownDirective',
    message: 'line 2: unknown directive @nope (known: hello)',
  });
  t.throws(() => renderTemplate('<!-- @fields Nope spec -->', RESOURCE_DIRECTIVES), {
    code: 'UnknownKind',
    message: /^line 1: @fields: unknown kind "Nope"/,
  });
  const err = (() => {
    try {
      renderTemplate('<!-- @fields GitRepo -->', RESOURCE_DIRECTIVES);
    } catch (e: unknown) {
      return e;
    }
    return undefined;
  })();
  t.ok(err instanceof DocsError);
  t.ok((err as DocsError).cause instanceof DocsError, 'the original error is the cause');
});

t.test('resource directives render the same as the functions they name', async (t) => {
  t.equal(RESOURCE_DIRECTIVES['kind-summary']?.(['GitRepo']), renderKindSummary('GitRepo'));
  t.equal(
    RESOURCE_DIRECTIVES.fields?.(['ScheduleTrigger', 'status']),
    renderFieldTable(toOpenApi(KINDS[2].status), 'status'),
  );
  t.equal(RESOURCE_DIRECTIVES['printer-columns']?.(['Action']), renderPrinterColumns('Action'));
  t.equal(RESOURCE_DIRECTIVES['validation-rules']?.(['ClusterGitRepo']), renderValidationRules('ClusterGitRepo'));
});

import { KINDS, type KindName } from '@git-events-runner/shared';
import { formatInterval, parseInterval } from '@git-events-runner/shared/schedule';
import fc from 'fast-check';
import t from 'tap';
import { parsePolicy } from '../src/policy.js';
import type { AdmissionRequest } from '../src/review.js';
import { type JsonPatchOperation, mutate, mutationPatch } from '../src/rules/mutate.js';
import { type AccessVerdict, completeValidation, planValidation } from '../src/rules/validate.js';
import { admissionRequest } from './requests.js';

// Random objects through both webhooks: anyone allowed to create these kinds can send anything. No input
// may crash a review, every denial carries a message naming a field, warnings fit kube-apiserver's limits,
// and the mutation is a patch of spec fields that a second pass leaves alone.

// A fixed seed keeps CI deterministic; FC_SEED explores others. fast-check prints seed and path on failure.
const SEED = Number(process.env.FC_SEED ?? 0xad_5e55);
t.comment(`fast-check seed ${SEED} (set FC_SEED to replay another)`);
const runs = (numRuns: number) => ({ seed: SEED, numRuns }) as const;

const policy = parsePolicy('minInterval: 30s\nactionServiceAccounts: [default]\nallowClusterActions: false\n');
const now = new Date('2025-06-01T00:00:00Z');
const KIND_NAMES = KINDS.map((k) => k.kind) as KindName[];

const hostileKey = fc.constantFrom('__proto__', 'constructor', 'toString', '', 'a.b', 'x/y~z');
const junk = fc.jsonValue({ maxDepth: 3 });

const units = fc.constantFrom(
  'ns',
  'us',
  'ms',
  's',
  'sec',
  'm',
  'min',
  'minutes',
  'h',
  'hr',
  'd',
  'w',
  'M',
  'y',
  'q',
  '',
);
const interval = fc.oneof(
  fc
    .array(fc.tuple(fc.nat({ max: 5000 }), fc.constantFrom('', ' '), units, fc.constantFrom('', ' ')), {
      minLength: 1,
      maxLength: 4,
    })
    .map((groups) => groups.map(([n, s1, u, s2]) => `${n}${s1}${u}${s2}`).join('')),
  fc.string({ maxLength: 12 }),
);
const cronField = fc.constantFrom('*', '?', '0', '*/5', '1-5', 'L', 'MON', '61', '1,2', '5W', '2#1', 'x');
const cron = fc.oneof(
  fc
    .tuple(
      fc.constantFrom('', 'TZ=UTC ', 'TZ=Europe/Berlin ', 'TZ=Nowhere ', 'TZ= '),
      fc.array(cronField, { minLength: 3, maxLength: 8 }),
    )
    .map(([prefix, fields]) => `${prefix}${fields.join(' ')}`),
  fc.constantFrom('@daily', '@hourly', '@reboot', '0 0 30 2 *', '0 0 0 1 1 * 2024'),
  fc.string({ maxLength: 20 }),
);
const name = fc.oneof(fc.constantFrom('repo', 'act', 'default', 'deployer', 'creds'), fc.string({ maxLength: 10 }));
const secretRef = fc.record(
  { name, namespace: fc.option(fc.constantFrom('team-a', 'team-b', ''), { nil: undefined }) },
  { requiredKeys: ['name'] },
);
const repoUri = fc.oneof(
  fc.constantFrom(
    'https://git.example.com/r.git',
    'http://git.example.com/r.git',
    'ssh://git@git.example.com:2222/r.git',
    'git@github.com:org/r.git',
    'git://git.example.com/r.git',
    'ftp://x/y',
  ),
  fc.webUrl(),
  fc.string({ maxLength: 20 }),
);
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });

// Specs shaped like the real ones (each field may still be wrong), so the deep rules are reached.
const shaped: Record<KindName, fc.Arbitrary<unknown>> = {
  GitRepo: fc.record({
    repoUri,
    authConfig: maybe(
      fc.record({
        type: fc.constantFrom('basic', 'token', 'ssh', 'other'),
        secretRef,
        insecureIgnoreHostKey: maybe(fc.boolean()),
      }),
    ),
    tlsConfig: maybe(fc.record({ noVerifySsl: maybe(fc.boolean()), caCert: maybe(fc.record({ secretRef })) })),
  }),
  ClusterGitRepo: fc.constant(undefined),
  ScheduleTrigger: fc.record({
    sources: fc.record({
      kind: fc.constantFrom('GitRepo', 'ClusterGitRepo'),
      names: fc.array(name, { maxLength: 3 }),
      watchOn: maybe(fc.record({ onChangeOnly: fc.boolean() })),
    }),
    schedule: fc.oneof(
      fc.record({ interval, timeZone: maybe(fc.constantFrom('UTC', 'Nowhere')) }),
      fc.record({ cron, timeZone: maybe(fc.constantFrom('UTC', 'America/New_York', 'Nowhere', '+01:00')) }),
      fc.record({ interval, cron }),
    ),
    action: fc.record({ kind: fc.constantFrom('Action', 'ClusterAction'), name }),
    startingDeadlineSeconds: maybe(fc.nat()),
  }),
  WebhookTrigger: fc.record({
    sources: fc.record({ names: fc.array(name, { maxLength: 3 }) }),
    action: fc.record({ kind: fc.constantFrom('Action', 'ClusterAction'), name }),
    webhook: fc.record({
      multiSource: maybe(fc.boolean()),
      authConfig: maybe(
        fc.record({ secretRef: fc.record({ name }), key: name, header: maybe(fc.string({ maxLength: 8 })) }),
      ),
    }),
  }),
  Action: fc.record({
    sourceOverride: maybe(
      fc.record({ kind: fc.constantFrom('GitRepo', 'ClusterGitRepo'), name, reference: fc.record({ branch: name }) }),
    ),
    actionJob: maybe(fc.record({ serviceAccount: maybe(name) })),
  }),
  ClusterAction: fc.constant(undefined),
};
shaped.ClusterGitRepo = shaped.GitRepo;
shaped.ClusterAction = shaped.Action;

// A spec: shaped, fully random, or shaped with a hostile key spliced in.
const spec = (kind: KindName) =>
  fc.oneof(
    { weight: 4, arbitrary: shaped[kind] },
    { weight: 1, arbitrary: junk },
    {
      weight: 1,
      arbitrary: fc.tuple(shaped[kind], hostileKey, junk).map(([s, k, v]) => {
        const base = typeof s === 'object' && s !== null && !Array.isArray(s) ? JSON.stringify(s) : '{}';
        // JSON.parse makes even "__proto__" an own property, as kube-apiserver's JSON would.
        const rest = base === '{}' ? '}' : `,${base.slice(1)}`;
        return JSON.parse(`{${JSON.stringify(k)}:${JSON.stringify(v)}${rest}`) as unknown;
      }),
    },
  );

const verdict: fc.Arbitrary<AccessVerdict> = fc.oneof(
  fc.constant({ result: 'allowed' } as const),
  fc.record(
    { result: fc.constant('denied' as const), reason: maybe(fc.string({ maxLength: 300 })) },
    { requiredKeys: ['result'] },
  ),
  fc.record({ result: fc.constant('error' as const), message: fc.string({ maxLength: 300 }) }),
);

const request: fc.Arbitrary<{ request: AdmissionRequest; access: AccessVerdict[]; exists: (boolean | undefined)[] }> =
  fc
    .constantFrom(...KIND_NAMES)
    .chain((kind) =>
      fc.record({
        kind: fc.constant(kind),
        spec: spec(kind),
        old: maybe(spec(kind)),
        access: fc.array(verdict, { maxLength: 3 }),
        exists: fc.array(fc.option(fc.boolean(), { nil: undefined }), { maxLength: 8 }),
      }),
    )
    .map(({ kind, spec: s, old, access, exists }) => ({
      request: admissionRequest(kind, s, old === undefined ? {} : { old }),
      access,
      exists,
    }));

function apply(object: unknown, ops: readonly JsonPatchOperation[]): unknown {
  const copy = structuredClone(object) as Record<string, unknown>;
  for (const { path, value } of ops) {
    const keys = path
      .split('/')
      .slice(1)
      .map((k) => k.replaceAll('~1', '/').replaceAll('~0', '~'));
    const last = keys.pop() ?? '';
    let at = copy;
    for (const k of keys) at = at[k] as Record<string, unknown>;
    Object.defineProperty(at, last, { value, enumerable: true, writable: true, configurable: true });
  }
  return copy;
}

t.test('validation: no crash; a denial names a field; warnings within limits', async (t) => {
  let denied = 0;
  let allowed = 0;
  fc.assert(
    fc.property(request, ({ request: r, access, exists }) => {
      const plan = planValidation(r, policy, now);
      const response = completeValidation(
        plan,
        plan.secretReads.map((_, i) => access[i] ?? { result: 'allowed' }),
        plan.references.map((_, i) => exists[i]),
      );
      if (response.uid !== r.uid) return false;
      for (const w of response.warnings ?? [])
        if (typeof w !== 'string' || w.length === 0 || w.length > 250) return false;
      if ((response.warnings?.length ?? 0) > 16) return false;
      if (response.allowed) {
        allowed++;
        return response.status === undefined;
      }
      denied++;
      const message = response.status?.message ?? '';
      return (
        message.length > 0 &&
        message.length <= 3000 &&
        /^(spec|\(object\))[.:[ ]/.test(message) &&
        [403, 422, 500].includes(response.status?.code ?? 0)
      );
    }),
    runs(1500),
  );
  t.ok(denied > 100 && allowed > 100, `both verdicts reached (${allowed} allowed, ${denied} denied)`);
});

t.test('mutation: no crash; patches touch spec only and are idempotent', async (t) => {
  let patched = 0;
  fc.assert(
    fc.property(request, ({ request: r }) => {
      const response = mutate(r, policy);
      if (!response.allowed || response.uid !== r.uid) return false;
      if (response.patch === undefined) return response.patchType === undefined;
      patched++;
      const ops = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as JsonPatchOperation[];
      if (!ops.every((o) => (o.op === 'add' || o.op === 'replace') && o.path.startsWith('/spec/'))) return false;
      const after = apply(r.object, ops);
      return mutationPatch({ ...r, object: after }, policy).length === 0;
    }),
    runs(1500),
  );
  t.ok(patched > 100, `patches were produced (${patched})`);
});

t.test('canonical intervals keep their meaning', async (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat({ max: 1000 }), fc.constantFrom('ns', 'us', 'ms', 's', 'm', 'h', 'd', 'w')), {
        minLength: 1,
        maxLength: 5,
      }),
      (groups) => {
        const text = groups.map(([n, u]) => `${n}${u}`).join(' ');
        const ms = parseInterval(text);
        const canonical = formatInterval(ms);
        return parseInterval(canonical) === ms && formatInterval(parseInterval(canonical)) === canonical;
      },
    ),
    runs(1000),
  );
  t.pass('parse(format(parse(x))) = parse(x)');
});

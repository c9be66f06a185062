import { type KindName, withDefaults } from '@git-events-runner/shared';
import t from 'tap';
import { defaultPolicy, parsePolicy } from '../src/policy.js';
import { type JsonPatchOperation, mutate, mutationPatch } from '../src/rules/mutate.js';
import { admissionRequest } from './requests.js';

// The mutating webhook: implicit defaults and canonical intervals, as minimal JSONPatches.

const policy = defaultPolicy();
const sources = { names: ['repo'] };
const action = { kind: 'Action', name: 'act' };

// Applies add/replace operations (all the webhook emits) to a copy, as kube-apiserver does.
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
    at[last] = value;
  }
  return copy;
}

// What kube-apiserver hands the webhook: the object after the CRD's own defaulting.
const defaulted = (kind: KindName, spec: unknown) => withDefaults(kind, spec);

t.test('intervals are normalised to one canonical spelling', async (t) => {
  for (const [given, canonical] of [
    ['90s', '1m30s'],
    ['1m 30s', '1m30s'],
    [' 1 minute 30 seconds ', '1m30s'],
    ['3600s', '1h'],
    ['1500ms', '1s500ms'],
    ['2 days', '2d'],
    ['1w', '7d'],
  ] as const) {
    const request = admissionRequest(
      'ScheduleTrigger',
      defaulted('ScheduleTrigger', { sources, schedule: { interval: given }, action }),
    );
    t.same(
      mutationPatch(request, policy),
      [{ op: 'replace', path: '/spec/schedule/interval', value: canonical }],
      given,
    );
  }
  const canonical = admissionRequest(
    'ScheduleTrigger',
    defaulted('ScheduleTrigger', { sources, schedule: { interval: '1m30s' }, action }),
  );
  t.same(mutate(canonical, policy), { uid: canonical.uid, allowed: true }, 'already canonical: no patch at all');
  const invalid = admissionRequest(
    'ScheduleTrigger',
    defaulted('ScheduleTrigger', { sources, schedule: { interval: '5 parsecs' }, action }),
  );
  t.same(mutationPatch(invalid, policy), [], 'left for the validating webhook to refuse');
  const cron = admissionRequest(
    'ScheduleTrigger',
    defaulted('ScheduleTrigger', { sources, schedule: { cron: '0  *  * * *' }, action }),
  );
  t.same(mutationPatch(cron, policy), [], 'cron expressions are left as written');
});

t.test('an update that changes nothing gets no patch; a cosmetic interval edit comes back unchanged', async (t) => {
  const stored = defaulted('ScheduleTrigger', { sources, schedule: { interval: '1m30s' }, action });
  t.same(mutationPatch(admissionRequest('ScheduleTrigger', stored, { old: stored }), policy), []);
  const edited = defaulted('ScheduleTrigger', { sources, schedule: { interval: '90s' }, action });
  const request = admissionRequest('ScheduleTrigger', edited, { old: stored });
  const patched = apply(request.object, mutationPatch(request, policy)) as { spec: unknown };
  t.same(patched.spec, stored, 'the spec after the patch equals the stored one: no new generation');
});

t.test('WebhookTrigger: the auth header is written down; a set one is kept', async (t) => {
  const spec = (authConfig: Record<string, unknown>) =>
    defaulted('WebhookTrigger', { sources, action, webhook: { multiSource: false, authConfig } });
  const request = admissionRequest('WebhookTrigger', spec({ secretRef: { name: 's' }, key: 'token' }));
  t.same(mutationPatch(request, policy), [
    { op: 'add', path: '/spec/webhook/authConfig/header', value: 'x-trigger-auth' },
  ]);
  t.same(mutationPatch(request, parsePolicy('webhookAuthHeader: X-Hook-Token')), [
    { op: 'add', path: '/spec/webhook/authConfig/header', value: 'x-hook-token' },
  ]);
  const set = admissionRequest('WebhookTrigger', spec({ secretRef: { name: 's' }, key: 'token', header: 'X-Mine' }));
  t.same(mutationPatch(set, policy), []);
  const open = admissionRequest('WebhookTrigger', defaulted('WebhookTrigger', { sources, action, webhook: {} }));
  t.same(mutationPatch(open, policy), [], 'no authConfig: nothing to default');
});

t.test('defaults the CRD applies are added only when missing (an older CRD), never replacing set values', async (t) => {
  const raw = admissionRequest('WebhookTrigger', {
    sources: { names: ['repo'], watchOn: { onChangeOnly: false } },
    action,
    webhook: { authConfig: { secretRef: { name: 's' }, key: 'k' } },
  });
  const byPath = (ops: JsonPatchOperation[]) => ops.sort((a, b) => a.path.localeCompare(b.path));
  t.same(
    byPath(mutationPatch(raw, policy)),
    byPath([
      { op: 'add', path: '/spec/sources/kind', value: 'GitRepo' },
      { op: 'add', path: '/spec/sources/watchOn/reference', value: { branch: 'main' } },
      { op: 'add', path: '/spec/webhook/multiSource', value: false },
      { op: 'add', path: '/spec/webhook/authConfig/header', value: 'x-trigger-auth' },
      { op: 'add', path: '/spec/suspend', value: false },
      { op: 'add', path: '/spec/concurrencyPolicy', value: 'Allow' },
    ]),
  );
  const repo = admissionRequest('GitRepo', {
    repoUri: 'https://git.example.com/r.git',
    authConfig: { type: 'basic', secretRef: { name: 's' }, keys: { username: 'user' } },
  });
  const ops = mutationPatch(repo, policy);
  t.same(
    ops.map((o) => o.path),
    [
      '/spec/authConfig/keys/password',
      '/spec/authConfig/keys/token',
      '/spec/authConfig/keys/privateKey',
      '/spec/authConfig/keys/passphrase',
      '/spec/authConfig/keys/knownHosts',
    ],
    'each key name defaults on its own; the user name key that was set stays',
  );
  t.ok(ops.every((o) => o.op === 'add'));
  const trigger = admissionRequest('ScheduleTrigger', { sources, schedule: { interval: '5m' }, action });
  t.same(
    mutationPatch(trigger, policy).find((o) => o.path === '/spec/sources/watchOn'),
    { op: 'add', path: '/spec/sources/watchOn', value: { onChangeOnly: true, reference: { branch: 'main' } } },
  );
  const defaultedRepo = admissionRequest(
    'GitRepo',
    defaulted('GitRepo', repo.object && (repo.object as { spec: unknown }).spec),
  );
  t.same(mutationPatch(defaultedRepo, policy), [], 'after the CRD defaulting nothing is left to add');
});

t.test('the patch is base64 JSON and idempotent', async (t) => {
  const request = admissionRequest('ScheduleTrigger', { sources, schedule: { interval: '120s' }, action });
  const response = mutate(request, policy);
  t.equal(response.allowed, true);
  t.equal(response.patchType, 'JSONPatch');
  const ops = JSON.parse(Buffer.from(response.patch ?? '', 'base64').toString('utf8')) as JsonPatchOperation[];
  t.same(ops, mutationPatch(request, policy));
  const again = admissionRequest('ScheduleTrigger', (apply(request.object, ops) as { spec: unknown }).spec);
  t.same(mutationPatch(again, policy), [], 'a second pass (reinvocation) changes nothing');
});

t.test('left alone: other kinds, DELETE, subresources, objects without a spec', async (t) => {
  const request = admissionRequest('ScheduleTrigger', { sources, schedule: { interval: '90s' }, action });
  t.same(mutationPatch({ ...request, operation: 'DELETE' }, policy), []);
  t.same(mutationPatch({ ...request, subResource: 'status' }, policy), []);
  t.same(mutationPatch({ ...request, kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }, policy), []);
  t.same(mutationPatch({ ...request, object: { metadata: {} } }, policy), []);
  t.same(mutationPatch({ ...request, object: 'garbage' }, policy), []);
});

import { GROUP, VERSION } from '@git-events-runner/shared';
import t from 'tap';
import { defaultPolicy, parsePolicy } from '../src/policy.js';
import type { AdmissionRequest } from '../src/review.js';
import { completeValidation, planValidation } from '../src/rules/validate.js';
import { admissionRequest } from './requests.js';

// Action and ClusterAction: service accounts, source overrides; and what the validating webhook leaves alone.

const now = new Date('2025-06-01T00:00:00Z');
const accounts = parsePolicy('actionServiceAccounts: [default, deployer]\n');

function judge(request: AdmissionRequest, policy = accounts) {
  const plan = planValidation(request, policy, now);
  return {
    plan,
    response: completeValidation(
      plan,
      plan.secretReads.map(() => ({ result: 'allowed' as const })),
      plan.references.map(() => true),
    ),
  };
}

t.test('namespaced Actions may use only the service accounts of the policy', async (t) => {
  const action = (serviceAccount?: string) =>
    admissionRequest('Action', { actionJob: serviceAccount === undefined ? {} : { serviceAccount } });
  t.equal(judge(action('deployer')).response.allowed, true);
  t.equal(judge(action()).response.allowed, true, "no service account: the controller's default applies");
  const denied = judge(action('cluster-admin-sa')).response;
  t.equal(denied.allowed, false);
  t.equal(denied.status?.code, 403);
  t.equal(
    denied.status?.message,
    `spec.actionJob.serviceAccount: "cluster-admin-sa" is not a service account this cluster's admission policy lets namespaced Actions use (actionServiceAccounts: default, deployer)`,
  );
  t.match(
    judge(action('x'), parsePolicy('actionServiceAccounts: []')).response.status?.message,
    /actionServiceAccounts: none/,
  );
  t.equal(judge(action('anything'), defaultPolicy()).response.allowed, true, 'no list: any service account');
  t.equal(
    judge(admissionRequest('ClusterAction', { actionJob: { serviceAccount: 'runner' } })).response.allowed,
    true,
    'ClusterActions are made by cluster administrators and are not limited',
  );
});

t.test('source overrides: a ClusterAction only to a ClusterGitRepo; references looked up', async (t) => {
  const reference = { branch: 'main' };
  const cluster = judge(
    admissionRequest('ClusterAction', { sourceOverride: { kind: 'GitRepo', name: 'repo', reference } }),
  ).response;
  t.equal(cluster.allowed, false);
  t.match(
    cluster.status?.message,
    /^spec\.sourceOverride\.kind: must be ClusterGitRepo: a ClusterAction runs in the namespace of any trigger/,
  );
  t.notMatch(cluster.status?.message, /Expected union value/, 'one message for the field');

  const ok = judge(
    admissionRequest('ClusterAction', { sourceOverride: { kind: 'ClusterGitRepo', name: 'shared', reference } }),
  );
  t.equal(ok.response.allowed, true);
  t.same(ok.plan.references, [
    { field: 'spec.sourceOverride.name', kind: 'ClusterGitRepo', namespace: undefined, name: 'shared' },
  ]);

  const local = judge(admissionRequest('Action', { sourceOverride: { kind: 'GitRepo', name: 'repo', reference } }));
  t.same(local.plan.references, [
    { field: 'spec.sourceOverride.name', kind: 'GitRepo', namespace: 'team-a', name: 'repo' },
  ]);

  const closed = judge(
    admissionRequest('Action', { sourceOverride: { kind: 'ClusterGitRepo', name: 'shared', reference } }),
    parsePolicy('allowClusterGitRepos: false'),
  ).response;
  t.equal(closed.allowed, false);
  t.match(
    closed.status?.message,
    /^spec\.sourceOverride\.kind: this cluster's admission policy does not let namespaced Actions use ClusterGitRepos/,
  );

  const twoRefs = judge(
    admissionRequest('Action', {
      sourceOverride: { kind: 'GitRepo', name: 'r', reference: { branch: 'a', tag: 'b' } },
    }),
  ).response;
  t.match(
    twoRefs.status?.message,
    /^spec\.sourceOverride\.reference: exactly one of branch, tag or commit must be set/,
  );
});

t.test('what is not judged: other kinds and operations, subresources; a request without object', async (t) => {
  const base = admissionRequest('Action', { actionJob: { serviceAccount: 'not-allowed' } });
  const plain = (r: AdmissionRequest) => {
    const plan = planValidation(r, accounts, now);
    return plan.problems.length + plan.warnings.length + plan.secretReads.length + plan.references.length;
  };
  t.equal(plain({ ...base, operation: 'DELETE' }), 0);
  t.equal(plain({ ...base, subResource: 'status' }), 0);
  t.equal(plain({ ...base, kind: { group: '', version: 'v1', kind: 'ConfigMap' } }), 0);
  t.equal(plain({ ...base, kind: { group: GROUP, version: 'v2', kind: 'Action' } }), 0);
  t.equal(plain({ ...base, kind: { group: GROUP, version: VERSION, kind: 'Nope' } }), 0);
  const { object: _, ...noObject } = base;
  const response = judge(noObject).response;
  t.equal(response.allowed, false);
  t.equal(response.status?.message, '(object): the request carries no object');
});

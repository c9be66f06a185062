import t from 'tap';
import { defaultPolicy } from '../src/policy.js';
import type { AdmissionRequest } from '../src/review.js';
import { type AccessVerdict, completeValidation, planValidation } from '../src/rules/validate.js';
import { admissionRequest } from './requests.js';

// GitRepo and ClusterGitRepo: Secret namespaces, Secret access (SubjectAccessReview plan), schemes, warnings.

const policy = defaultPolicy();
const now = new Date('2025-06-01T00:00:00Z');
const allowed: AccessVerdict = { result: 'allowed' };

function judge(request: AdmissionRequest, access: (i: number) => AccessVerdict = () => allowed) {
  const plan = planValidation(request, policy, now);
  const response = completeValidation(
    plan,
    plan.secretReads.map((_, i) => access(i)),
    plan.references.map(() => true),
  );
  return { plan, response };
}

const https = 'https://git.example.com/team/repo.git';
const token = (secretRef: Record<string, string>) => ({ type: 'token', secretRef });

t.test('GitRepo: Secrets are read in its own namespace; another namespace is refused', async (t) => {
  const own = judge(admissionRequest('GitRepo', { repoUri: https, authConfig: token({ name: 'creds' }) }));
  t.equal(own.response.allowed, true);
  t.same(own.plan.secretReads, [{ field: 'spec.authConfig.secretRef', name: 'creds', namespace: 'team-a' }]);

  const same = judge(
    admissionRequest('GitRepo', { repoUri: https, authConfig: token({ name: 'creds', namespace: 'team-a' }) }),
  );
  t.equal(same.response.allowed, true, 'naming its own namespace is harmless');

  const foreign = judge(
    admissionRequest('GitRepo', { repoUri: https, authConfig: token({ name: 'creds', namespace: 'team-b' }) }),
  );
  t.equal(foreign.response.allowed, false);
  t.equal(foreign.response.status?.code, 403);
  t.match(
    foreign.response.status?.message,
    /^spec\.authConfig\.secretRef\.namespace: a GitRepo reads Secrets only in its own namespace \(team-a\), so "team-b" would be ignored/,
  );
  t.same(foreign.plan.secretReads, [], 'a denied request asks the cluster nothing');

  const ca = judge(
    admissionRequest('GitRepo', {
      repoUri: https,
      tlsConfig: { caCert: { secretRef: { name: 'ca', namespace: 'kube-system' } } },
    }),
  );
  t.equal(ca.response.allowed, false);
  t.match(ca.response.status?.message, /spec\.tlsConfig\.caCert\.secretRef\.namespace: .*"kube-system"/);
});

t.test('GitRepo: the requester must be allowed to read the Secrets in its namespace', async (t) => {
  const { response } = judge(
    admissionRequest('GitRepo', { repoUri: https, authConfig: token({ name: 'creds' }) }),
    () => ({ result: 'denied' }),
  );
  t.equal(response.allowed, false);
  t.equal(response.status?.code, 403);
  t.match(response.status?.message, 'spec.authConfig.secretRef: user "alice" may not get Secret team-a/creds');
});

t.test('ClusterGitRepo: one access check per referenced Secret, denial naming the Secret', async (t) => {
  const spec = {
    repoUri: https,
    authConfig: token({ name: 'creds', namespace: 'team-b' }),
    tlsConfig: { caCert: { secretRef: { name: 'corp-ca', namespace: 'pki' } } },
  };
  const ok = judge(admissionRequest('ClusterGitRepo', spec));
  t.equal(ok.response.allowed, true);
  t.same(ok.plan.secretReads, [
    { field: 'spec.authConfig.secretRef', name: 'creds', namespace: 'team-b' },
    { field: 'spec.tlsConfig.caCert.secretRef', name: 'corp-ca', namespace: 'pki' },
  ]);
  t.same(ok.plan.user, { username: 'alice', uid: 'u-1', groups: ['team-a', 'system:authenticated'] });

  const authDenied = judge(admissionRequest('ClusterGitRepo', spec), (i) =>
    i === 0 ? { result: 'denied', reason: 'no RBAC policy matched' } : allowed,
  );
  t.equal(authDenied.response.allowed, false);
  t.equal(
    authDenied.response.status?.message,
    'spec.authConfig.secretRef: user "alice" may not get Secret team-b/creds (no RBAC policy matched), so the object may not make the controller and its Jobs read it',
  );

  const caDenied = judge(admissionRequest('ClusterGitRepo', spec), (i) => (i === 1 ? { result: 'denied' } : allowed));
  t.match(
    caDenied.response.status?.message,
    /^spec\.tlsConfig\.caCert\.secretRef: user "alice" may not get Secret pki\/corp-ca/,
  );

  const unknown = judge(admissionRequest('ClusterGitRepo', spec), () => ({ result: 'error', message: 'timed out' }));
  t.equal(unknown.response.allowed, false, 'fails closed when access cannot be checked');
  t.equal(unknown.response.status?.code, 500);
  t.match(
    unknown.response.status?.message,
    'could not check whether user "alice" may read Secret team-b/creds: timed out',
  );

  const anonymous = judge(admissionRequest('ClusterGitRepo', spec, { user: {} }), () => ({ result: 'denied' }));
  t.match(anonymous.response.status?.message, 'the anonymous user may not get Secret team-b/creds');
});

t.test('ClusterGitRepo without a Secret namespace: access in every namespace is required', async (t) => {
  const request = admissionRequest('ClusterGitRepo', { repoUri: https, authConfig: token({ name: 'creds' }) });
  const ok = judge(request);
  t.same(ok.plan.secretReads, [{ field: 'spec.authConfig.secretRef', name: 'creds', namespace: undefined }]);
  t.equal(ok.response.allowed, true);
  t.match(ok.response.warnings, [
    /spec\.authConfig\.secretRef: names no namespace: each trigger using this ClusterGitRepo reads Secret "creds" in its own namespace/,
  ]);
  const denied = judge(request, () => ({ result: 'denied' }));
  t.match(
    denied.response.status?.message,
    /user "alice" may not get Secrets named "creds" in every namespace.*set secretRef.namespace/,
  );
});

t.test('schemes and authentication types: refused with the field named', async (t) => {
  const cases: [unknown, RegExp][] = [
    [
      { repoUri: https, authConfig: { type: 'ssh', secretRef: { name: 's' } } },
      /^spec: authConfig\.type does not fit repoUri/,
    ],
    [
      { repoUri: 'git://git.example.com/r.git', authConfig: token({ name: 's' }) },
      /^spec: authConfig\.type does not fit repoUri/,
    ],
    [
      { repoUri: 'ssh://git@git.example.com/r.git', authConfig: token({ name: 's' }) },
      /^spec: authConfig\.type does not fit repoUri/,
    ],
    [{ repoUri: 'ftp://git.example.com/r.git' }, /^spec\.repoUri: /],
    [{ repoUri: 'https://user:pw@git.example.com/r.git' }, /^spec\.repoUri: /],
    [{ repoUri: https, authConfig: { type: 'kerberos', secretRef: { name: 's' } } }, /^spec\.authConfig\.type: /],
    [{ repoUri: https, authConfig: { type: 'basic' } }, /^spec\.authConfig\.secretRef: /],
  ];
  for (const [spec, message] of cases) {
    for (const kind of ['GitRepo', 'ClusterGitRepo'] as const) {
      const { response } = judge(admissionRequest(kind, spec));
      t.equal(response.allowed, false, `${kind} ${JSON.stringify(spec)}`);
      t.equal(response.status?.code, 422);
      t.match(response.status?.message, message);
    }
  }
  for (const repoUri of ['git@github.com:org/repo.git', 'ssh://git@host:2222/r.git']) {
    const { response } = judge(
      admissionRequest('GitRepo', { repoUri, authConfig: { type: 'ssh', secretRef: { name: 'k' } } }),
    );
    t.equal(response.allowed, true, repoUri);
  }
});

t.test('warnings for risky settings, allowed', async (t) => {
  const warnings = (spec: unknown) => {
    const { response } = judge(admissionRequest('GitRepo', spec));
    t.equal(response.allowed, true);
    return response.warnings ?? [];
  };
  t.match(
    warnings({ repoUri: 'http://git.example.com/r.git', authConfig: { type: 'basic', secretRef: { name: 's' } } }),
    [/^spec\.authConfig: credentials \(type basic\) go over plain http:\/\/ to git\.example\.com/],
  );
  t.same(warnings({ repoUri: 'http://git.example.com/r.git' }), [], 'anonymous http is not warned about');
  t.match(warnings({ repoUri: https, tlsConfig: { noVerifySsl: true } }), [
    /^spec\.tlsConfig\.noVerifySsl: the certificate of git\.example\.com is not verified/,
  ]);
  t.match(
    warnings({
      repoUri: 'ssh://git@git.example.com/r.git',
      authConfig: { type: 'ssh', secretRef: { name: 'k' }, insecureIgnoreHostKey: true },
    }),
    [/^spec\.authConfig\.insecureIgnoreHostKey: SSH host keys of git\.example\.com are not checked/],
  );
  t.match(warnings({ repoUri: 'git://git.example.com/r.git', tlsConfig: { noVerifySsl: true } }), [
    /^spec\.tlsConfig: applies only to https:\/\/ repositories; ignored for git/,
  ]);
  t.same(warnings({ repoUri: https, authConfig: token({ name: 's' }), tlsConfig: { noVerifySsl: false } }), []);
  for (const w of warnings({ repoUri: https, tlsConfig: { noVerifySsl: true } })) t.ok(w.length <= 250);
});

t.test('updates: unchanged spec is not judged again; a changed one is, Secret access included', async (t) => {
  const spec = { repoUri: https, authConfig: token({ name: 'creds', namespace: 'team-b' }) };
  const metadataOnly = judge(admissionRequest('ClusterGitRepo', spec, { old: spec }), () => ({ result: 'denied' }));
  t.equal(metadataOnly.response.allowed, true, 'labels or finalizers change without a Secret check');
  t.same(metadataOnly.plan.secretReads, []);

  const moved = judge(
    admissionRequest('ClusterGitRepo', { ...spec, repoUri: 'https://attacker.example.com/r.git' }, { old: spec }),
    () => ({ result: 'denied' }),
  );
  t.equal(moved.response.allowed, false, 'pointing the credentials at another host needs read access to them');
  t.match(moved.response.status?.message, 'Secret team-b/creds');

  const bad = { repoUri: https, authConfig: token({ name: 'creds', namespace: 'team-b' }) };
  const ratchet = judge(admissionRequest('GitRepo', { ...bad, tlsConfig: { noVerifySsl: false } }, { old: bad }));
  t.equal(ratchet.response.allowed, true, 'a problem in a field the update leaves alone does not block it');
  t.match(ratchet.response.warnings, [
    /spec\.authConfig\.secretRef\.namespace: .* \(allowed because this field did not change\)/,
  ]);
});

t.test('spec.verify: its key Secret follows the same namespace and access rules', async (t) => {
  const verify = (secretRef: Record<string, string>) => ({ secretRef, mode: 'TagAndHEAD' });
  const own = judge(admissionRequest('GitRepo', { repoUri: https, verify: verify({ name: 'signers' }) }));
  t.equal(own.response.allowed, true);
  t.same(own.plan.secretReads, [{ field: 'spec.verify.secretRef', name: 'signers', namespace: 'team-a' }]);

  const foreign = judge(
    admissionRequest('GitRepo', { repoUri: https, verify: verify({ name: 'signers', namespace: 'security' }) }),
  );
  t.equal(foreign.response.allowed, false);
  t.match(foreign.response.status?.message, /^spec\.verify\.secretRef\.namespace: .*"security" would be ignored/);

  const denied = judge(
    admissionRequest('ClusterGitRepo', { repoUri: https, verify: verify({ name: 'signers', namespace: 'security' }) }),
    () => ({ result: 'denied' }),
  );
  t.match(
    denied.response.status?.message,
    /^spec\.verify\.secretRef: user "alice" may not get Secret security\/signers/,
  );

  const malformed = judge(admissionRequest('GitRepo', { repoUri: https, verify: verify({ name: 'Bad_Name' }) }));
  t.equal(malformed.response.allowed, false, 'a Secret name that cannot exist is refused');
  t.match(malformed.response.status?.message, /spec\.verify\.secretRef\.name/);
});

import { GROUP, KINDS, VERSION } from '@git-events-runner/shared';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { parseBaseUrl, parseServiceRef, renderWebhookManifests, webhookConfigurations } from '../src/manifests.js';
import { parseAdmissionReview, reviewResponse } from '../src/review.js';
import { admissionRequest, reviewBody } from './requests.js';

// `manifests` output and AdmissionReview parsing.

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

t.test('webhook configurations: names, paths, rules, failure policy, timeout, CA bundle', async (t) => {
  const [validating, mutating] = webhookConfigurations({ target: { url: 'https://127.0.0.1:9443' }, caBundle: PEM });
  t.match(validating, {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: 'git-events-runner-validating' },
  });
  t.match(mutating, { kind: 'MutatingWebhookConfiguration', metadata: { name: 'git-events-runner-mutating' } });
  for (const [config, path] of [
    [validating, '/validate'],
    [mutating, '/mutate'],
  ] as const) {
    const [hook] = config.webhooks as Record<string, unknown>[];
    t.match(hook, {
      clientConfig: { url: `https://127.0.0.1:9443${path}`, caBundle: Buffer.from(PEM).toString('base64') },
      failurePolicy: 'Fail',
      sideEffects: 'None',
      timeoutSeconds: 5,
      admissionReviewVersions: ['v1'],
    });
    t.same(hook?.rules, [
      {
        apiGroups: [GROUP],
        apiVersions: [VERSION],
        operations: ['CREATE', 'UPDATE'],
        resources: KINDS.map((k) => k.plural),
        scope: '*',
      },
    ]);
  }
  const [service] = webhookConfigurations({ target: { service: { namespace: 'ger', name: 'admission', port: 443 } } });
  const [hook] = service.webhooks as Record<string, unknown>[];
  t.same(hook?.clientConfig, { service: { namespace: 'ger', name: 'admission', port: 443, path: '/validate' } });
  const docs = parseAllDocuments(renderWebhookManifests({ target: { url: 'https://h:1' } })).map((d) => d.toJS());
  t.same(
    docs.map((d: { kind: string }) => d.kind),
    ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration'],
  );
});

t.test('--url and --service values', async (t) => {
  t.equal(parseBaseUrl('https://127.0.0.1:8443/'), 'https://127.0.0.1:8443');
  t.equal(parseBaseUrl('https://hooks.example.com/admission'), 'https://hooks.example.com/admission');
  t.throws(() => parseBaseUrl('http://127.0.0.1:8443'), { code: 'InvalidFlags', message: /https/ });
  t.throws(() => parseBaseUrl('https://h/?a=b'), { code: 'InvalidFlags' });
  t.throws(() => parseBaseUrl('not a url'), { code: 'InvalidFlags', message: /"not a url" is not a URL/ });
  t.same(parseServiceRef('ger-system/admission'), { namespace: 'ger-system', name: 'admission' });
  for (const bad of ['admission', 'a/b/c', 'A/b', '/b']) t.throws(() => parseServiceRef(bad), { code: 'InvalidFlags' });
});

t.test('AdmissionReview: parsed, or refused naming the field', async (t) => {
  const request = admissionRequest('GitRepo', { repoUri: 'https://h/r' });
  t.same(parseAdmissionReview(reviewBody(request)), request);
  const cases: [unknown, RegExp][] = [
    [{ ...(reviewBody(request) as object), apiVersion: 'admission.k8s.io/v1beta1' }, /apiVersion/],
    [{ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, /request/],
    [reviewBody({ ...request, uid: '' }), /request\.uid/],
    [reviewBody({ ...request, operation: 'PATCH' as 'CREATE' }), /request\.operation/],
    ['text', /\(body\)/],
  ];
  for (const [body, field] of cases) {
    t.throws(() => parseAdmissionReview(body), { code: 'InvalidReview', message: field });
  }
  t.same(reviewResponse({ uid: 'u', allowed: true }), {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: { uid: 'u', allowed: true },
  });
});

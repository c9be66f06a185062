import { GROUP, KINDS, VERSION } from '@git-events-runner/shared';
import { stringify } from 'yaml';
import { AdmissionError } from './errors.js';

/** Name of the ValidatingWebhookConfiguration. */
export const VALIDATING_CONFIGURATION_NAME = 'git-events-runner-validating';
/** Name of the MutatingWebhookConfiguration. */
export const MUTATING_CONFIGURATION_NAME = 'git-events-runner-mutating';
/** Name of the validating webhook inside its configuration (shown by kubectl in denials). */
export const VALIDATING_WEBHOOK_NAME = 'validate.git-events-runner.rs';
/** Name of the mutating webhook inside its configuration. */
export const MUTATING_WEBHOOK_NAME = 'mutate.git-events-runner.rs';
/**
 * Seconds kube-apiserver waits for an answer: well under its own request timeout, and above what a
 * SubjectAccessReview and the reference lookups take (the server gives them 3 s).
 */
export const WEBHOOK_TIMEOUT_SECONDS = 5;

/** Where kube-apiserver reaches the server. */
export type WebhookTarget =
  | { readonly url: string }
  | { readonly service: { readonly namespace: string; readonly name: string; readonly port: number } };

/** What `git-events-admission manifests` renders. */
export interface ManifestOptions {
  readonly target: WebhookTarget;
  /** PEM of the CA that signed the server's certificate; omitted when something else injects it (cert-manager). */
  readonly caBundle?: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Parses `--url`: an https:// base URL without query or fragment (kube-apiserver refuses them).
 * @throws AdmissionError `InvalidFlags`.
 */
export function parseBaseUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch (err: unknown) {
    throw new AdmissionError('InvalidFlags', `--url ${JSON.stringify(text)} is not a URL`, { cause: err });
  }
  if (url.protocol !== 'https:') {
    throw new AdmissionError('InvalidFlags', `--url must be https:// (kube-apiserver calls webhooks over TLS only)`);
  }
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new AdmissionError('InvalidFlags', '--url may not have user info, a query or a fragment');
  }
  return url.toString().replace(/\/+$/, '');
}

/**
 * Parses `--service <namespace/name>`.
 * @throws AdmissionError `InvalidFlags` unless both parts are DNS labels.
 */
export function parseServiceRef(text: string): { namespace: string; name: string } {
  const [namespace = '', name = '', ...rest] = text.split('/');
  if (rest.length > 0 || !DNS_LABEL.test(namespace) || !DNS_LABEL.test(name) || name.length > 63) {
    throw new AdmissionError(
      'InvalidFlags',
      `--service must be <namespace>/<name> of a Service (got ${JSON.stringify(text)})`,
    );
  }
  return { namespace, name };
}

function clientConfig(options: ManifestOptions, path: string): Record<string, unknown> {
  const ca = options.caBundle === undefined ? {} : { caBundle: Buffer.from(options.caBundle).toString('base64') };
  if ('url' in options.target) return { url: `${options.target.url}${path}`, ...ca };
  return { service: { ...options.target.service, path }, ...ca };
}

const rules = [
  {
    apiGroups: [GROUP],
    apiVersions: [VERSION],
    operations: ['CREATE', 'UPDATE'],
    resources: KINDS.map((k) => k.plural),
    scope: '*',
  },
];

const labels = { 'app.kubernetes.io/name': 'git-events-runner', 'app.kubernetes.io/component': 'admission' };

/**
 * The ValidatingWebhookConfiguration and MutatingWebhookConfiguration of the server: CREATE and UPDATE
 * of the six kinds only (never their status), failurePolicy Fail, sideEffects None, admission.k8s.io/v1.
 */
export function webhookConfigurations(options: ManifestOptions): [Record<string, unknown>, Record<string, unknown>] {
  const common = {
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    failurePolicy: 'Fail',
    matchPolicy: 'Equivalent',
    timeoutSeconds: WEBHOOK_TIMEOUT_SECONDS,
    rules,
  };
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: VALIDATING_CONFIGURATION_NAME, labels },
      webhooks: [{ name: VALIDATING_WEBHOOK_NAME, clientConfig: clientConfig(options, '/validate'), ...common }],
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: MUTATING_CONFIGURATION_NAME, labels },
      webhooks: [
        {
          name: MUTATING_WEBHOOK_NAME,
          clientConfig: clientConfig(options, '/mutate'),
          ...common,
          // The patch is idempotent: a second call after other webhooks changed the object is harmless.
          reinvocationPolicy: 'IfNeeded',
        },
      ],
    },
  ];
}

/** Both configurations as multi-document YAML, each document preceded by `---`. */
export function renderWebhookManifests(options: ManifestOptions): string {
  return webhookConfigurations(options)
    .map((doc) => `---\n${stringify(doc)}`)
    .join('');
}

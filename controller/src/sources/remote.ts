import type { GitRepoSpec } from '@git-events-runner/shared';
import type { GitAuth, GitRemote, SignaturePolicy } from '@git-events-runner/shared/git';
import { SourceError } from './errors.js';
import type { SecretData, SecretLookup } from './secrets.js';

/** A GitRepo or ClusterGitRepo as far as reaching the repository is concerned. */
export interface SourceObject {
  readonly kind: 'GitRepo' | 'ClusterGitRepo';
  readonly name: string;
  /** The GitRepo's namespace; absent for a ClusterGitRepo. */
  readonly namespace?: string | undefined;
  readonly spec: GitRepoSpec;
}

/** Settings every remote gets: from the start-up configuration. */
export interface RemoteDefaults {
  readonly proxyEnv?: Readonly<Record<string, string | undefined>>;
  readonly timeoutMs?: number;
  readonly maxBytes?: number;
}

function label(source: SourceObject): string {
  return source.namespace === undefined
    ? `${source.kind} ${source.name}`
    : `${source.kind} ${source.namespace}/${source.name}`;
}

/**
 * Where a source's Secret lives: a GitRepo's in its own namespace only (naming another one is an
 * error rather than silently ignored, as the original did); a ClusterGitRepo's in `secretRef.namespace`,
 * else the namespace of the trigger (or Job) using it.
 */
export function secretNamespace(source: SourceObject, requested: string | undefined, triggerNamespace: string): string {
  if (source.kind === 'GitRepo') {
    const own = source.namespace ?? triggerNamespace;
    if (requested !== undefined && requested !== own) {
      throw new SourceError(
        'NamespaceNotAllowed',
        `${label(source)}: a GitRepo reads Secrets in its own namespace only, not in ${requested} (use a ClusterGitRepo)`,
      );
    }
    return own;
  }
  return requested ?? triggerNamespace;
}

function text(source: SourceObject, where: string, data: SecretData, key: string): string {
  const value = data[key];
  if (value === undefined)
    throw new SourceError('SecretKeyMissing', `${label(source)}: key ${key} not found in Secret ${where}`);
  const decoded = value.toString('utf8');
  if (!Buffer.from(decoded, 'utf8').equals(value)) {
    throw new SourceError('SecretNotUtf8', `${label(source)}: key ${key} of Secret ${where} is not UTF-8`);
  }
  return decoded;
}

function optionalText(source: SourceObject, where: string, data: SecretData, key: string): string | undefined {
  return data[key] === undefined ? undefined : text(source, where, data, key);
}

async function readSecret(
  source: SourceObject,
  secrets: SecretLookup,
  ref: { name: string; namespace?: string | undefined },
  triggerNamespace: string,
): Promise<{ where: string; data: SecretData }> {
  const namespace = secretNamespace(source, ref.namespace, triggerNamespace);
  const where = `${namespace}/${ref.name}`;
  const data = await secrets.get(namespace, ref.name);
  if (data === undefined) throw new SourceError('SecretNotFound', `${label(source)}: Secret ${where} not found`);
  return { where, data };
}

/**
 * Turns a source and its Secrets into what the git module needs. Credentials come from the Secret of
 * `authConfig` under the configured key names; the CA from `tlsConfig.caCert`.
 */
export async function buildRemote(
  source: SourceObject,
  triggerNamespace: string,
  secrets: SecretLookup,
  defaults: RemoteDefaults = {},
): Promise<GitRemote> {
  const spec = source.spec;
  let auth: GitAuth | undefined;
  if (spec.authConfig !== undefined) {
    const { where, data } = await readSecret(source, secrets, spec.authConfig.secretRef, triggerNamespace);
    const keys = spec.authConfig.keys ?? {};
    switch (spec.authConfig.type) {
      case 'basic':
        auth = {
          type: 'basic',
          username: text(source, where, data, keys.username ?? 'username'),
          password: text(source, where, data, keys.password ?? 'password'),
        };
        break;
      case 'token':
        auth = { type: 'token', authorization: text(source, where, data, keys.token ?? 'token') };
        break;
      case 'ssh':
        auth = {
          type: 'ssh',
          privateKey: text(source, where, data, keys.privateKey ?? 'ssh-privatekey'),
          passphrase: optionalText(source, where, data, keys.passphrase ?? 'passphrase'),
          knownHosts: optionalText(source, where, data, keys.knownHosts ?? 'known_hosts'),
          insecureIgnoreHostKey: spec.authConfig.insecureIgnoreHostKey === true,
        };
        break;
    }
  }
  let caCert: string | undefined;
  const ca = spec.tlsConfig?.caCert;
  if (ca !== undefined) {
    const { where, data } = await readSecret(source, secrets, ca.secretRef, triggerNamespace);
    caCert = text(source, where, data, ca.key ?? 'ca.crt');
  }
  return {
    uri: spec.repoUri,
    auth,
    caCert,
    noVerifySsl: spec.tlsConfig?.noVerifySsl === true,
    proxyEnv: defaults.proxyEnv,
    timeoutMs: defaults.timeoutMs,
    maxBytes: defaults.maxBytes,
  };
}

/** The Secret entry that holds SSH signing keys (OpenSSH allowed_signers format). */
export const ALLOWED_SIGNERS_KEY = 'allowed_signers';

/**
 * The signature policy of a source with `verify`, from its Secret: the entry allowed_signers holds SSH
 * signing keys, every other entry armored OpenPGP public keys. Undefined when the source sets no verify.
 * @throws SourceError when the Secret is missing, not readable, or holds no key at all.
 */
export async function signaturePolicy(
  source: SourceObject,
  triggerNamespace: string,
  secrets: SecretLookup,
  now?: () => Date,
): Promise<SignaturePolicy | undefined> {
  const verify = source.spec.verify;
  if (verify === undefined) return undefined;
  const { where, data } = await readSecret(source, secrets, verify.secretRef, triggerNamespace);
  const pgp: Record<string, string> = {};
  let allowedSigners: string | undefined;
  for (const key of Object.keys(data)) {
    if (key === ALLOWED_SIGNERS_KEY) allowedSigners = text(source, where, data, key);
    else pgp[key] = text(source, where, data, key);
  }
  if (allowedSigners === undefined && Object.keys(pgp).length === 0) {
    throw new SourceError(
      'SecretKeyMissing',
      `${label(source)}: Secret ${where} (verify.secretRef) holds no keys: add allowed_signers or armored OpenPGP public keys`,
    );
  }
  return {
    keys: { pgp, ...(allowedSigners !== undefined ? { allowedSigners } : {}) },
    mode: verify.mode ?? 'TagAndHEAD',
    ...(now !== undefined ? { now } : {}),
  };
}

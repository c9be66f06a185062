import { readFileSync } from 'node:fs';
import { type GitRepoSpec, GROUP, VERSION, validateSpec } from '@git-events-runner/shared';
import {
  cloneRef,
  type GitRemote,
  type RefSelector,
  type SignaturePolicy,
  verifyFetched,
} from '@git-events-runner/shared/git';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { SourceError } from './sources/errors.js';
import { buildRemote, type SourceObject, signaturePolicy } from './sources/remote.js';
import { DirectSecrets } from './sources/secrets.js';

/** What `git-events-runner clone` was asked to do. */
export interface CloneRequest {
  readonly kind: 'GitRepo' | 'ClusterGitRepo';
  readonly source: string;
  readonly ref: RefSelector;
  readonly destination: string;
  readonly preserveGitFolder: boolean;
  /** Namespace of the Job (and of a GitRepo); resolved by jobNamespace() when not given. */
  readonly namespace: string;
}

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** The Job's namespace: the pod's service account namespace in a cluster, else the kubeconfig context's. */
export function jobNamespace(
  kc: KubeConfig,
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): string {
  try {
    const ns = readFile(SERVICE_ACCOUNT_NAMESPACE).trim();
    if (ns !== '') return ns;
  } catch {
    // Not in a pod: use the kubeconfig.
  }
  return kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
}

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

async function readSource(kc: KubeConfig, request: CloneRequest): Promise<SourceObject> {
  const api = kc.makeApiClient(CustomObjectsApi);
  const where =
    request.kind === 'GitRepo' ? `GitRepo ${request.namespace}/${request.source}` : `ClusterGitRepo ${request.source}`;
  let object: { spec?: unknown };
  try {
    object = (
      request.kind === 'GitRepo'
        ? await api.getNamespacedCustomObject({
            group: GROUP,
            version: VERSION,
            namespace: request.namespace,
            plural: 'gitrepos',
            name: request.source,
          })
        : await api.getClusterCustomObject({
            group: GROUP,
            version: VERSION,
            plural: 'clustergitrepos',
            name: request.source,
          })
    ) as { spec?: unknown };
  } catch (err: unknown) {
    const status = statusOf(err);
    if (status === 404) throw new SourceError('SourceNotFound', `${where} not found`, { cause: err });
    if (status === 403) throw new SourceError('SourceForbidden', `not allowed to read ${where}`, { cause: err });
    throw new SourceError('SourceNotFound', `cannot read ${where} (HTTP ${status ?? 'error'})`, { cause: err });
  }
  const problems = validateSpec(request.kind, object.spec);
  if (problems.length > 0) {
    throw new SourceError(
      'SourceInvalid',
      `${where} is invalid: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`,
    );
  }
  return {
    kind: request.kind,
    name: request.source,
    namespace: request.kind === 'GitRepo' ? request.namespace : undefined,
    spec: object.spec as GitRepoSpec,
  };
}

const FORBIDDEN_CODES: ReadonlySet<string> = new Set(['SourceForbidden', 'SecretForbidden']);

/**
 * Who may not do what, from the API server's answer to a refused read: `User "system:serviceaccount:ns:sa"
 * cannot get resource "secrets" in API group "" in the namespace "ns"` (the part of the Status message after
 * "is forbidden: "), one line; undefined when the answer says nothing.
 */
function forbiddenReason(err: unknown): string | undefined {
  let body = (err as { body?: unknown } | undefined)?.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body) as unknown;
    } catch {
      return undefined;
    }
  }
  const message = (body as { message?: unknown } | null | undefined)?.message;
  if (typeof message !== 'string' || message.trim() === '') return undefined;
  const line = message.split('\n')[0]?.trim() ?? '';
  const marker = 'is forbidden: ';
  const at = line.indexOf(marker);
  const reason = at === -1 ? line : line.slice(at + marker.length);
  return reason.length > 300 ? `${reason.slice(0, 297)}...` : reason;
}

/**
 * A refused read says which object, and (from the API server) which account lacks which right: the
 * account is the Job's service account, the one to grant `get` to.
 */
function explainForbidden(err: unknown): unknown {
  if (!(err instanceof SourceError) || !FORBIDDEN_CODES.has(err.code)) return err;
  const reason = forbiddenReason(err.cause);
  if (reason === undefined) return err;
  return new SourceError(err.code, `${err.message}: ${reason}`, { cause: err.cause });
}

async function readRemote(
  kc: KubeConfig,
  request: CloneRequest,
): Promise<{ source: SourceObject; remote: GitRemote; policy: SignaturePolicy | undefined }> {
  const source = await readSource(kc, request);
  const secrets = new DirectSecrets(kc.makeApiClient(CoreV1Api));
  const remote = await buildRemote(source, request.namespace, secrets);
  const policy = await signaturePolicy(source, request.namespace, secrets);
  return { source, remote, policy };
}

/**
 * The Job's init container: reads the source and its Secrets with the Job's own service account,
 * fetches exactly the requested commit (depth 1), verifies its signature when the source has `verify`,
 * and checks it out into the destination.
 * Returns the commit checked out. A source or Secret the account may not read fails with a
 * SourceError naming the object and, as the API server put it, the account and the missing right.
 */
export async function runClone(
  kc: KubeConfig,
  request: CloneRequest,
  log: (line: string) => void = () => {},
): Promise<string> {
  const { source, remote, policy } = await readRemote(kc, request).catch((err: unknown) => {
    throw explainForbidden(err);
  });
  log(`cloning ${source.kind} ${source.name} (${source.spec.repoUri}) into ${request.destination}`);
  const commit = await cloneRef(remote, request.destination, request.ref, {
    preserveGitFolder: request.preserveGitFolder,
    // The source requires signatures: what is checked out is verified again here, before any file is
    // written, so a ref moved (or a key revoked) since the trigger's check cannot run unsigned code.
    ...(policy !== undefined
      ? {
          verify: async (gitdir: string, fetched: { commit: string; tip: string }) => {
            const verified = await verifyFetched(remote.uri, gitdir, fetched, policy, request.ref.tag);
            log(`signature verified: ${verified.signers.join(', ')}`);
          },
        }
      : {}),
  });
  log(`checked out ${commit}`);
  return commit;
}

import { readFileSync } from 'node:fs';
import { type GitRepoSpec, GROUP, VERSION, validateSpec } from '@git-events-runner/shared';
import { cloneRef, type RefSelector } from '@git-events-runner/shared/git';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { SourceError } from './sources/errors.js';
import { buildRemote, type SourceObject } from './sources/remote.js';
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

/**
 * The Job's init container: reads the source and its Secrets with the Job's own service account,
 * fetches exactly the requested commit (depth 1) and checks it out into the destination.
 * Returns the commit checked out.
 */
export async function runClone(
  kc: KubeConfig,
  request: CloneRequest,
  log: (line: string) => void = () => {},
): Promise<string> {
  const source = await readSource(kc, request);
  log(`cloning ${source.kind} ${source.name} (${source.spec.repoUri}) into ${request.destination}`);
  const remote = await buildRemote(source, request.namespace, new DirectSecrets(kc.makeApiClient(CoreV1Api)));
  const commit = await cloneRef(remote, request.destination, request.ref, {
    preserveGitFolder: request.preserveGitFolder,
  });
  log(`checked out ${commit}`);
  return commit;
}

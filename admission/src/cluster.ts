import { GROUP, KINDS, VERSION } from '@git-events-runner/shared';
import {
  ApiException,
  AuthorizationV1Api,
  type ConfigurationOptions,
  CustomObjectsApi,
  type KubeConfig,
  Observable,
  type ObservableMiddleware,
} from '@kubernetes/client-node';
import type { UserInfo } from './review.js';
import type { AccessVerdict, Reference, SecretRead } from './rules/validate.js';

/** What the validating webhook asks the cluster. Errors become verdicts, never rejections. */
export interface ClusterChecks {
  /** Whether `user` may `get` each Secret (one SubjectAccessReview per distinct Secret). */
  access(user: UserInfo, reads: readonly SecretRead[]): Promise<AccessVerdict[]>;
  /** Whether each referenced object exists; undefined where it could not be told. */
  exists(references: readonly Reference[]): Promise<(boolean | undefined)[]>;
}

/** Tuning of kubernetesChecks(). */
export interface ClusterCheckOptions {
  /** Longest wait for one API call (default 3000 ms, under the webhook's 5 s timeout). */
  readonly timeoutMs?: number;
  /** References looked up per request at most (default 50); further ones count as not checked. */
  readonly maxReferences?: number;
  /** Called with the outcome of every SubjectAccessReview (metrics). */
  readonly onAccessReview?: (result: AccessVerdict['result']) => void;
}

function withTimeout(ms: number): ConfigurationOptions<ObservableMiddleware> {
  const middleware: ObservableMiddleware = {
    pre: (context) => {
      context.setSignal(AbortSignal.timeout(ms));
      return new Observable(Promise.resolve(context));
    },
    post: (context) => new Observable(Promise.resolve(context)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}

function messageOf(err: unknown): string {
  if (err instanceof ApiException) return `API server answered ${err.code}`;
  if (err instanceof Error) return err.name === 'TimeoutError' || err.name === 'AbortError' ? 'timed out' : err.message;
  return String(err);
}

/** Runs `fn` over `items` with at most `limit` calls in flight. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * ClusterChecks against kube-apiserver with the server's own credentials, which need only `create` on
 * subjectaccessreviews and `get` on the six kinds: the server never reads a Secret.
 */
export function kubernetesChecks(kc: KubeConfig, options: ClusterCheckOptions = {}): ClusterChecks {
  const timeoutMs = options.timeoutMs ?? 3000;
  const maxReferences = options.maxReferences ?? 50;
  const authorization = kc.makeApiClient(AuthorizationV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);

  async function review(user: UserInfo, read: SecretRead): Promise<AccessVerdict> {
    try {
      const answer = await authorization.createSubjectAccessReview(
        {
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SubjectAccessReview',
            spec: {
              ...(user.username !== undefined ? { user: user.username } : {}),
              ...(user.uid !== undefined ? { uid: user.uid } : {}),
              ...(user.groups !== undefined ? { groups: [...user.groups] } : {}),
              ...(user.extra !== undefined ? { extra: user.extra } : {}),
              // An empty namespace asks about every namespace.
              resourceAttributes: {
                group: '',
                resource: 'secrets',
                verb: 'get',
                namespace: read.namespace ?? '',
                name: read.name,
              },
            },
          },
        },
        withTimeout(timeoutMs),
      );
      if (answer.status?.allowed === true) return { result: 'allowed' };
      const reason = answer.status?.reason ?? answer.status?.evaluationError;
      return reason !== undefined && reason !== '' ? { result: 'denied', reason } : { result: 'denied' };
    } catch (err: unknown) {
      return { result: 'error', message: messageOf(err) };
    }
  }

  async function lookup(ref: Reference): Promise<boolean | undefined> {
    const plural = KINDS.find((k) => k.kind === ref.kind)?.plural ?? '';
    try {
      if (ref.namespace === undefined) {
        await custom.getClusterCustomObject(
          { group: GROUP, version: VERSION, plural, name: ref.name },
          withTimeout(timeoutMs),
        );
      } else {
        await custom.getNamespacedCustomObject(
          { group: GROUP, version: VERSION, namespace: ref.namespace, plural, name: ref.name },
          withTimeout(timeoutMs),
        );
      }
      return true;
    } catch (err: unknown) {
      if (err instanceof ApiException && err.code === 404) return false;
      return undefined;
    }
  }

  return {
    async access(user, reads) {
      // One review per distinct Secret: an auth and a CA Secret are often the same one.
      const keys = reads.map((r) => `${r.namespace ?? '*'}/${r.name}`);
      const distinct = [...new Map(reads.map((r, i) => [keys[i], r])).values()];
      const verdicts = await mapLimited(distinct, 4, (r) => review(user, r));
      for (const v of verdicts) options.onAccessReview?.(v.result);
      const byKey = new Map(distinct.map((r, i) => [`${r.namespace ?? '*'}/${r.name}`, verdicts[i]]));
      return keys.map((k) => byKey.get(k) ?? { result: 'error', message: 'no answer' });
    },
    async exists(references) {
      const keys = references.map((r) => `${r.kind}/${r.namespace ?? ''}/${r.name}`);
      const distinct = [...new Map(references.map((r, i) => [keys[i], r])).values()].slice(0, maxReferences);
      const found = await mapLimited(distinct, 8, lookup);
      const byKey = new Map(distinct.map((r, i) => [`${r.kind}/${r.namespace ?? ''}/${r.name}`, found[i]]));
      return keys.map((k) => byKey.get(k));
    },
  };
}

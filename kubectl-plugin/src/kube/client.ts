import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GROUP, JOB_LABELS, JOB_MANAGED_BY, RUN_REQUESTED_AT_ANNOTATION, VERSION } from '@git-events-runner/shared';
import {
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { apiErrorParts, firstLine, PluginError, parseStatus, toPluginError } from '../errors.js';
import { eventInfo, jobInfo } from './jobs.js';
import { type EventInfo, type JobInfo, PLURALS, type TriggerKind, type TriggerObject } from './types.js';

/** kubectl's connection flags. */
export interface ConnectionFlags {
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly namespace?: string;
}

/** A connection to the cluster of the chosen context. */
export interface Kube {
  readonly kc: KubeConfig;
  /** `-n`, else the context's namespace, else `default`. */
  readonly namespace: string;
  /** API server URL, for messages. */
  readonly server: string;
  readonly custom: CustomObjectsApi;
  readonly core: CoreV1Api;
  readonly batch: BatchV1Api;
}

/**
 * Loads the kubeconfig as kubectl does: `--kubeconfig`, else `KUBECONFIG` (a list of files), else
 * `~/.kube/config`, else the in-cluster service account; then `--context` and the namespace.
 * @throws PluginError `Config` naming the file or context.
 */
export function connect(flags: ConnectionFlags, env: Readonly<Record<string, string | undefined>>): Kube {
  const kc = new KubeConfig();
  if (flags.kubeconfig !== undefined) {
    if (!existsSync(flags.kubeconfig))
      throw new PluginError('Config', `cannot read kubeconfig "${flags.kubeconfig}": no such file`);
    try {
      kc.loadFromFile(flags.kubeconfig);
    } catch (err: unknown) {
      throw new PluginError('Config', `cannot read kubeconfig "${flags.kubeconfig}": ${firstLine(err)}`, {
        cause: err,
      });
    }
  } else {
    const listed = (env.KUBECONFIG ?? '').split(':').filter((f) => f !== '');
    const missing = listed.length > 0 && listed.every((f) => !existsSync(f));
    if (missing)
      throw new PluginError('Config', `cannot read kubeconfig: no file of KUBECONFIG="${env.KUBECONFIG}" exists`);
    const home = env.HOME ?? env.USERPROFILE;
    const inCluster = existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token');
    // Without any configuration client-node would quietly try http://localhost:8080.
    if (listed.length === 0 && !inCluster && (home === undefined || !existsSync(join(home, '.kube', 'config'))))
      throw new PluginError('Config', 'no kubeconfig: pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config');
    try {
      kc.loadFromDefault();
    } catch (err: unknown) {
      throw new PluginError('Config', `cannot read the kubeconfig: ${firstLine(err)}`, { cause: err });
    }
  }
  if (flags.context !== undefined) {
    if (kc.getContextObject(flags.context) === null)
      throw new PluginError('Config', `context "${flags.context}" does not exist in the kubeconfig`);
    kc.setCurrentContext(flags.context);
  }
  const context = kc.getContextObject(kc.getCurrentContext());
  const cluster = kc.getCurrentCluster();
  if (cluster === null)
    throw new PluginError(
      'Config',
      context === null
        ? 'no current context in the kubeconfig: pass --context or run "kubectl config use-context"'
        : `context "${context.name}" names no known cluster`,
    );
  const namespace = flags.namespace ?? (context?.namespace || undefined) ?? 'default';
  return {
    kc,
    namespace,
    server: cluster.server,
    custom: kc.makeApiClient(CustomObjectsApi),
    core: kc.makeApiClient(CoreV1Api),
    batch: kc.makeApiClient(BatchV1Api),
  };
}

/**
 * Retries a read the API server refused for the moment (429 while its storage initialises or under
 * priority-and-fairness limits, 503), as kubectl does, honouring Retry-After up to 5 s, three times.
 */
async function retrying<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (err: unknown) {
      const code = apiErrorParts(err)?.code;
      if ((code !== 429 && code !== 503) || attempt >= 3) throw err;
      const headers = (err as { headers?: Record<string, string> }).headers ?? {};
      const after = Number(headers['retry-after'] ?? headers['Retry-After'] ?? '1');
      await sleep(Math.min(Number.isFinite(after) && after > 0 ? after : 1, 5) * 1000);
    }
  }
}

function asTrigger(kind: TriggerKind, item: unknown): TriggerObject {
  // The API server validated these against the CRD schema; only the kind is set here (lists may omit it).
  return { ...(item as Omit<TriggerObject, 'kind'>), kind } as TriggerObject;
}

function noCrds(err: unknown, kind: TriggerKind): PluginError | undefined {
  const parts = apiErrorParts(err);
  if (parts?.code !== 404) return undefined;
  return new PluginError(
    'NoCrds',
    `the server doesn't have a resource type "${PLURALS[kind]}.${GROUP}": are the git-events-runner CRDs installed?`,
    { cause: err },
  );
}

/**
 * Lists the triggers of one kind in a namespace, or in every namespace when `namespace` is undefined.
 * @throws PluginError (Forbidden with the API server's words, NoCrds, ...).
 */
export async function listTriggers(
  kube: Kube,
  kind: TriggerKind,
  namespace: string | undefined,
  labelSelector?: string,
): Promise<TriggerObject[]> {
  const where = namespace === undefined ? 'in any namespace' : `in namespace ${namespace}`;
  try {
    const common = {
      group: GROUP,
      version: VERSION,
      plural: PLURALS[kind],
      ...(labelSelector ? { labelSelector } : {}),
    };
    const list = (await retrying(() =>
      namespace === undefined
        ? kube.custom.listClusterCustomObject(common)
        : kube.custom.listNamespacedCustomObject({ ...common, namespace }),
    )) as { items?: unknown[] };
    return (list.items ?? []).map((item) => asTrigger(kind, item));
  } catch (err: unknown) {
    throw noCrds(err, kind) ?? toPluginError(err, `list ${kind}s ${where}`, kube.server);
  }
}

/**
 * Reads one trigger; undefined when it does not exist.
 * @throws PluginError for anything but NotFound.
 */
export async function getTrigger(
  kube: Kube,
  kind: TriggerKind,
  namespace: string,
  name: string,
): Promise<TriggerObject | undefined> {
  try {
    const obj = await retrying(() =>
      kube.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURALS[kind], name }),
    );
    return asTrigger(kind, obj);
  } catch (err: unknown) {
    const parts = apiErrorParts(err);
    // NotFound names the object when it is missing; without a name, the resource type itself is missing.
    if (parts?.code === 404) {
      if (parseStatus(parts.body)?.details?.name === name) return undefined;
      throw noCrds(err, kind) ?? toPluginError(err, `get ${kind} ${namespace}/${name}`, kube.server);
    }
    throw toPluginError(err, `get ${kind} ${namespace}/${name}`, kube.server);
  }
}

/** Jobs, or `forbidden` when RBAC does not let the user list them (callers degrade). */
export type Readable<T> = T | 'forbidden';

/**
 * Lists the controller's Jobs (label app.kubernetes.io/managed-by) in a namespace or every namespace.
 * @throws PluginError for errors other than Forbidden.
 */
export async function listActionJobs(
  kube: Kube,
  namespace: string | undefined,
  triggerUid?: string,
): Promise<Readable<JobInfo[]>> {
  const labelSelector = `${JOB_LABELS.managedBy}=${JOB_MANAGED_BY}${triggerUid === undefined ? '' : `,${JOB_LABELS.triggerUid}=${triggerUid}`}`;
  try {
    const list = await retrying(() =>
      namespace === undefined
        ? kube.batch.listJobForAllNamespaces({ labelSelector })
        : kube.batch.listNamespacedJob({ namespace, labelSelector }),
    );
    return list.items.map(jobInfo);
  } catch (err: unknown) {
    if (apiErrorParts(err)?.code === 403) return 'forbidden';
    throw toPluginError(
      err,
      `list Jobs ${namespace === undefined ? 'in any namespace' : `in namespace ${namespace}`}`,
      kube.server,
    );
  }
}

/**
 * Reads one Job; undefined when it is gone, `forbidden` when RBAC says no.
 * @throws PluginError for other errors.
 */
export async function getJob(kube: Kube, namespace: string, name: string): Promise<Readable<JobInfo | undefined>> {
  try {
    return jobInfo(await retrying(() => kube.batch.readNamespacedJob({ namespace, name })));
  } catch (err: unknown) {
    const code = apiErrorParts(err)?.code;
    if (code === 404) return undefined;
    if (code === 403) return 'forbidden';
    throw toPluginError(err, `get Job ${namespace}/${name}`, kube.server);
  }
}

/**
 * Events about one object (by uid), or `forbidden`.
 * @throws PluginError for other errors.
 */
export async function listEventsFor(kube: Kube, namespace: string, uid: string): Promise<Readable<EventInfo[]>> {
  try {
    const list = await retrying(() =>
      kube.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.uid=${uid}` }),
    );
    return list.items.map(eventInfo);
  } catch (err: unknown) {
    if (apiErrorParts(err)?.code === 403) return 'forbidden';
    throw toPluginError(err, `list Events in namespace ${namespace}`, kube.server);
  }
}

/**
 * The value of one key of a Secret, or `forbidden`.
 * @throws PluginError `NotFound` when the Secret or key is missing.
 */
export async function readSecretKey(
  kube: Kube,
  namespace: string,
  name: string,
  key: string,
): Promise<Readable<string>> {
  let data: Record<string, string> | undefined;
  try {
    data = (await retrying(() => kube.core.readNamespacedSecret({ namespace, name }))).data;
  } catch (err: unknown) {
    const code = apiErrorParts(err)?.code;
    if (code === 403) return 'forbidden';
    if (code === 404)
      throw new PluginError('NotFound', `the trigger's token Secret ${namespace}/${name} does not exist`);
    throw toPluginError(err, `get Secret ${namespace}/${name}`, kube.server);
  }
  const value = data?.[key];
  if (value === undefined) throw new PluginError('NotFound', `Secret ${namespace}/${name} has no key "${key}"`);
  return Buffer.from(value, 'base64').toString('utf8');
}

/**
 * Sets the run-now annotation of a ScheduleTrigger (merge patch: nothing else changes).
 * @throws PluginError (Forbidden names the verb and resource).
 */
export async function requestRun(kube: Kube, namespace: string, name: string, value: string): Promise<void> {
  try {
    await kube.custom.patchNamespacedCustomObject(
      {
        group: GROUP,
        version: VERSION,
        namespace,
        plural: PLURALS.ScheduleTrigger,
        name,
        body: { metadata: { annotations: { [RUN_REQUESTED_AT_ANNOTATION]: value } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  } catch (err: unknown) {
    throw toPluginError(err, `annotate ScheduleTrigger ${namespace}/${name}`, kube.server);
  }
}

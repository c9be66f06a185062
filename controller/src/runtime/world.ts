import {
  type ActionSpec,
  type ClusterActionSpec,
  type GitRepoSpec,
  GROUP,
  type ScheduleTriggerSpec,
  type TriggerStatus,
  VERSION,
  type WebhookTriggerSpec,
} from '@git-events-runner/shared';
import {
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1ConfigMap,
  type V1Job,
  type V1ObjectMeta,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { SupervisedWatch } from './informer.js';

/** A custom resource as the caches hold it. */
export interface Resource<S, St = undefined> extends KubernetesObject {
  metadata: V1ObjectMeta & { name: string };
  spec: S;
  status?: St;
}

export type GitRepoObject = Resource<GitRepoSpec>;
export type ActionObject = Resource<ActionSpec | ClusterActionSpec>;
export type ScheduleTriggerObject = Resource<ScheduleTriggerSpec, TriggerStatus>;
export type WebhookTriggerObject = Resource<WebhookTriggerSpec, TriggerStatus>;
export type TriggerObject = ScheduleTriggerObject | WebhookTriggerObject;

/** Label every Job of this controller carries; the Job watch selects on it. */
export const MANAGED_BY = 'app.kubernetes.io/managed-by=git-events-runner';

const JOB_LIST_PAGE = 500;

/**
 * A Job as the cache keeps it: what the queue and the checks read (names, labels, annotations, times,
 * `spec.suspend` and the status counts and conditions). The Pod template, most of a Job's size, is
 * dropped: with it, 5,000 Jobs overflowed the chart's 160 MiB heap.
 */
export function slimJob(job: V1Job): V1Job {
  const m = job.metadata;
  const st = job.status;
  return {
    ...(job.apiVersion !== undefined ? { apiVersion: job.apiVersion } : {}),
    ...(job.kind !== undefined ? { kind: job.kind } : {}),
    ...(m !== undefined
      ? {
          metadata: {
            ...(m.name !== undefined ? { name: m.name } : {}),
            ...(m.namespace !== undefined ? { namespace: m.namespace } : {}),
            ...(m.uid !== undefined ? { uid: m.uid } : {}),
            ...(m.resourceVersion !== undefined ? { resourceVersion: m.resourceVersion } : {}),
            ...(m.creationTimestamp !== undefined ? { creationTimestamp: m.creationTimestamp } : {}),
            ...(m.deletionTimestamp !== undefined ? { deletionTimestamp: m.deletionTimestamp } : {}),
            ...(m.labels !== undefined ? { labels: m.labels } : {}),
            ...(m.annotations !== undefined ? { annotations: m.annotations } : {}),
          },
        }
      : {}),
    // The template is required by the type, not read by anyone holding a cached Job.
    ...(job.spec !== undefined ? { spec: { suspend: job.spec.suspend } as V1Job['spec'] } : {}),
    ...(st !== undefined
      ? {
          status: {
            ...(st.active !== undefined ? { active: st.active } : {}),
            ...(st.succeeded !== undefined ? { succeeded: st.succeeded } : {}),
            ...(st.failed !== undefined ? { failed: st.failed } : {}),
            ...(st.startTime !== undefined ? { startTime: st.startTime } : {}),
            ...(st.completionTime !== undefined ? { completionTime: st.completionTime } : {}),
            ...(st.conditions !== undefined
              ? { conditions: st.conditions.map((c) => ({ type: c.type, status: c.status })) }
              : {}),
          },
        }
      : {}),
  };
}

/** Callbacks for changes the controller reacts to. */
export interface WorldHandlers {
  onScheduleTrigger?: (t: ScheduleTriggerObject, kind: 'add' | 'update' | 'delete') => void;
  onJob?: (job: V1Job, kind: 'add' | 'update' | 'delete') => void;
  onConfigMap?: (cm: V1ConfigMap, kind: 'add' | 'update' | 'delete') => void;
}

/**
 * The controller's view of the cluster: supervised list+watch caches of the six kinds (all namespaces),
 * of its own Jobs (label-selected) and of the runtime ConfigMap (one object, field-selected).
 */
export class World {
  readonly gitRepos: SupervisedWatch<GitRepoObject>;
  readonly clusterGitRepos: SupervisedWatch<GitRepoObject>;
  readonly scheduleTriggers: SupervisedWatch<ScheduleTriggerObject>;
  readonly webhookTriggers: SupervisedWatch<WebhookTriggerObject>;
  readonly actions: SupervisedWatch<ActionObject>;
  readonly clusterActions: SupervisedWatch<ActionObject>;
  readonly jobs: SupervisedWatch<V1Job>;
  readonly configMap: SupervisedWatch<V1ConfigMap>;
  readonly #all: SupervisedWatch<KubernetesObject>[];

  constructor(
    kc: KubeConfig,
    log: Logger,
    opts: { namespace: string; configMapName: string },
    handlers: WorldHandlers = {},
  ) {
    const custom = kc.makeApiClient(CustomObjectsApi);
    const batch = kc.makeApiClient(BatchV1Api);
    const core = kc.makeApiClient(CoreV1Api);
    const crd = <T extends KubernetesObject>(
      plural: string,
      onChange?: (o: T, k: 'add' | 'update' | 'delete') => void,
    ) =>
      new SupervisedWatch<T>(
        kc,
        plural,
        `/apis/${GROUP}/${VERSION}/${plural}`,
        async () =>
          (await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural })) as KubernetesListObject<T>,
        log,
        onChange === undefined ? {} : { handlers: { onChange } },
      );
    this.gitRepos = crd('gitrepos');
    this.clusterGitRepos = crd('clustergitrepos');
    this.scheduleTriggers = crd('scheduletriggers', handlers.onScheduleTrigger);
    this.webhookTriggers = crd('webhooktriggers');
    this.actions = crd('actions');
    this.clusterActions = crd('clusteractions');
    this.jobs = new SupervisedWatch<V1Job>(
      kc,
      'jobs',
      '/apis/batch/v1/jobs',
      // In pages: a cluster with thousands of Jobs does not arrive as one response in a small heap.
      async () => {
        const items: V1Job[] = [];
        let page = await batch.listJobForAllNamespaces({ labelSelector: MANAGED_BY, limit: JOB_LIST_PAGE });
        for (;;) {
          for (const job of page.items) items.push(slimJob(job));
          const next = page.metadata?._continue;
          if (next === undefined || next === '') break;
          page = await batch.listJobForAllNamespaces({
            labelSelector: MANAGED_BY,
            limit: JOB_LIST_PAGE,
            _continue: next,
          });
        }
        // The snapshot's resourceVersion is the first page's (continuations read the same snapshot).
        return { ...page, items };
      },
      log,
      {
        transform: slimJob,
        labelSelector: MANAGED_BY,
        ...(handlers.onJob === undefined ? {} : { handlers: { onChange: handlers.onJob } }),
      },
    );
    const fieldSelector = `metadata.name=${opts.configMapName}`;
    this.configMap = new SupervisedWatch<V1ConfigMap>(
      kc,
      'configmap',
      `/api/v1/namespaces/${opts.namespace}/configmaps`,
      () => core.listNamespacedConfigMap({ namespace: opts.namespace, fieldSelector }),
      log,
      {
        fieldSelector,
        ...(handlers.onConfigMap === undefined ? {} : { handlers: { onChange: handlers.onConfigMap } }),
      },
    );
    this.#all = [
      this.gitRepos,
      this.clusterGitRepos,
      this.scheduleTriggers,
      this.webhookTriggers,
      this.actions,
      this.clusterActions,
      this.jobs,
      this.configMap,
    ] as unknown as SupervisedWatch<KubernetesObject>[];
  }

  start(): void {
    for (const w of this.#all) w.start();
  }

  /** Resolves once every cache has listed once. */
  async firstSync(): Promise<void> {
    await Promise.all(this.#all.map((w) => w.firstSync));
  }

  /** Whether every cache is current. */
  get synced(): boolean {
    return this.#all.every((w) => w.synced);
  }

  /** Names of caches that are not current (for /ready). */
  get unsynced(): string[] {
    return this.#all.filter((w) => !w.synced).map((w) => w.name);
  }

  async stop(): Promise<void> {
    await Promise.all(this.#all.map((w) => w.stop()));
  }
}

import {
  type ActionSpec,
  API_VERSION,
  type ClusterActionSpec,
  CodedError,
  type GitRef,
  JOB_ANNOTATIONS,
  JOB_LABELS,
  JOB_MANAGED_BY,
} from '@git-events-runner/shared';
import type {
  V1Affinity,
  V1Container,
  V1EnvVar,
  V1Job,
  V1PodSpec,
  V1SecurityContext,
  V1Toleration,
  V1VolumeMount,
} from '@kubernetes/client-node';
import type { RuntimeConfig } from '../config/runtime.js';
import { jobName, labelValue } from './names.js';

// The keys are part of the resources' contract, shared with readers outside the controller (the plugin).
/** Labels of action Jobs and their Pods. */
export const LABELS = JOB_LABELS;

/** Value of the `app.kubernetes.io/managed-by` label. */
export const MANAGED_BY = JOB_MANAGED_BY;

/** Annotations of action Jobs and their Pods: values that may exceed a label's 63 characters. */
export const ANNOTATIONS = { commit: JOB_ANNOTATIONS.commit, runKey: JOB_ANNOTATIONS.runKey } as const;

/**
 * Arguments of the cloner before its flags: the cloner image is the controller image, whose
 * entrypoint is `git-events-runner`, so the init container runs `git-events-runner clone ...`.
 */
export const CLONER_SUBCOMMAND = 'clone';

/**
 * Security context of the cloner init container. The cloner only talks to the API server and git
 * hosts and writes into the workdir volume, so it needs no privilege, no root and no writable root
 * file system; 65532 is the conventional "nonroot" user of distroless images.
 */
export const CLONER_SECURITY_CONTEXT: Readonly<V1SecurityContext> = Object.freeze({
  runAsNonRoot: true,
  runAsUser: 65532,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
});

/**
 * Security context of the worker container: what the "restricted" Pod Security Standard asks of it, so
 * that action Jobs run in namespaces that enforce it (the cloner's context already complies). The user
 * stays the image's: the default worker image runs as 65532, the cloner's uid, so the cloned files are
 * its own; an image that would run as root is refused by the kubelet instead of running as root.
 */
export const WORKER_SECURITY_CONTEXT: Readonly<V1SecurityContext> = Object.freeze({
  runAsNonRoot: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
});

/** Everything a Job depends on. */
export interface JobRequest {
  trigger: { kind: 'ScheduleTrigger' | 'WebhookTrigger'; name: string; namespace: string; uid: string };
  source: { kind: 'GitRepo' | 'ClusterGitRepo'; name: string };
  /** The trigger's watchOn.reference (for the env vars). */
  reference: GitRef;
  /** The commit the check saw. */
  commit: string;
  action: { kind: 'Action' | 'ClusterAction'; name: string; uid: string; spec: ActionSpec | ClusterActionSpec };
  config: RuntimeConfig;
  /**
   * What makes this run unique besides trigger and source: the commit for change-driven runs, the
   * schedule slot (ISO time) for onChangeOnly:false schedules, the request/delivery id for webhooks.
   */
  runKey: string;
  /** Create suspended (the cluster-wide queue un-suspends it). */
  suspend: boolean;
  /** Process identity label value (reference: git-events-runner.rs/controller-identity). */
  controllerIdentity: string;
}

/** Codes of JobBuildError. */
export const JOB_BUILD_ERROR_CODES = ['InvalidReference'] as const;
/** One of JOB_BUILD_ERROR_CODES. */
export type JobBuildErrorCode = (typeof JOB_BUILD_ERROR_CODES)[number];

/** A Job cannot be built from the request (the API server's validation would have prevented it). */
export class JobBuildError extends CodedError<JobBuildErrorCode> {
  override readonly name = 'JobBuildError';
}

/** The kind and name of a git reference, e.g. `{ type: 'branch', name: 'main' }`. */
export function refOf(ref: GitRef, where: string): { type: 'branch' | 'tag' | 'commit'; name: string } {
  if (ref.branch !== undefined) return { type: 'branch', name: ref.branch };
  if (ref.tag !== undefined) return { type: 'tag', name: ref.tag };
  if (ref.commit !== undefined) return { type: 'commit', name: ref.commit };
  throw new JobBuildError('InvalidReference', `${where} names no branch, tag or commit`);
}

/** The source the cloner fetches: the action's override if any, else the trigger's source at the checked commit. */
interface CloneTarget {
  kind: 'GitRepo' | 'ClusterGitRepo';
  name: string;
  ref: { type: 'branch' | 'tag' | 'commit'; name: string };
}

function overrideOf(req: JobRequest): CloneTarget | undefined {
  const override = req.action.spec.sourceOverride;
  if (override === undefined) return undefined;
  return {
    // A ClusterAction may only clone cluster-wide sources whatever its object says.
    kind: req.action.kind === 'ClusterAction' ? 'ClusterGitRepo' : override.kind,
    name: override.name,
    ref: refOf(override.reference, `${req.action.kind} ${req.action.name} sourceOverride.reference`),
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/**
 * Builds the action Job of one run (reference 4.1) with deterministic name, tracking labels on the Job
 * and its Pod, a locked-down cloner, and `spec.suspend`. Pure: the same request gives the same Job.
 * The Job is created in the trigger's namespace and owned by the (Cluster)Action, so deleting the action
 * deletes its Jobs.
 * @throws JobBuildError `InvalidReference` when a git reference names nothing.
 */
export function buildJob(req: JobRequest): V1Job {
  const cfg = req.config.action;
  const actionJob = req.action.spec.actionJob ?? {};
  const workdir = nonEmpty(actionJob.workdir) ?? cfg.workdir.mountPath;
  const volumeName = cfg.workdir.volumeName;
  const triggerRef = refOf(req.reference, `${req.trigger.kind} ${req.trigger.namespace}/${req.trigger.name} reference`);
  const override = overrideOf(req);
  const cloneTarget: CloneTarget = override ?? {
    kind: req.source.kind,
    name: req.source.name,
    ref: { type: 'commit', name: req.commit },
  };

  // Custom labels may replace the descriptive ones (as in the original) but never those the controller
  // selects its Jobs by.
  const labels: Record<string, string> = {
    [LABELS.actionKind]: req.action.kind,
    [LABELS.actionName]: labelValue(req.action.name),
    [LABELS.sourceKind]: req.source.kind,
    [LABELS.sourceName]: labelValue(req.source.name),
    [LABELS.triggerKind]: req.trigger.kind,
    [LABELS.triggerName]: labelValue(req.trigger.name),
    ...actionJob.labels,
    [LABELS.triggerUid]: labelValue(req.trigger.uid),
    [LABELS.controllerIdentity]: labelValue(req.controllerIdentity),
    [LABELS.managedBy]: MANAGED_BY,
  };
  const annotations: Record<string, string> = {
    ...actionJob.annotations,
    [ANNOTATIONS.commit]: req.commit,
    [ANNOTATIONS.runKey]: req.runKey,
  };

  const mount: V1VolumeMount = { name: volumeName, mountPath: workdir };
  const clonerArgs = [
    CLONER_SUBCOMMAND,
    '--kind',
    cloneTarget.kind,
    '--source',
    cloneTarget.name,
    '--destination',
    workdir,
    `--${cloneTarget.ref.type}`,
    cloneTarget.ref.name,
    ...(actionJob.preserveGitFolder === true ? ['--preserve-git-folder'] : []),
    ...(actionJob.enableClonerDebug === true ? ['--debug'] : []),
  ];
  const cloner: V1Container = {
    name: cfg.containers.cloner.name,
    image: nonEmpty(actionJob.clonerImage) ?? cfg.containers.cloner.image,
    args: clonerArgs,
    volumeMounts: [{ ...mount }],
    securityContext: structuredClone(CLONER_SECURITY_CONTEXT),
    // The cloner's one-line error (a forbidden Secret, a host key that does not match) becomes the
    // container's termination message, so `kubectl describe pod` and the Pod's status say why.
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };

  const prefix = cfg.containers.worker.variablesPrefix;
  const env = (name: string, value: string): V1EnvVar => ({ name: `${prefix}${name}`, value });
  const envs: V1EnvVar[] = [
    env('WORKDIR', workdir),
    env('TRIGGER_SOURCE_KIND', req.source.kind),
    env('TRIGGER_SOURCE_NAME', req.source.name),
    env('TRIGGER_SOURCE_COMMIT', req.commit),
    env('TRIGGER_SOURCE_REF_TYPE', triggerRef.type),
    env('TRIGGER_SOURCE_REF_NAME', triggerRef.name),
    env('TRIGGER_KIND', req.trigger.kind),
    env('TRIGGER_NAME', req.trigger.name),
  ];
  if (req.source.kind === 'GitRepo') envs.push(env('TRIGGER_SOURCE_NAMESPACE', req.trigger.namespace));
  if (override !== undefined) {
    envs.push(
      env('ACTION_SOURCE_KIND', override.kind),
      env('ACTION_SOURCE_NAME', override.name),
      env('ACTION_SOURCE_REF_TYPE', override.ref.type),
      env('ACTION_SOURCE_REF_NAME', override.ref.name),
    );
    if (override.kind === 'GitRepo') envs.push(env('ACTION_SOURCE_NAMESPACE', req.trigger.namespace));
  }
  // The design document's own example script reads these variables without the prefix
  // (`helm upgrade ${TRIGGER_SOURCE_NAME} ...`), while the original only set the prefixed names: both are
  // set, so scripts written either way work. Prefixed first: they are the documented contract.
  if (prefix !== '') {
    const plain = envs.map((e) => ({ name: e.name.slice(prefix.length), value: e.value ?? '' }));
    envs.push(...plain);
  }
  const worker: V1Container = {
    name: cfg.containers.worker.name,
    image: nonEmpty(actionJob.actionImage) ?? cfg.containers.worker.image,
    workingDir: workdir,
    ...(actionJob.command === undefined ? {} : { command: [...actionJob.command] }),
    ...(actionJob.args === undefined ? {} : { args: [...actionJob.args] }),
    env: envs,
    volumeMounts: [{ ...mount }],
    securityContext: structuredClone(WORKER_SECURITY_CONTEXT),
  };

  const serviceAccountName = nonEmpty(actionJob.serviceAccount) ?? cfg.defaultServiceAccount;
  const podSpec: V1PodSpec = {
    restartPolicy: 'Never',
    ...(serviceAccountName === undefined ? {} : { serviceAccountName }),
    ...(actionJob.nodeSelector === undefined ? {} : { nodeSelector: { ...actionJob.nodeSelector } }),
    // The schema keeps affinity and tolerations as core/v1 objects; kube-apiserver validates them.
    ...(actionJob.affinity === undefined ? {} : { affinity: structuredClone(actionJob.affinity) as V1Affinity }),
    ...(actionJob.tolerations === undefined
      ? {}
      : { tolerations: structuredClone(actionJob.tolerations) as V1Toleration[] }),
    volumes: [{ name: volumeName, emptyDir: {} }],
    initContainers: [cloner],
    containers: [worker],
  };

  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: jobName(req.action.name, req.trigger.uid, req.source.name, req.runKey),
      namespace: req.trigger.namespace,
      labels,
      annotations,
      ownerReferences: [
        {
          apiVersion: API_VERSION,
          kind: req.action.kind,
          name: req.action.name,
          uid: req.action.uid,
          controller: true,
        },
      ],
    },
    spec: {
      backoffLimit: 0,
      parallelism: 1,
      completions: 1,
      activeDeadlineSeconds: actionJob.activeDeadlineSeconds ?? cfg.activeDeadlineSeconds,
      ttlSecondsAfterFinished: actionJob.ttlSecondsAfterFinished ?? cfg.ttlSecondsAfterFinished,
      suspend: req.suspend,
      template: {
        metadata: { labels: { ...labels }, annotations: { ...annotations } },
        spec: podSpec,
      },
    },
  };
}

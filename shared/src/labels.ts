// Label and annotation keys the controller writes on its Jobs and reads on triggers, for readers outside the
// controller (the kubectl plugin). They are part of the resources' contract: changing one breaks clients.

/** Labels of action Jobs and their Pods. */
export const JOB_LABELS = {
  actionKind: 'git-events-runner.rs/action-kind',
  actionName: 'git-events-runner.rs/action-name',
  sourceKind: 'git-events-runner.rs/source-kind',
  sourceName: 'git-events-runner.rs/source-name',
  triggerKind: 'git-events-runner.rs/trigger-kind',
  triggerName: 'git-events-runner.rs/trigger-name',
  triggerUid: 'git-events-runner.rs/trigger-uid',
  controllerIdentity: 'git-events-runner.rs/controller-identity',
  managedBy: 'app.kubernetes.io/managed-by',
} as const;

/** Value of the `app.kubernetes.io/managed-by` label of action Jobs. */
export const JOB_MANAGED_BY = 'git-events-runner';

/** Annotations of action Jobs: full values that may exceed a label's 63 characters. */
export const JOB_ANNOTATIONS = {
  commit: 'git-events-runner.rs/commit',
  runKey: 'git-events-runner.rs/run-key',
  trigger: 'git-events-runner.rs/trigger',
  source: 'git-events-runner.rs/source',
  /**
   * Of a Job of a Forbid or Replace trigger: the name of the Job it follows (empty for the first). Such
   * Jobs are named after their predecessor, so replicas racing to start the next one collide on the name.
   */
  predecessor: 'git-events-runner.rs/predecessor',
} as const;

/** Annotation on a ScheduleTrigger asking for one immediate check (any new value); removed once handled. */
export const RUN_REQUESTED_AT_ANNOTATION = 'git-events-runner.rs/run-requested-at';

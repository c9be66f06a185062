export {
  buildCrd,
  buildCrds,
  type JsonSchemaProps,
  renderCrdsYaml,
  toOpenApi,
} from './crd.js';
export { CodedError } from './errors.js';
export { JOB_ANNOTATIONS, JOB_LABELS, JOB_MANAGED_BY, RUN_REQUESTED_AT_ANNOTATION } from './labels.js';
export {
  type ActionSpec,
  API_VERSION,
  CATEGORY,
  type CheckedSource,
  type ClusterActionSpec,
  type GitRef,
  type GitRepoSpec,
  GROUP,
  INTERVAL_PATTERN,
  INTERVAL_UNITS,
  KINDS,
  type KindDefinition,
  type KindName,
  type LastError,
  type LastJob,
  type PrinterColumn,
  REPO_URI_PATTERN,
  type ScheduleTriggerSpec,
  type TriggerCondition,
  type TriggerStatus,
  VERIFY_MODES,
  VERSION,
  type VerifySpec,
  type WatchRef,
  WebhookJournalEntry,
  type WebhookTriggerSpec,
} from './schema/resources.js';
export type { CelRule, Rule } from './schema/rules.js';
export { isSemverRange, newestInRange, tagVersion } from './semver.js';
export { type FieldError, validateSpec, webhookJournalEntryValid, withDefaults } from './validate.js';

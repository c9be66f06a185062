// The admission server of git-events-runner. The pure rules (planValidation/completeValidation, mutate)
// are separate from the I/O (kubernetesChecks, buildApp, startAdmissionServer), so each can be used alone.
export { type AppOptions, buildApp } from './app.js';
export { type ClusterCheckOptions, type ClusterChecks, kubernetesChecks } from './cluster.js';
export { ADMISSION_ERROR_CODES, AdmissionError, type AdmissionErrorCode } from './errors.js';
export { createLogger, LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from './logger.js';
export {
  type ManifestOptions,
  MUTATING_CONFIGURATION_NAME,
  MUTATING_WEBHOOK_NAME,
  renderWebhookManifests,
  VALIDATING_CONFIGURATION_NAME,
  VALIDATING_WEBHOOK_NAME,
  WEBHOOK_TIMEOUT_SECONDS,
  type WebhookTarget,
  webhookConfigurations,
} from './manifests.js';
export { Metrics } from './metrics.js';
export { defaultPolicy, loadPolicyFile, type Policy, parsePolicy } from './policy.js';
export { buildProgram, CliError, type CliIo } from './program.js';
export {
  ADMISSION_API_VERSION,
  type AdmissionRequest,
  type AdmissionResponse,
  type AdmissionReviewResponse,
  parseAdmissionReview,
  reviewResponse,
  type UserInfo,
} from './review.js';
export { type JsonPatchOperation, mutate, mutationPatch } from './rules/mutate.js';
export {
  type AccessVerdict,
  completeValidation,
  type Problem,
  type ProblemType,
  planValidation,
  type Reference,
  type ReferencedKind,
  type SecretRead,
  type ValidationPlan,
} from './rules/validate.js';
export { type AdmissionServer, type AdmissionServerOptions, startAdmissionServer } from './server.js';

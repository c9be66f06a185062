export { type CloneRequest, jobNamespace, runClone } from './clone.js';
export { defaultRuntimeConfig, parseRuntimeConfig, type RuntimeConfig } from './config/index.js';
export { buildJob, type JobRequest } from './jobs/index.js';
export { buildProgram, CliError, type CliIo } from './program.js';
export { SOURCE_ERROR_CODES, SourceError, type SourceErrorCode } from './sources/errors.js';
export { buildRemote, type RemoteDefaults, type SourceObject, secretNamespace } from './sources/remote.js';
export {
  DirectSecrets,
  type SecretData,
  type SecretLookup,
  WatchedSecrets,
  type WatchedSecretsOptions,
} from './sources/secrets.js';
export { JOURNAL_ERROR_CODES, JournalError, type JournalErrorCode, journalName } from './webhooks/journal.js';
export { type JournalSnapshot, WebhookJournal } from './webhooks/journal-store.js';
export {
  loadWebhookTls,
  WEBHOOK_TLS_ERROR_CODES,
  type WebhookTls,
  WebhookTlsError,
  type WebhookTlsErrorCode,
} from './webhooks/tls.js';

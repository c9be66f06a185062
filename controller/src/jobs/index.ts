export {
  ANNOTATIONS,
  buildJob,
  CLONER_SECURITY_CONTEXT,
  CLONER_SUBCOMMAND,
  JOB_BUILD_ERROR_CODES,
  JobBuildError,
  type JobBuildErrorCode,
  type JobRequest,
  LABELS,
  MANAGED_BY,
  refOf,
  WORKER_SECURITY_CONTEXT,
} from './build.js';
export { chainHead, isActive, predecessorOf, successorName } from './chain.js';
export {
  isValidLabelValue,
  jobName,
  labelValue,
  MAX_JOB_NAME_LENGTH,
  MAX_LABEL_VALUE_LENGTH,
  predatesChange,
  RECURRENCE_MARGIN_MS,
  recurrenceRunKey,
} from './names.js';

import { CodedError } from '@git-events-runner/shared';
/** Why the admission server cannot start or cannot read a request; stable values to branch on. */
export const ADMISSION_ERROR_CODES = [
  /** The policy file is not one YAML document. */
  'InvalidPolicyYaml',
  /** The policy file has a field with a bad value, or an unknown field. */
  'InvalidPolicy',
  /** A file named on the command line cannot be read. */
  'UnreadableFile',
  /** The serving certificate or key is not PEM, or they do not belong together. */
  'InvalidCertificate',
  /** The body of a POST /validate or /mutate is not an AdmissionReview v1 request. */
  'InvalidReview',
  /** Command-line flags that cannot be used together or have a bad value. */
  'InvalidFlags',
] as const;

/** One of ADMISSION_ERROR_CODES. */
export type AdmissionErrorCode = (typeof ADMISSION_ERROR_CODES)[number];

/** An error of the admission server; the message names the offending field, flag or file. */
export class AdmissionError extends CodedError<AdmissionErrorCode> {
  override readonly name = 'AdmissionError';
}

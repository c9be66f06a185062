export { GIT_ERROR_CODES, GitError, type GitErrorCode, isGitError } from './errors.js';
export { hashFiles, NO_MATCHING_FILES, selectFiles, type TreeFile } from './files.js';
export {
  fingerprint,
  type HostKeyVerdict,
  type KnownHostEntry,
  knownHostsName,
  parseKnownHosts,
  verifyHostKey,
} from './known-hosts.js';
export {
  cacheDirFor,
  checkFiles,
  cloneRef,
  fetchRef,
  fetchTip,
  listTree,
  type RefSelector,
  type RefState,
  resolveRef,
} from './operations.js';
export {
  parseAllowedSigners,
  SIGNATURE_FAILURES,
  type SignatureFailure,
  type SignatureVerdict,
  type SignedParts,
  splitCommit,
  splitTag,
  type TrustedKeys,
  verifySigned,
} from './signatures.js';
export {
  DEFAULT_MAX_BYTES,
  DEFAULT_TIMEOUT_MS,
  type GitAuth,
  type GitRemote,
  HttpAgents,
  openTransport,
  type TransferStats,
} from './transport.js';
export { type GitScheme, type ParsedRepoUri, parseRepoUri } from './url.js';
export {
  SignatureError,
  type SignaturePolicy,
  type VerifiedRef,
  type VerifyMode,
  verifyFetched,
  verifyRef,
} from './verify.js';

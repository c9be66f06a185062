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
  listTree,
  type RefSelector,
  type RefState,
  resolveRef,
} from './operations.js';
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

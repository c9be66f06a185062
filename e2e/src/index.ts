export {
  type AdmissionCluster,
  type AdmissionProcess,
  type AdmissionProcessOptions,
  admissionCli,
  mintAdmissionKubeconfig,
  startAdmissionProcess,
} from './admission-process.js';
export { type AppCluster, appCluster, clusterController } from './app-cluster.js';
export {
  attachControlPlane,
  type ControlPlane,
  type ControlPlaneOptions,
  type ControlPlaneState,
  kubeconfigYaml,
  mintKubeconfig,
  startControlPlane,
} from './control-plane.js';
export { type ControllerProcess, startControllerProcess } from './controller-process.js';
export {
  type BasicCredentials,
  type CommitOptions,
  createGitFixtures,
  FIXTURE_IDENTITY,
  type FileContent,
  type GarbageServerOptions,
  type GitDaemon,
  type GitDaemonOptions,
  type GitFixtures,
  type GitHttpRequestRecord,
  type GitHttpServer,
  type GitHttpServerOptions,
  type GitHttpStats,
  type GitHttpsServer,
  type GitResult,
  type GitServers,
  type GitServersOptions,
  type GitServerUrls,
  type GitSshServer,
  type GitSshServerOptions,
  gitEnv,
  type HostileServer,
  type HttpAuth,
  processesGone,
  type RunGitOptions,
  runGit,
  runGitOk,
  type SshClientKey,
  type SshClientKeys,
  startGarbageServer,
  startGitDaemon,
  startGitHttpServer,
  startGitServers,
  startGitSshServer,
  startHangingServer,
  type TagIds,
} from './git-servers.js';
export {
  ENV,
  eventually,
  type IsolatedCluster,
  isolatedCluster,
  type TestCluster,
  testCluster,
  testNamespace,
} from './harness.js';
export { completedJobStatus, installCrds, kubectl, kubectlOk, waitCrdsEstablished } from './kube.js';
export { type CertificateAuthority, createCertificateAuthority, type KeyPair } from './pki.js';
export { alive } from './processes.js';
export { ensureTools, type RunResult, repoRoot, run } from './tools.js';
export {
  addLoopbackAddress,
  exposeWebhookService,
  type LoopbackAddress,
  WEBHOOK_SERVICE,
} from './webhook-service.js';

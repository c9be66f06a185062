export {
  attachControlPlane,
  type ControlPlane,
  type ControlPlaneOptions,
  type ControlPlaneState,
  kubeconfigYaml,
  mintKubeconfig,
  startControlPlane,
} from './control-plane.js';
export { ENV, type TestCluster, testCluster, testNamespace } from './harness.js';
export { installCrds, kubectl, kubectlOk } from './kube.js';
export { type CertificateAuthority, createCertificateAuthority, type KeyPair } from './pki.js';
export { alive } from './processes.js';
export { ensureTools, type RunResult, repoRoot, run } from './tools.js';

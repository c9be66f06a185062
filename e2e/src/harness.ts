import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { type ApiServerNetwork, type ControlPlane, mintKubeconfig, startControlPlane } from './control-plane.js';
import { controllerOutputs } from './controller-process.js';
import { installCrds, kubectl, kubectlOk } from './kube.js';
import { clusterHaystacks, findLeaks, httpResponses, type Leak, recordHttpResponses, secretValues } from './leaks.js';
import type { RunResult } from './tools.js';

/** Environment variables through which the test runner hands its control plane to test files. */
export const ENV = {
  dir: 'GER_CLUSTER_DIR',
  bin: 'GER_TOOLS_BIN',
  kubeconfig: 'GER_KUBECONFIG',
  /** JSON array of image archives for a real node (e2e/src/images.ts), set when one can run here. */
  nodeImages: 'GER_NODE_IMAGES',
  /** Why no real node can run here, set instead of nodeImages. */
  nodeUnavailable: 'GER_NODE_UNAVAILABLE',
} as const;

/** The control plane a test file runs against. */
export interface TestCluster {
  readonly dir: string;
  readonly binDir: string;
  /** Admin kubeconfig path. */
  readonly kubeconfig: string;
  /** Admin client configuration. */
  readonly kc: KubeConfig;
  kubectl(args: readonly string[], input?: string): Promise<RunResult>;
  kubectlOk(args: readonly string[], input?: string): Promise<string>;
  /** A kubeconfig for a user with these groups; RBAC applies to it. */
  mintKubeconfig(user: string, groups?: readonly string[]): Promise<string>;
}

/** Reads the control plane started by `npm test` (e2e/src/run-tests.ts). */
export function testCluster(): TestCluster {
  const dir = process.env[ENV.dir];
  const binDir = process.env[ENV.bin];
  const kubeconfig = process.env[ENV.kubeconfig];
  if (dir === undefined || binDir === undefined || kubeconfig === undefined) {
    throw new Error(`${ENV.dir}, ${ENV.bin} and ${ENV.kubeconfig} are not set: run the tests with "npm test"`);
  }
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return {
    dir,
    binDir,
    kubeconfig,
    kc,
    kubectl: (args, input) => kubectl(binDir, kubeconfig, args, input),
    kubectlOk: (args, input) => kubectlOk(binDir, kubeconfig, args, input),
    mintKubeconfig: (user, groups) => mintKubeconfig(dir, user, groups),
  };
}

/** Creates a namespace of its own for one test, labelled so a person can find what a test left. */
export async function testNamespace(cluster: TestCluster, prefix = 't'): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await cluster.kc.makeApiClient(CoreV1Api).createNamespace({
    body: { metadata: { name, labels: { 'git-events-runner.rs/test': 'true' } } },
  });
  return name;
}

/**
 * Calls `fn` until `ok` accepts its result or `timeoutMs` passes, and returns the last result. For state
 * that converges (RBAC caches, watches); the caller still asserts on what it gets.
 */
export async function eventually<T>(
  fn: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 10_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await fn();
  while (!ok(value) && Date.now() < deadline) {
    await sleep(intervalMs);
    value = await fn();
  }
  return value;
}

/** A control plane of a test file's own, for tests that run a controller (which acts on every namespace). */
export interface IsolatedCluster {
  /** The control plane itself (e.g. to stop and start kube-apiserver in outage tests). */
  readonly plane: ControlPlane;
  readonly binDir: string;
  readonly kubeconfig: string;
  readonly kc: KubeConfig;
  readonly core: CoreV1Api;
  kubectl(args: readonly string[], input?: string): Promise<string>;
}

/**
 * Starts a second control plane with the CRDs and the controller's namespace `ger-system`, stopped at the
 * end of the test file. Controllers run against it so they never check the triggers of other test files.
 */
export async function isolatedCluster(
  t: { teardown(fn: () => Promise<void>): void },
  options: { network?: ApiServerNetwork } = {},
): Promise<IsolatedCluster> {
  const { binDir } = testCluster();
  const plane = await startControlPlane({ binDir, ...options });
  recordHttpResponses();
  const kc = new KubeConfig();
  // Runs last (teardowns run in reverse), after the test's controllers stopped: no Secret's value may
  // appear in their logs or metrics, in an HTTP response the test received, in an Event or in a status.
  // A leak fails the test file.
  t.teardown(async () => {
    let leaks: Leak[] = [];
    try {
      const values = await secretValues(kc);
      leaks = findLeaks(values, [...controllerOutputs(), ...httpResponses(), ...(await clusterHaystacks(kc))]);
    } finally {
      await plane.stop();
    }
    if (leaks.length > 0) {
      throw new Error(`secret values leaked:\n${leaks.map((l) => `  ${l.secret} in ${l.where}`).join('\n')}`);
    }
  });
  await installCrds(binDir, plane.kubeconfig);
  kc.loadFromFile(plane.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: 'ger-system' } } });
  return {
    plane,
    binDir,
    kubeconfig: plane.kubeconfig,
    kc,
    core,
    kubectl: (args, input) => kubectlOk(binDir, plane.kubeconfig, args, input),
  };
}

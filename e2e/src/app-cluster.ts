import { BatchV1Api } from '@kubernetes/client-node';
import { type ControllerProcess, startControllerProcess } from './controller-process.js';
import { type GitServers, startGitServers } from './git-servers.js';
import { type IsolatedCluster, isolatedCluster } from './harness.js';

/** An isolated cluster, and git over HTTP(S) serving the repository `app`. */
export interface AppCluster extends IsolatedCluster {
  readonly batch: BatchV1Api;
  readonly servers: GitServers;
  /** The commit `app`'s main branch starts at. */
  readonly head: string;
}

/**
 * The set-up of the tests that run a controller against one repository: a control plane of the test
 * file's own (isolatedCluster), git http-backend over HTTP and HTTPS (no sshd, no git daemon), and the
 * repository `app` with one commit of `files`. Everything stops at `t`'s teardown.
 */
export async function appCluster(
  t: { teardown(fn: () => Promise<void>): void },
  files: Readonly<Record<string, string>>,
  message: string,
): Promise<AppCluster> {
  const plane = await isolatedCluster(t);
  const servers = await startGitServers({ ssh: false, daemon: false });
  t.teardown(() => servers.stop());
  await servers.fixtures.create('app');
  const head = (await servers.fixtures.commit('app', { ...files }, message)).trim();
  return { ...plane, batch: plane.kc.makeApiClient(BatchV1Api), servers, head };
}

/**
 * A controller on `cluster` (namespace ger-system) with `args`, SIGKILLed at `t`'s teardown, and the base
 * URL of its webhook server.
 */
export async function clusterController(
  t: { teardown(fn: () => Promise<void>): void },
  cluster: Pick<IsolatedCluster, 'kubeconfig'>,
  args: readonly string[],
): Promise<{ controller: ControllerProcess; base: string }> {
  const controller = await startControllerProcess({
    kubeconfig: cluster.kubeconfig,
    namespace: 'ger-system',
    args: [...args],
  });
  t.teardown(async () => {
    await controller.stop('SIGKILL');
  });
  return { controller, base: `http://127.0.0.1:${controller.webhooksPort}` };
}

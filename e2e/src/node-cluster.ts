import { readFile } from 'node:fs/promises';
import { BatchV1Api } from '@kubernetes/client-node';
import { ENV, type IsolatedCluster, isolatedCluster, testCluster } from './harness.js';
import { kubectl } from './kube.js';
import { createNodeNetwork, type NodeNetwork, nodeSupport, type RealNode, startNode } from './node.js';

/** An isolated control plane with a real node: Pods run, Jobs complete. */
export interface NodeCluster extends IsolatedCluster {
  readonly node: RealNode;
  readonly network: NodeNetwork;
  readonly batch: BatchV1Api;
  /** The last lines of every node component's log, for a failing test to print. */
  diagnostics(): Promise<string>;
}

/**
 * Why this run has no real node, or undefined when it has one. `npm test` (e2e/src/run-tests.ts) decides
 * once: it checks the machine and builds the images.
 */
export function nodeUnavailable(): string | undefined {
  const why = process.env[ENV.nodeUnavailable];
  if (why !== undefined && why !== '') return why;
  if (process.env[ENV.nodeImages] === undefined) return `${ENV.nodeImages} is not set: run the tests with "npm test"`;
  return nodeSupport(testCluster().binDir);
}

/** What {@link onRealNode} needs of tap's root test. */
export interface NodeTestRoot {
  teardown(fn: () => Promise<void>): void;
  comment(message: string): void;
  setTimeout(ms: number): void;
  test(name: string, options: { skip: string }, fn: () => Promise<void>): unknown;
}

/**
 * Runs a real-node test file's body with a node cluster of its own, or, where no node can run here,
 * records one skipped test named `what` with the reason (printed, so a run shows why). Node tests wait
 * for image imports, Pods and helm, so the file's timeout becomes `timeoutMs`.
 */
export async function onRealNode(
  t: NodeTestRoot,
  what: string,
  body: (cluster: NodeCluster) => Promise<void>,
  timeoutMs = 12 * 60_000,
): Promise<void> {
  const why = nodeUnavailable();
  if (why !== undefined) {
    t.comment(`no real node here: ${why}`);
    t.test(what, { skip: `no real node here: ${why}` }, async () => {});
    return;
  }
  t.setTimeout(timeoutMs);
  await body(await nodeCluster(t));
}

/**
 * A control plane of the test file's own (as isolatedCluster, with its secret-leak check) serving a
 * real node with the project's images imported. Everything stops at `t`'s teardown; the node's network
 * namespace, cgroups and mounts are removed even when the test process is killed. Call only when
 * {@link nodeUnavailable} returned undefined.
 */
export async function nodeCluster(t: { teardown(fn: () => Promise<void>): void }): Promise<NodeCluster> {
  const images = JSON.parse(process.env[ENV.nodeImages] ?? '[]') as string[];
  const network = await createNodeNetwork();
  // Teardowns run in reverse: the network goes last, after the control plane.
  t.teardown(() => network.remove());
  const plane = await isolatedCluster(t, { network });
  const node = await startNode(plane.plane, network, { binDir: plane.binDir, images });
  t.teardown(() => node.stop());
  return {
    ...plane,
    node,
    network,
    batch: plane.kc.makeApiClient(BatchV1Api),
    diagnostics: async () => {
      const parts: string[] = [];
      for (const [name, file] of Object.entries(node.logs)) {
        const text = await readFile(file, 'utf8').catch(() => '');
        parts.push(`--- ${name}\n${text.split('\n').slice(-15).join('\n')}`);
      }
      const pods = await kubectl(plane.binDir, plane.kubeconfig, ['get', 'pods', '-A', '-o', 'wide']);
      parts.push(`--- pods\n${pods.stdout}${pods.stderr}`);
      return parts.join('\n');
    },
  };
}

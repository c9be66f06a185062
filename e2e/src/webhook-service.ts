import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { kubectlOk } from './kube.js';

const execFileP = promisify(execFile);

/** An address on the loopback interface that kube-apiserver's service proxy accepts. */
export interface LoopbackAddress {
  readonly ip: string;
  /** Deletes the address again when this call added it. */
  remove(): Promise<void>;
}

/**
 * Adds a TEST-NET-1 address (192.0.2.0/24, never routed) to `lo`. kube-apiserver's service proxy never
 * forwards to 127.0.0.0/8, so a controller running as a process listens here to be reachable the way
 * `kubectl git-events fire` reaches the chart's Service. Undefined without iproute2 or CAP_NET_ADMIN.
 */
export async function addLoopbackAddress(): Promise<LoopbackAddress | undefined> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const ip = `192.0.2.${10 + Math.floor(Math.random() * 240)}`;
    const shown = await execFileP('ip', ['-4', 'addr', 'show', 'dev', 'lo']).catch(() => undefined);
    if (shown === undefined) return undefined; // no iproute2
    // Another run may be using this address right now: take a different one rather than share it.
    if (shown.stdout.includes(`inet ${ip}/`)) continue;
    try {
      await execFileP('ip', ['addr', 'add', `${ip}/32`, 'dev', 'lo']);
      return {
        ip,
        remove: async () => {
          await execFileP('ip', ['addr', 'del', `${ip}/32`, 'dev', 'lo']).catch(() => undefined);
        },
      };
    } catch (err: unknown) {
      // Added by someone else between the check and now: another run owns it.
      if (String((err as { stderr?: unknown }).stderr ?? err).includes('File exists')) continue;
      return undefined; // not permitted (no CAP_NET_ADMIN)
    }
  }
  return undefined;
}

/** Where the chart's webhook Service lives, as `kubectl git-events fire` looks for it by default. */
export const WEBHOOK_SERVICE = { namespace: 'git-events-runner', name: 'git-events-runner-webhooks' } as const;

/**
 * Makes the chart's webhook Service (git-events-runner/git-events-runner-webhooks) lead to a controller
 * running as a process at ip:port: a Service without selector, an Endpoints object, and a Pod whose status
 * carries the address, because the service proxy only forwards to endpoints that are Pods with that IP. The
 * Pod is held by a scheduling gate so that neither a scheduler nor a kubelet ever tries to run it.
 */
export async function exposeWebhookService(
  binDir: string,
  kubeconfig: string,
  target: { readonly ip: string; readonly port: number },
): Promise<void> {
  const { namespace, name } = WEBHOOK_SERVICE;
  const apply = (objects: readonly object[]) =>
    kubectlOk(binDir, kubeconfig, ['apply', '-f', '-'], objects.map((o) => stringify(o)).join('---\n'));
  await apply([
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'controller-process', namespace, labels: { app: 'git-events-runner' } },
      spec: {
        schedulingGates: [{ name: 'git-events-runner.rs/runs-as-a-process' }],
        containers: [{ name: 'controller', image: 'git-events-runner' }],
      },
    },
  ]);
  await kubectlOk(binDir, kubeconfig, [
    'patch',
    'pod',
    'controller-process',
    '-n',
    namespace,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({ status: { podIP: target.ip, podIPs: [{ ip: target.ip }] } }),
  ]);
  await apply([
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace },
      spec: { ports: [{ name: 'webhooks', port: 80, targetPort: target.port }] },
    },
    {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name, namespace },
      subsets: [
        {
          addresses: [{ ip: target.ip, targetRef: { kind: 'Pod', namespace, name: 'controller-process' } }],
          ports: [{ name: 'webhooks', port: target.port }],
        },
      ],
    },
  ]);
}

import { join } from 'node:path';
import type { V1JobStatus } from '@kubernetes/client-node';
import { type RunResult, repoRoot, run } from './tools.js';

/** Runs the kubectl built here against a kubeconfig. */
export function kubectl(
  binDir: string,
  kubeconfig: string,
  args: readonly string[],
  input?: string,
): Promise<RunResult> {
  return run(join(binDir, 'kubectl'), [`--kubeconfig=${kubeconfig}`, ...args], input === undefined ? {} : { input });
}

/** Like kubectl(), but throws with kubectl's stderr when it fails. */
export async function kubectlOk(
  binDir: string,
  kubeconfig: string,
  args: readonly string[],
  input?: string,
): Promise<string> {
  const result = await kubectl(binDir, kubeconfig, args, input);
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${result.stderr.trim()}`);
  return result.stdout;
}

/** Applies the CRDs printed by the built `git-events-runner crds` and waits until they are established. */
export async function installCrds(binDir: string, kubeconfig: string): Promise<void> {
  const cli = join(repoRoot(), 'controller', 'dist', 'src', 'cli.js');
  const crds = await run(process.execPath, [cli, 'crds']);
  if (crds.code !== 0) throw new Error(`git-events-runner crds failed: ${crds.stderr}`);
  await kubectlOk(binDir, kubeconfig, ['apply', '--server-side', '-f', '-'], crds.stdout);
  await waitCrdsEstablished(binDir, kubeconfig);
}

/** Waits until every CRD of the cluster is Established (60 s at most). */
export async function waitCrdsEstablished(binDir: string, kubeconfig: string): Promise<void> {
  // Polled rather than `kubectl wait --for=condition=Established crd --all`, which fails outright when it
  // reads a CRD so new that it has no status.conditions yet.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const list = JSON.parse(await kubectlOk(binDir, kubeconfig, ['get', 'crd', '-o', 'json'])) as {
      items: { metadata: { name: string }; status?: { conditions?: { type: string; status: string }[] } }[];
    };
    const pending = list.items.filter(
      (crd) => !crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'),
    );
    if (pending.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`CRDs not established after 60 s: ${pending.map((c) => c.metadata.name).join(', ')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * The status of a Job that ran and succeeded, as the Job controller writes it (no kubelet runs in the
 * API-only tests, so they complete Jobs through the status subresource). Times are RFC 3339.
 */
export function completedJobStatus(started: string, completed = started): V1JobStatus {
  // client-node types these times as Date; the API takes (and the JSON carries) RFC 3339 strings.
  const at = (iso: string) => iso as unknown as Date;
  return {
    startTime: at(started),
    completionTime: at(completed),
    succeeded: 1,
    conditions: [
      { type: 'SuccessCriteriaMet', status: 'True', lastTransitionTime: at(completed) },
      { type: 'Complete', status: 'True', lastTransitionTime: at(completed) },
    ],
  };
}

import { join } from 'node:path';
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
  await kubectlOk(binDir, kubeconfig, ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
}

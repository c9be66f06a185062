import { chmod, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type RunResult, repoRoot, run } from './tools.js';

/**
 * `kubectl git-events ARGS` as a user runs it: the kubectl built here finds the plugin
 * (`kubectl-git_events`, the built kubectl-plugin) on PATH, with this test's Node 24 first on PATH for the
 * plugin's `#!/usr/bin/env node`. The temporary home and bin directory go at `t`'s teardown.
 */
export async function kubectlPlugin(
  t: { teardown(fn: () => Promise<void>): void },
  binDir: string,
  kubeconfig: string,
): Promise<(args: readonly string[]) => Promise<RunResult>> {
  const work = await mkdtemp(join(tmpdir(), 'kubectl-plugin-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const pluginBin = join(work, 'bin');
  await mkdir(pluginBin);
  const cli = join(repoRoot(), 'kubectl-plugin', 'dist', 'src', 'cli.js');
  // npm makes a package's bin executable when it installs it; the build output here is not.
  await chmod(cli, 0o755);
  await symlink(cli, join(pluginBin, 'kubectl-git_events'));
  const PATH = [pluginBin, dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':');
  return (args) =>
    run(join(binDir, 'kubectl'), ['git-events', ...args], { env: { PATH, HOME: work, KUBECONFIG: kubeconfig } });
}

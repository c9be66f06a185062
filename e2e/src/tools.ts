import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file lives in e2e/dist/src or e2e/src). */
export function repoRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return resolve(here, here.includes(`${join('e2e', 'dist')}`) ? '../../..' : '../..');
}

/** Result of running a command to completion. */
export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command, optionally feeding stdin, and collects its output. Never throws on a non-zero exit. */
export function run(
  command: string,
  args: readonly string[],
  options: { input?: string; env?: NodeJS.ProcessEnv; stderr?: 'inherit' | 'pipe'; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', options.stderr ?? 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.once('error', reject);
    child.once('close', (code) => resolvePromise({ code, stdout, stderr }));
    // A command that exits without reading its input closes the pipe: EPIPE on stdin is not a failure
    // of the command (its exit code says how it went), so it must not become an uncaught exception.
    child.stdin?.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') reject(err);
    });
    child.stdin?.end(options.input ?? '');
  });
}

/**
 * Builds (only when missing) and locates etcd, kube-apiserver, kubectl and helm through e2e/tools/build.sh.
 * Progress goes to stderr; returns the directory holding the four binaries.
 */
export async function ensureTools(): Promise<string> {
  const result = await run('bash', [join(repoRoot(), 'e2e', 'tools', 'build.sh')], { stderr: 'inherit' });
  const dir = result.stdout.trim().split('\n').at(-1);
  if (result.code !== 0 || dir === undefined || dir === '')
    throw new Error(`e2e/tools/build.sh failed with exit code ${result.code}`);
  return dir;
}

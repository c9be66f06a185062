import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startGuardedServer } from './git-process.js';

// git daemon for git:// URLs (read-only, no authentication), under the guard of processes.ts.

/** Options of {@link startGitDaemon}. */
export interface GitDaemonOptions {
  /** Directory holding the repositories (--base-path). */
  readonly root: string;
  /** Directory for the pid file and log (default: a new temporary directory, removed by stop). */
  readonly dir?: string;
  /** The process whose death stops the daemon (default: this process). */
  readonly watchPid?: number;
}

/** A running git daemon. */
export interface GitDaemon {
  readonly port: number;
  /** `git://127.0.0.1:PORT/<name>.git`. */
  url(name: string): string;
  /** The daemon's log (--verbose). */
  readonly logFile: string;
  /** The guard's and the daemon's pids. */
  readonly pids: readonly number[];
  stop(): Promise<void>;
}

/** Starts `git daemon` on 127.0.0.1 and a free port, exporting every repository under `root`. */
export async function startGitDaemon(options: GitDaemonOptions): Promise<GitDaemon> {
  const root = resolve(options.root);
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'git-daemon-')));
  await mkdir(dir, { recursive: true });
  // The daemon itself rather than `git daemon`, which would run it as a child: the guard's child and
  // the pid file are then the same process.
  const daemon = join(execFileSync('git', ['--exec-path'], { encoding: 'utf8' }).trim(), 'git-daemon');
  const pidFile = join(dir, 'git-daemon.pid');
  const logFile = join(dir, 'git-daemon.log');
  const server = await startGuardedServer(
    'git daemon',
    'env',
    (port) => [
      // env replaces itself with the daemon (same pid): a way to set its environment through the guard.
      'GIT_CONFIG_NOSYSTEM=1',
      'GIT_CONFIG_GLOBAL=/dev/null',
      daemon,
      '--reuseaddr',
      '--listen=127.0.0.1',
      `--port=${port}`,
      `--base-path=${root}`,
      '--export-all',
      '--enable=upload-pack',
      '--informative-errors',
      '--verbose',
      `--pid-file=${pidFile}`,
      root,
    ],
    pidFile,
    logFile,
    options.watchPid ?? process.pid,
  ).catch(async (e: unknown) => {
    if (ownDir) await rm(dir, { recursive: true, force: true });
    throw e;
  });
  return {
    port: server.port,
    url: (name) => `git://127.0.0.1:${server.port}/${name.replace(/^\/+|\/+$/g, '').replace(/\.git$/, '')}.git`,
    logFile,
    pids: [server.guardPid, server.pid],
    async stop() {
      await server.stop();
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

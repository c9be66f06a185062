import { readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { alive, freePort, type GuardedProcess, startGuarded, terminate } from './processes.js';

// Starting sshd and git daemon: they bind a port chosen a moment earlier by freePort(), which another
// process may take in between, so a start that dies early is retried on a new port.

/** A server process (sshd, git daemon) running under the guard of processes.ts. */
export interface GuardedServer {
  readonly port: number;
  /** The guard's pid. */
  readonly guardPid: number;
  /** The server's own pid (from its pid file). */
  readonly pid: number;
  readonly process: GuardedProcess;
  /** Stops the server (SIGTERM, then SIGKILL) and waits until both it and its guard are gone. */
  stop(): Promise<void>;
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolvePromise(true);
    });
    socket.once('error', () => resolvePromise(false));
  });
}

async function readPid(file: string): Promise<number | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Waits until no process in `pids` exists; returns false on timeout. */
export async function processesGone(pids: readonly number[], timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(alive)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/**
 * Starts `command` under the guard on a free port, and waits until it writes its pid file and accepts
 * connections on `host` (default 127.0.0.1: the address the server listens on). `args(port)` builds the
 * command line; the server must write its pid to `pidFile`.
 */
export async function startGuardedServer(
  name: string,
  command: string,
  args: (port: number) => readonly string[],
  pidFile: string,
  logFile: string,
  watchPid: number,
  timeoutMs = 15_000,
  host = '127.0.0.1',
): Promise<GuardedServer> {
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    await rm(pidFile, { force: true });
    const port = await freePort();
    const proc = startGuarded(command, args(port), logFile, watchPid);
    let exited = false;
    void proc.exited.then(() => {
      exited = true;
    });
    const deadline = Date.now() + timeoutMs;
    let pid: number | undefined;
    while (!exited && Date.now() < deadline) {
      pid ??= await readPid(pidFile);
      if (pid !== undefined && (await canConnect(host, port))) break;
      await sleep(50);
    }
    if (!exited && pid !== undefined && Date.now() <= deadline) {
      const serverPid = pid;
      return {
        port,
        guardPid: proc.pid,
        pid: serverPid,
        process: proc,
        async stop() {
          await terminate(proc.pid, 5_000);
          // The guard waits for its child, but SIGKILL of a stuck guard would leave the server behind.
          if (alive(serverPid)) await terminate(serverPid, 5_000);
          await processesGone([proc.pid, serverPid], 5_000);
        },
      };
    }
    await terminate(proc.pid, 2_000);
    lastError = (await readFile(logFile, 'utf8').catch(() => '')).trim().split('\n').slice(-5).join('\n');
  }
  throw new Error(`${name} did not start: ${lastError}`);
}

import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './processes.js';
import { repoRoot } from './tools.js';

/** A `git-events-runner run` child process. */
export interface ControllerProcess {
  readonly child: ChildProcess;
  /** The address its servers listen on. */
  readonly host: string;
  readonly utilityPort: number;
  readonly webhooksPort: number;
  /** Everything it logged so far (JSON lines). */
  logs(): string;
  /** GET on the utility server: status code and body. */
  get(path: string): Promise<{ status: number; body: string }>;
  /** Sends a signal and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

function get(host: string, port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request({ host, port, path, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

const outputs: { readonly where: string; readonly text: string }[] = [];

/**
 * Everything the controllers started by this process wrote (logs) and served last (metrics), for the
 * secret-leak check of isolatedCluster().
 */
export function controllerOutputs(): readonly { readonly where: string; readonly text: string }[] {
  return outputs;
}

/** Starts the built controller with a kubeconfig and extra flags; resolves once /ready answers 200. */
export async function startControllerProcess(options: {
  kubeconfig: string;
  namespace: string;
  args?: readonly string[];
  env?: NodeJS.ProcessEnv;
  waitReady?: boolean;
  /** The CLI to run: default the compiled controller; a bundle (scripts/bundle.mjs) runs what images ship. */
  entry?: string;
  /** Node flags placed before the entry (e.g. heap limits). */
  nodeArgs?: readonly string[];
  /** The address both servers listen on (GER_LISTEN_HOST); default 127.0.0.1. */
  host?: string;
}): Promise<ControllerProcess> {
  const host = options.host ?? '127.0.0.1';
  const utilityPort = await freePort();
  const webhooksPort = await freePort();
  const cli = options.entry ?? join(repoRoot(), 'controller', 'dist', 'src', 'cli.js');
  const child = spawn(
    process.execPath,
    [
      ...(options.nodeArgs ?? []),
      cli,
      'run',
      '--namespace',
      options.namespace,
      '--utility-port',
      String(utilityPort),
      '--webhooks-port',
      String(webhooksPort),
      ...(options.args ?? []),
    ],
    {
      env: { ...process.env, KUBECONFIG: options.kubeconfig, GER_LISTEN_HOST: host, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let logs = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    logs += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    logs += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const handle: ControllerProcess = {
    child,
    host,
    utilityPort,
    webhooksPort,
    logs: () => logs,
    get: (path) => get(host, utilityPort, path),
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      // The last metrics, for the secret-leak check (metrics must never carry a secret either).
      const metrics = await get(host, utilityPort, '/metrics');
      if (metrics.status === 200) outputs.push({ where: `metrics of controller pid ${child.pid}`, text: metrics.body });
      child.kill(signal);
      return exited;
    },
  };
  outputs.push({
    where: `logs of controller pid ${child.pid}`,
    get text() {
      return logs;
    },
  });
  if (options.waitReady !== false) {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if ((await handle.get('/ready')).status === 200) break;
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`controller did not become ready:\n${logs.slice(-3000)}`);
      }
      await sleep(200);
    }
  }
  return handle;
}

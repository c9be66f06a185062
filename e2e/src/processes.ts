import { type ChildProcess, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { openSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

// Runs the server under a bash guard that stops it when the watched process (the test run) dies,
// even by SIGKILL, so no etcd or kube-apiserver outlives a crashed run. watch=0 means "detached".
const GUARD = `
watch=$1; shift
"$@" & child=$!
trap 'kill -TERM $child 2>/dev/null; wait $child; exit 0' TERM INT HUP
while kill -0 $child 2>/dev/null; do
  if [ "$watch" != 0 ] && ! kill -0 "$watch" 2>/dev/null; then
    kill -TERM $child 2>/dev/null
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 $child 2>/dev/null || exit 0; sleep 0.5; done
    kill -KILL $child 2>/dev/null; exit 0
  fi
  sleep 1 & wait $!
done
wait $child
`;

/** A server process started under the guard. */
export interface GuardedProcess {
  readonly pid: number;
  readonly exited: Promise<number | null>;
  readonly child: ChildProcess;
}

/** Starts `command` with its output appended to `logFile`; it dies with `watchPid` unless that is 0. */
export function startGuarded(
  command: string,
  args: readonly string[],
  logFile: string,
  watchPid: number,
): GuardedProcess {
  const out = openSync(logFile, 'a');
  const child = spawn('bash', ['-c', GUARD, 'guard', String(watchPid), command, ...args], {
    stdio: ['ignore', out, out],
    detached: watchPid === 0,
  });
  if (watchPid === 0) child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { pid: child.pid, exited, child };
}

/** Whether a process exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Sends SIGTERM, waits up to `graceMs`, then SIGKILL. */
export async function terminate(pid: number, graceMs = 10_000): Promise<void> {
  if (!alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await sleep(100);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago, chosen at random below the kernel's ephemeral range.
 * A port from listen(0) lies inside that range, where every outgoing connection (kube-apiserver to etcd,
 * the tests' clients) also takes its source port: one of them could take it before the server it was
 * meant for binds it (etcd failed "bind: address already in use" that way). Below the range only other
 * listeners compete, and a random pick among thousands makes two callers' collision unlikely.
 */
export async function freePort(): Promise<number> {
  const ephemeralLow = Number(
    readFileSafe('/proc/sys/net/ipv4/ip_local_port_range')?.trim().split(/\s+/)[0] ?? EPHEMERAL_DEFAULT,
  );
  const high = Number.isInteger(ephemeralLow) && ephemeralLow > PORT_FLOOR + 1000 ? ephemeralLow : EPHEMERAL_DEFAULT;
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = PORT_FLOOR + randomInt(high - PORT_FLOOR);
    if (await canListen(port)) return port;
  }
  return listenAnywhere();
}

// Above the fixed ports of the node components (kubelet 10250, kube-proxy 10249/10256, kcm 10257, scheduler 10259).
const PORT_FLOOR = 20_000;
const EPHEMERAL_DEFAULT = 32_768;

function readFileSafe(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function listenAnywhere(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Resident memory of a process in MiB (Linux /proc). */
export function rssMiB(pid: number): number {
  return residentMiB(pid).total;
}

/**
 * Resident memory of a process in MiB, split as the kernel counts it (Linux /proc): `anon` is the
 * process's own memory (V8's heap, malloc, buffers), where a leak shows; `file` is pages of mapped files,
 * mostly the node executable's code, resident once first run and shared with every other node process.
 */
export function residentMiB(pid: number): { total: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n');
  const kib = (field: string) => {
    const line = status.find((l) => l.startsWith(`${field}:`));
    return line === undefined ? Number.NaN : Number(line.replace(/\D+/g, '')) / 1024;
  };
  return { total: kib('VmRSS'), anon: kib('RssAnon'), file: kib('RssFile') };
}

/** CPU seconds (user + system) a process has used (Linux /proc, 100 Hz ticks). */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds the whole machine has been busy (all cores, everything but idle and iowait; /proc/stat). */
export function machineBusySeconds(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
  // user nice system idle iowait irq softirq steal ...
  const busy = cpu.reduce((s, v, i) => (i === 3 || i === 4 ? s : s + v), 0);
  return busy / 100;
}

/** The live processes below `pid` (Linux /proc: each thread's children). */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const visit = (p: number) => {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const t of tasks) {
      let children = '';
      try {
        children = readFileSync(`/proc/${p}/task/${t}/children`, 'utf8');
      } catch {}
      for (const c of children.split(' ')) {
        if (c === '') continue;
        out.push(Number(c));
        visit(Number(c));
      }
    }
  };
  visit(pid);
  return out;
}

/**
 * CPU seconds of a process and everything below it: its own, its live descendants', and those of the
 * children it has reaped (a git server's CGI processes, for example).
 */
export function treeCpuSeconds(pid: number): number {
  let total = 0;
  for (const p of [pid, ...descendants(pid)]) {
    try {
      const f = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      total += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      // exited meanwhile: its parent's reaped-children time has it
    }
  }
  return total / 100;
}

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CodedError } from '@git-events-runner/shared';
import { stringify } from 'yaml';
import type { ApiServerNetwork, ControlPlane } from './control-plane.js';
import { kubeconfigYaml } from './control-plane.js';
import { loadCertificateAuthority } from './pki.js';
import { alive, freePort, type GuardedProcess, startGuarded, terminate } from './processes.js';
import { run } from './tools.js';

// A real node for the local control plane: kube-controller-manager and kube-scheduler on this host,
// containerd, kubelet and kube-proxy in a network namespace of the node's own, joined to this host by a
// veth link. Pods get addresses on a CNI bridge inside that namespace.
//
// Addresses come from 198.18.0.0/15 (RFC 2544, benchmarking; never routed on the Internet) so that
// nothing here looks like a real private network. Node k (1..99) uses
//   link      198.18.k.0/24        host end .1, node end .2
//   Services  198.18.(100+k).0/24  (ClusterIPs; kube-proxy in the node's namespace translates them)
//   Pods      198.19.k.0/24        (cni0 in the node's namespace is .1)
// The node's namespace has no default route and this host does not forward, so a packet for any other
// address (an unresolved ClusterIP, a Pod's DNS query to the host's resolver) is dropped, never sent out.
// This host routes the Pod and Service ranges into the node's namespace through the link, so the
// API server reaches admission webhooks in Pods and tests reach Pods; those routes go with the link.

/** Why a real node cannot run here; thrown by {@link nodeSupport} checks and {@link startNode}. */
export class NodeUnavailableError extends CodedError<'NODE_UNAVAILABLE'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NODE_UNAVAILABLE', message, options);
    this.name = 'NodeUnavailableError';
  }
}

/** The network of one node: a namespace, a link to this host, and the address ranges it owns. */
export interface NodeNetwork extends ApiServerNetwork {
  /** Index 1..99 that picks the address ranges and names. */
  readonly index: number;
  /** Network namespace name (`ip netns`). */
  readonly netns: string;
  /** The node's end of the link: the kubelet's InternalIP. */
  readonly nodeIp: string;
  readonly podCidr: string;
  /** Host end of the veth link (the node end is in the namespace). */
  readonly hostLink: string;
  /** Deletes the namespace (and with it the link and its routes). */
  remove(): Promise<void>;
}

/** A running node, registered and Ready. */
export interface RealNode {
  readonly name: string;
  readonly network: NodeNetwork;
  readonly dir: string;
  /** containerd's socket, for `ctr --address`. */
  readonly containerdSocket: string;
  /** Log files of each component, for a failing test to print. */
  readonly logs: Readonly<Record<string, string>>;
  /** Stops every component, kills what the Pods left, unmounts, and deletes cgroups and the namespace. */
  stop(): Promise<void>;
}

/** Options of {@link startNode}. */
export interface NodeOptions {
  /** Directory holding kubelet, kube-controller-manager, kube-scheduler, kube-proxy (e2e/tools/build.sh). */
  readonly binDir: string;
  /** Image archives to import into containerd before the node registers (e2e/src/images.ts). */
  readonly images?: Iterable<string>;
  /** The sandbox image containerd runs for every Pod (must be among `images`). */
  readonly sandboxImage?: string;
  readonly log?: (message: string) => void;
  /** Keep running after this process exits (`npm run dev` in the background). */
  readonly detached?: boolean;
}

const CNI_BIN = '/usr/lib/cni';
const need = {
  containerd: '/usr/bin/containerd',
  ctr: '/usr/bin/ctr',
  runc: '/usr/sbin/runc',
  nsenter: '/usr/bin/nsenter',
  ip: '/usr/sbin/ip',
  iptables: '/usr/sbin/iptables',
  conntrack: '/usr/sbin/conntrack',
  bridge: `${CNI_BIN}/bridge`,
} as const;

/**
 * Why this machine cannot run a node, or undefined when it can: root, the programs above, cgroups.
 * The Debian packages are containerd, runc, containernetworking-plugins, iptables, conntrack, iproute2.
 */
export function nodeSupport(binDir: string): string | undefined {
  if (process.platform !== 'linux') return `a node needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'a node needs root (containerd, network namespaces, cgroups)';
  for (const [what, path] of Object.entries(need)) {
    if (!existsSync(path))
      return `${what} is missing (${path}): install containerd runc containernetworking-plugins iptables conntrack iproute2`;
  }
  for (const bin of ['kubelet', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy']) {
    if (!existsSync(join(binDir, bin))) return `${bin} is not built in ${binDir} (npm run tools)`;
  }
  if (!existsSync('/sys/fs/cgroup/memory') && !existsSync('/sys/fs/cgroup/cgroup.controllers')) {
    return 'no cgroup file system at /sys/fs/cgroup';
  }
  return undefined;
}

/** cgroup v1 hierarchies mounted here (cgroup v2 would be the single unified one). */
function cgroupV1Hierarchies(): string[] {
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) return ['/sys/fs/cgroup'];
  const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n');
  return mounts
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'cgroup' && f[1]?.startsWith('/sys/fs/cgroup/'))
    .map((f) => f[1] as string);
}

async function sh(command: string, args: readonly string[]): Promise<string> {
  const r = await run(command, args);
  if (r.code !== 0)
    throw new NodeUnavailableError(`${command} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/**
 * Creates the network namespace and link of a new node, picking the first free index. The namespace
 * itself is the lock: `ip netns add` fails when another run has the name.
 */
export async function createNodeNetwork(options: { readonly detached?: boolean } = {}): Promise<NodeNetwork> {
  for (let index = 1; index < 100; index++) {
    const netns = `ger-node-${index}`;
    if ((await run(need.ip, ['netns', 'add', netns])).code !== 0) continue;
    const hostLink = `ger-h${index}`;
    const nodeLink = `ger-n${index}`;
    const hostIp = `198.18.${index}.1`;
    const nodeIp = `198.18.${index}.2`;
    const podCidr = `198.19.${index}.0/24`;
    const serviceCidr = `198.18.${100 + index}.0/24`;
    let watcher: number | undefined;
    const removeScript = 'ip link del "$1" 2>/dev/null; ip netns del "$2" 2>/dev/null; exit 0';
    const remove = async () => {
      await run('bash', ['-c', removeScript, 'ger-net', hostLink, netns]);
      if (watcher !== undefined) stopWatcher(watcher);
    };
    try {
      // A link left by a run that died before deleting it would make `ip link add` fail.
      await run(need.ip, ['link', 'del', hostLink]);
      const inNs = (args: readonly string[]) => sh(need.ip, ['-n', netns, ...args]);
      if (options.detached !== true)
        watcher ??= spawnWatcher(process.pid, ['bash', '-c', removeScript, 'ger-net', hostLink, netns]);
      await sh(need.ip, ['link', 'add', hostLink, 'type', 'veth', 'peer', 'name', nodeLink, 'netns', netns]);
      await sh(need.ip, ['addr', 'add', `${hostIp}/24`, 'dev', hostLink]);
      await sh(need.ip, ['link', 'set', hostLink, 'up']);
      await inNs(['addr', 'add', `${nodeIp}/24`, 'dev', nodeLink]);
      await inNs(['link', 'set', nodeLink, 'up']);
      await inNs(['link', 'set', 'lo', 'up']);
      await sh(need.ip, ['route', 'add', podCidr, 'via', nodeIp, 'dev', hostLink]);
      await sh(need.ip, ['route', 'add', serviceCidr, 'via', nodeIp, 'dev', hostLink]);
      // Per-namespace settings: the node forwards between its link and its Pods' bridge, and bridged
      // traffic goes through iptables so kube-proxy's rules apply between Pods on the same bridge.
      await sh(need.nsenter, [`--net=/run/netns/${netns}`, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
      await run(need.nsenter, [
        `--net=/run/netns/${netns}`,
        'sysctl',
        '-q',
        '-w',
        'net.bridge.bridge-nf-call-iptables=1',
      ]);
      return {
        index,
        netns,
        hostIp,
        nodeIp,
        podCidr,
        serviceCidr,
        serviceIp: `198.18.${100 + index}.1`,
        hostLink,
        remove,
      };
    } catch (err: unknown) {
      await remove();
      throw err;
    }
  }
  throw new NodeUnavailableError('no free node network: ger-node-1 .. ger-node-99 all exist (ip netns list)');
}

// Kills and removes everything a node leaves behind. Also run by the watcher when the test process dies,
// so it must not depend on Node: processes in the node's namespace (containerd, its shims, kubelet,
// kube-proxy), then every process in the node's cgroups (the containers), then mounts under its
// directory, cgroups, and the directory. The network is the caller's: the control plane listens on it.
const CLEANUP = `#!/usr/bin/env bash
set -u
netns=$1 dir=$2 cgroup=$3
for pid in $(ip netns pids "$netns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
for _ in 1 2 3 4 5 6 7 8 9 10; do
  left=0
  for h in /sys/fs/cgroup/*/; do
    [ -d "$h$cgroup" ] || continue
    while read -r f; do
      while read -r pid; do [ -n "$pid" ] && { kill -KILL "$pid" 2>/dev/null; left=1; }; done < "$f"
    done < <(find "$h$cgroup" -name cgroup.procs 2>/dev/null)
  done
  [ "$left" = 0 ] && break
  sleep 0.3
done
awk -v d="$dir" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
  umount -l "$m" 2>/dev/null
done
for h in /sys/fs/cgroup/*/; do
  [ -d "$h$cgroup" ] && find "$h$cgroup" -depth -type d -exec rmdir {} \\; 2>/dev/null
done
rm -rf "$dir"
exit 0
`;

const WATCH = `
watch=$1; shift
while kill -0 "$watch" 2>/dev/null; do sleep 1; done
exec "$@"
`;

/** Runs `command` once process `watch` is gone, even if that dies by SIGKILL (own session). */
function spawnWatcher(watch: number, command: readonly string[]): number | undefined {
  const child = spawn('bash', ['-c', WATCH, 'ger-watch', String(watch), ...command], {
    stdio: 'ignore',
    detached: true,
  });
  child.unref();
  return child.pid;
}

function stopWatcher(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function containerdConfig(dir: string, socket: string, sandboxImage: string): string {
  // Only what the node needs: CRI with runc (cgroupfs: this machine has no systemd), overlayfs, CNI from
  // Debian's plugins, the Pods' network namespaces under the state directory (so cleanup finds them).
  // No registry is reachable: images come from `ctr images import`, and a pull fails at once.
  return `version = 2
root = "${dir}/containerd/root"
state = "${dir}/containerd/state"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "${socket}"

[ttrpc]
  address = "${socket}.ttrpc"

[debug]
  level = "warn"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${sandboxImage}"
  netns_mounts_under_state_dir = true
  # This machine withholds CAP_SYS_RESOURCE even from root, so no process may lower its OOM score
  # below its parent's: the kubelet's -998 for sandboxes would fail every Pod. Keep scores >= ours.
  restrict_oom_score_adj = true
  enable_unprivileged_ports = true
  enable_unprivileged_icmp = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "${need.runc}"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${CNI_BIN}"
    conf_dir = "${dir}/cni/net.d"
`;
}

function cniConfig(network: NodeNetwork, dir: string): string {
  return JSON.stringify(
    {
      cniVersion: '0.4.0',
      name: network.netns,
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          ipMasq: true,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            // host-local keeps its leases under /var/lib/cni by default, shared by every node here.
            dataDir: join(dir, 'cni', 'ipam'),
            ranges: [[{ subnet: network.podCidr }]],
            routes: [{ dst: '0.0.0.0/0' }],
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}

async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  proc: GuardedProcess | undefined,
  log: string,
  timeoutMs: number,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if ((proc !== undefined && !alive(proc.pid)) || Date.now() > deadline) {
      let tail = '';
      try {
        tail = (await readFile(log, 'utf8')).split('\n').slice(-40).join('\n');
      } catch {}
      throw new NodeUnavailableError(`${what} did not come up\n--- ${log}\n${tail}`);
    }
    await sleep(250);
  }
}

/**
 * Starts a node for a control plane started with `network` (see {@link createNodeNetwork}): the
 * controllers and scheduler on this host, containerd, kubelet and kube-proxy in the node's namespace,
 * imports the images, and waits until the Node is Ready. Everything stops when this process dies.
 */
export async function startNode(plane: ControlPlane, network: NodeNetwork, options: NodeOptions): Promise<RealNode> {
  const log = options.log ?? (() => {});
  const why = nodeSupport(options.binDir);
  if (why !== undefined) throw new NodeUnavailableError(why);
  const name = `ger-node-${network.index}`;
  const dir = join(plane.dir, 'node');
  const cgroup = `ger-node-${network.index}`;
  const watch = options.detached === true ? 0 : process.pid;
  const socket = join(dir, 'containerd.sock');
  const sandboxImage = options.sandboxImage ?? 'registry.k8s.io/pause:3.10.1';
  const logs = {
    'kube-controller-manager': join(dir, 'kube-controller-manager.log'),
    'kube-scheduler': join(dir, 'kube-scheduler.log'),
    containerd: join(dir, 'containerd.log'),
    kubelet: join(dir, 'kubelet.log'),
    'kube-proxy': join(dir, 'kube-proxy.log'),
  };
  await mkdir(join(dir, 'cni', 'net.d'), { recursive: true });
  await mkdir(join(dir, 'pki'), { recursive: true });
  const cleanupScript = join(plane.dir, 'node-cleanup.sh');
  await writeFile(cleanupScript, CLEANUP);
  await chmod(cleanupScript, 0o755);
  const cleanupArgs = [cleanupScript, network.netns, dir, cgroup];
  // The watcher outlives a SIGKILLed test process (own session), then removes what the node left.
  let watcher: number | undefined;
  if (watch !== 0) {
    watcher = spawnWatcher(watch, cleanupArgs);
  }
  const procs: GuardedProcess[] = [];
  let kubeletProcess: GuardedProcess | undefined;
  const stop = async () => {
    // Pods go with the cleanup (SIGKILL by cgroup); what matters is that the kubelet does not restart
    // them meanwhile, so it stops first, then the rest together.
    if (kubeletProcess !== undefined) await terminate(kubeletProcess.pid, 5000);
    await Promise.all(procs.map((p) => terminate(p.pid, 5000)));
    await run('bash', cleanupArgs);
    // Cleaned up: the watcher must not run it again later, when the index may be another run's.
    if (watcher !== undefined) stopWatcher(watcher);
  };
  try {
    const pki = (n: string) => join(plane.dir, 'pki', n);
    const ca = await loadCertificateAuthority({
      cert: await readFile(pki('ca.crt'), 'utf8'),
      key: await readFile(pki('ca.key'), 'utf8'),
    });
    const kubeconfig = async (file: string, user: string, groups: readonly string[] = []) => {
      const path = join(dir, file);
      await writeFile(path, kubeconfigYaml(plane.server, ca.cert, user, await ca.client(user, groups)), {
        mode: 0o600,
      });
      return path;
    };
    const kcm = await kubeconfig('controller-manager.kubeconfig', 'system:kube-controller-manager');
    const scheduler = await kubeconfig('scheduler.kubeconfig', 'system:kube-scheduler');
    const kubelet = await kubeconfig('kubelet.kubeconfig', `system:node:${name}`, ['system:nodes']);
    const proxy = await kubeconfig('kube-proxy.kubeconfig', 'system:kube-proxy');
    const serving = await ca.server(name, [name, 'localhost'], [network.nodeIp]);
    await writeFile(join(dir, 'pki', 'kubelet.crt'), serving.cert);
    await writeFile(join(dir, 'pki', 'kubelet.key'), serving.key, { mode: 0o600 });

    // The kubelet wants its cgroup root to exist in every hierarchy; cpuset children start empty in v1.
    for (const h of cgroupV1Hierarchies()) {
      const path = join(h, cgroup);
      await mkdir(path, { recursive: true });
      if (h.endsWith('/cpuset') || h.endsWith(',cpuset')) {
        for (const f of ['cpuset.cpus', 'cpuset.mems']) {
          await writeFile(join(path, f), (await readFile(join(h, f), 'utf8')).trim());
        }
      }
    }

    const bin = (n: string) => join(options.binDir, n);
    const inNode = (command: string, args: readonly string[], logFile: string) =>
      startGuarded(need.nsenter, [`--net=/run/netns/${network.netns}`, '--', command, ...args], logFile, watch);

    log('starting kube-controller-manager and kube-scheduler');
    procs.push(
      startGuarded(
        bin('kube-controller-manager'),
        [
          `--kubeconfig=${kcm}`,
          `--authentication-kubeconfig=${kcm}`,
          `--authorization-kubeconfig=${kcm}`,
          `--service-account-private-key-file=${pki('sa.key')}`,
          `--root-ca-file=${pki('ca.crt')}`,
          `--cluster-signing-cert-file=${pki('ca.crt')}`,
          `--cluster-signing-key-file=${pki('ca.key')}`,
          '--use-service-account-credentials=true',
          '--leader-elect=false',
          '--bind-address=127.0.0.1',
          `--secure-port=${await freePort()}`,
          `--cluster-cidr=${network.podCidr}`,
          `--service-cluster-ip-range=${network.serviceCidr}`,
          '--allocate-node-cidrs=false',
          // Finished Pods are collected soon, as a busy cluster would; the default waits for 12,500.
          '--terminated-pod-gc-threshold=1000',
          '--v=1',
        ],
        logs['kube-controller-manager'],
        watch,
      ),
    );
    procs.push(
      startGuarded(
        bin('kube-scheduler'),
        [
          `--kubeconfig=${scheduler}`,
          `--authentication-kubeconfig=${scheduler}`,
          `--authorization-kubeconfig=${scheduler}`,
          '--leader-elect=false',
          '--bind-address=127.0.0.1',
          `--secure-port=${await freePort()}`,
          '--v=1',
        ],
        logs['kube-scheduler'],
        watch,
      ),
    );

    log(`starting containerd in ${network.netns}`);
    const config = join(dir, 'containerd.toml');
    await writeFile(config, containerdConfig(dir, socket, sandboxImage));
    const containerd = inNode(need.containerd, ['--config', config], logs.containerd);
    procs.push(containerd);
    const ctr = (args: readonly string[]) => run(need.ctr, ['--address', socket, '--namespace', 'k8s.io', ...args]);
    await waitFor('containerd', async () => (await ctr(['version'])).code === 0, containerd, logs.containerd, 30_000);
    for (const archive of options.images ?? []) {
      const started = Date.now();
      const r = await ctr(['images', 'import', '--no-unpack=false', archive]);
      if (r.code !== 0) throw new NodeUnavailableError(`ctr images import ${archive} failed: ${r.stderr.trim()}`);
      log(`imported ${archive} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
    await writeFile(join(dir, 'cni', 'net.d', '10-ger.conflist'), cniConfig(network, dir));

    const resolv = join(dir, 'resolv.conf');
    // Pods get no resolver that leads anywhere: nothing here is reached by name, and a query must not
    // leave the machine. (No cluster DNS runs; Services are reached through their ClusterIP variables.)
    await writeFile(resolv, 'nameserver 127.0.0.1\noptions attempts:1 timeout:1\n');
    const kubeletConfig = join(dir, 'kubelet.yaml');
    await writeFile(
      kubeletConfig,
      stringify({
        apiVersion: 'kubelet.config.k8s.io/v1beta1',
        kind: 'KubeletConfiguration',
        // This machine has cgroup v1 only, which kubelet 1.35 refuses unless told.
        failCgroupV1: false,
        cgroupDriver: 'cgroupfs',
        cgroupRoot: `/${cgroup}`,
        containerRuntimeEndpoint: `unix://${socket}`,
        address: network.nodeIp,
        port: 10250,
        readOnlyPort: 0,
        healthzBindAddress: '127.0.0.1',
        healthzPort: 10248,
        tlsCertFile: join(dir, 'pki', 'kubelet.crt'),
        tlsPrivateKeyFile: join(dir, 'pki', 'kubelet.key'),
        authentication: {
          anonymous: { enabled: false },
          webhook: { enabled: false },
          x509: { clientCAFile: pki('ca.crt') },
        },
        // Only clients with a certificate of the cluster's CA (kube-apiserver) get in at all.
        authorization: { mode: 'AlwaysAllow' },
        resolvConf: resolv,
        failSwapOn: false,
        // The disk may be nearly full on a shared machine: evict only when it is really full, and never
        // collect images (they cannot be pulled again here).
        evictionHard: {
          'memory.available': '100Mi',
          'nodefs.available': '1%',
          'imagefs.available': '1%',
          'nodefs.inodesFree': '1%',
        },
        imageGCHighThresholdPercent: 100,
        imageGCLowThresholdPercent: 99,
        serializeImagePulls: false,
        volumePluginDir: join(dir, 'volume-plugins'),
        // Not /var/log/pods, which every node here would share and none would clean.
        podLogsDir: join(dir, 'pod-logs'),
        maxPods: 110,
        hairpinMode: 'hairpin-veth',
        clusterDomain: 'cluster.local',
        enforceNodeAllocatable: ['pods'],
        // Status every few seconds, so tests see Pods and Jobs change soon.
        nodeStatusUpdateFrequency: '5s',
        syncFrequency: '10s',
      }),
    );
    log(`starting kubelet in ${network.netns}`);
    const kubeletProc = inNode(
      bin('kubelet'),
      [
        `--config=${kubeletConfig}`,
        `--kubeconfig=${kubelet}`,
        `--root-dir=${join(dir, 'kubelet')}`,
        `--cert-dir=${join(dir, 'pki')}`,
        `--hostname-override=${name}`,
        `--node-ip=${network.nodeIp}`,
        '--v=1',
      ],
      logs.kubelet,
    );
    procs.push(kubeletProc);
    kubeletProcess = kubeletProc;

    const proxyConfig = join(dir, 'kube-proxy.yaml');
    await writeFile(
      proxyConfig,
      stringify({
        apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
        kind: 'KubeProxyConfiguration',
        clientConnection: { kubeconfig: proxy },
        hostnameOverride: name,
        mode: 'iptables',
        clusterCIDR: network.podCidr,
        // 0: leave the machine-wide conntrack table size alone (it is not per namespace).
        conntrack: { maxPerCore: 0, min: 0 },
        healthzBindAddress: '127.0.0.1:10256',
        metricsBindAddress: '127.0.0.1:10249',
      }),
    );
    log(`starting kube-proxy in ${network.netns}`);
    procs.push(inNode(bin('kube-proxy'), [`--config=${proxyConfig}`, '--v=1'], logs['kube-proxy']));

    const kubectl = (args: readonly string[]) =>
      run(join(plane.binDir, 'kubectl'), ['--kubeconfig', plane.kubeconfig, ...args]);
    await waitFor(
      `node ${name} Ready`,
      async () => {
        const r = await kubectl([
          'get',
          'node',
          name,
          '-o',
          'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
        ]);
        return r.stdout.trim() === 'True';
      },
      kubeletProc,
      logs.kubelet,
      120_000,
    );
    // Pods need the namespace's default service account, which kube-controller-manager creates.
    await waitFor(
      'service account default/default',
      async () => (await kubectl(['get', 'serviceaccount', 'default', '-n', 'default'])).code === 0,
      procs[0],
      logs['kube-controller-manager'],
      60_000,
    );
    log(`node ${name} Ready (${network.nodeIp}, Pods ${network.podCidr})`);
    return { name, network, dir, containerdSocket: socket, logs, stop };
  } catch (err: unknown) {
    await stop();
    throw err;
  }
}

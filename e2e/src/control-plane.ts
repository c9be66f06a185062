import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { createCertificateAuthority, createServiceAccountKeys, type KeyPair, loadCertificateAuthority } from './pki.js';
import { alive, freePort, startGuarded, terminate } from './processes.js';

/** How to start a control plane. */
export interface ControlPlaneOptions {
  /** Directory holding etcd, kube-apiserver (see e2e/tools/build.sh). */
  readonly binDir: string;
  /** State directory; a new temporary one by default. Removed by stop(). */
  readonly dir?: string;
  /** Keep running after this process exits (the `cluster:up` command). */
  readonly detached?: boolean;
  /** Progress messages. */
  readonly log?: (message: string) => void;
  /** More kube-apiserver flags (a benchmark's audit log, say), after the harness's own. */
  readonly apiServerArgs?: readonly string[];
  /**
   * Serve a real node (e2e/src/node.ts) instead of loopback only: kube-apiserver listens on the host end
   * of the node's link, so Pods reach it through the `kubernetes` Service, and runs the admission and
   * authorization a node needs (ServiceAccount, NodeRestriction, the Node authorizer).
   */
  readonly network?: ApiServerNetwork;
}

/** Where kube-apiserver listens and which Service range it hands out when it serves a node. */
export interface ApiServerNetwork {
  /** Address on this host that the node's Pods can reach (the host end of its veth link). */
  readonly hostIp: string;
  /** The Service CIDR; its first address is the `kubernetes` Service. */
  readonly serviceCidr: string;
  /** The first address of serviceCidr. */
  readonly serviceIp: string;
}

/** What a running control plane exposes, and what `state.json` records. */
export interface ControlPlaneState {
  readonly dir: string;
  readonly server: string;
  /** Admin kubeconfig (group system:masters). */
  readonly kubeconfig: string;
  readonly binDir: string;
  readonly pids: readonly number[];
  /** Set when the control plane serves a node. */
  readonly network?: ApiServerNetwork;
}

/** A running etcd + kube-apiserver pair. */
export interface ControlPlane extends ControlPlaneState {
  /** Writes a kubeconfig for a user with the given groups (client certificate) and returns its path. */
  mintKubeconfig(user: string, groups?: readonly string[]): Promise<string>;
  /** Stops both servers and removes the state directory. */
  stop(): Promise<void>;
  /**
   * Stops kube-apiserver only (etcd keeps the data), for outage tests; startApiServer() brings it back on
   * the same address. Only for a control plane started by this process.
   */
  stopApiServer(): Promise<void>;
  /** Starts kube-apiserver again after stopApiServer() and waits until it is ready. */
  startApiServer(): Promise<void>;
}

const STATE = 'state.json';

/** Renders a kubeconfig for a client certificate. */
export function kubeconfigYaml(
  server: string,
  caPem: string,
  user: string,
  pair: KeyPair,
  namespace = 'default',
): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'local', cluster: { server, 'certificate-authority-data': b64(caPem) } }],
    users: [{ name: user, user: { 'client-certificate-data': b64(pair.cert), 'client-key-data': b64(pair.key) } }],
    contexts: [{ name: user, context: { cluster: 'local', user, namespace } }],
    'current-context': user,
  });
}

async function readyz(server: string, ca: string, pair: KeyPair): Promise<number> {
  return new Promise((resolve) => {
    const req = request(`${server}/readyz`, { ca, cert: pair.cert, key: pair.key, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

async function tail(file: string, lines = 30): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Starts etcd and kube-apiserver on free loopback ports with fresh certificates, RBAC on. */
export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const log = options.log ?? (() => {});
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'ger-cp-')));
  await mkdir(join(dir, 'pki'), { recursive: true });
  const watch = options.detached === true ? 0 : process.pid;
  const pids: number[] = [];
  try {
    const ca = await createCertificateAuthority('git-events-runner-local-ca');
    const net = options.network;
    const serving = await ca.server(
      'kube-apiserver',
      [
        'localhost',
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        'kubernetes.default.svc.cluster.local',
      ],
      net === undefined ? ['127.0.0.1', '10.0.0.1'] : ['127.0.0.1', net.hostIp, net.serviceIp],
    );
    const admin = await ca.client('admin', ['system:masters']);
    // kube-apiserver's client certificate towards kubelets (logs, exec); the kubelet trusts this CA.
    const kubeletClient = await ca.client('kube-apiserver-kubelet-client', ['system:masters']);
    const sa = await createServiceAccountKeys();
    const pki = (name: string) => join(dir, 'pki', name);
    await Promise.all([
      writeFile(pki('ca.crt'), ca.cert),
      writeFile(pki('ca.key'), ca.key, { mode: 0o600 }),
      writeFile(pki('apiserver.crt'), serving.cert),
      writeFile(pki('apiserver.key'), serving.key, { mode: 0o600 }),
      writeFile(pki('sa.key'), sa.privateKey, { mode: 0o600 }),
      writeFile(pki('sa.pub'), sa.publicKey),
      writeFile(pki('apiserver-kubelet-client.crt'), kubeletClient.cert),
      writeFile(pki('apiserver-kubelet-client.key'), kubeletClient.key, { mode: 0o600 }),
    ]);

    const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
    log(`starting etcd on 127.0.0.1:${etcdClient}`);
    const etcd = startGuarded(
      join(options.binDir, 'etcd'),
      [
        '--name=default',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
        '--unsafe-no-fsync=true',
        '--log-level=warn',
      ],
      join(dir, 'etcd.log'),
      watch,
    );
    pids.push(etcd.pid);

    const server = `https://${net?.hostIp ?? '127.0.0.1'}:${apiPort}`;
    // Without a node nothing creates service accounts or publishes endpoints, so those stay off; with
    // one, the API server behaves as in a real cluster. Aggregator routing makes it dial a webhook
    // Service's endpoints (Pod addresses, routed to the node) instead of its ClusterIP, which only the
    // node's kube-proxy knows: a ClusterIP dialled from this host would follow the default route out.
    const networkArgs =
      net === undefined
        ? [
            '--bind-address=127.0.0.1',
            '--advertise-address=127.0.0.1',
            '--service-cluster-ip-range=10.0.0.0/24',
            '--authorization-mode=RBAC',
            '--disable-admission-plugins=ServiceAccount',
            '--endpoint-reconciler-type=none',
          ]
        : [
            `--bind-address=${net.hostIp}`,
            `--advertise-address=${net.hostIp}`,
            `--service-cluster-ip-range=${net.serviceCidr}`,
            '--authorization-mode=Node,RBAC',
            '--enable-admission-plugins=NodeRestriction',
            '--enable-aggregator-routing=true',
            `--kubelet-client-certificate=${pki('apiserver-kubelet-client.crt')}`,
            `--kubelet-client-key=${pki('apiserver-kubelet-client.key')}`,
            `--kubelet-certificate-authority=${pki('ca.crt')}`,
            '--kubelet-preferred-address-types=InternalIP',
          ];
    log(`starting kube-apiserver on ${server}`);
    const startApiServer = async (): Promise<number> => {
      const apiserver = startGuarded(
        join(options.binDir, 'kube-apiserver'),
        [
          `--etcd-servers=http://127.0.0.1:${etcdClient}`,
          `--cert-dir=${join(dir, 'pki')}`,
          `--tls-cert-file=${pki('apiserver.crt')}`,
          `--tls-private-key-file=${pki('apiserver.key')}`,
          `--client-ca-file=${pki('ca.crt')}`,
          `--secure-port=${apiPort}`,
          ...networkArgs,
          '--service-account-issuer=https://kubernetes.default.svc',
          `--service-account-key-file=${pki('sa.pub')}`,
          `--service-account-signing-key-file=${pki('sa.key')}`,
          '--allow-privileged=true',
          '--v=0',
          ...(options.apiServerArgs ?? []),
        ],
        join(dir, 'kube-apiserver.log'),
        watch,
      );
      const deadline = Date.now() + 120_000;
      for (;;) {
        if ((await readyz(server, ca.cert, admin)) === 200) return apiserver.pid;
        if (!alive(apiserver.pid) || !alive(etcd.pid) || Date.now() > deadline) {
          throw new Error(
            `kube-apiserver did not become ready\n--- kube-apiserver.log\n${await tail(join(dir, 'kube-apiserver.log'))}\n--- etcd.log\n${await tail(join(dir, 'etcd.log'))}`,
          );
        }
        await sleep(250);
      }
    };
    pids.push(await startApiServer());

    const kubeconfig = join(dir, 'admin.kubeconfig');
    await writeFile(kubeconfig, kubeconfigYaml(server, ca.cert, 'admin', admin), { mode: 0o600 });
    const state: ControlPlaneState = {
      dir,
      server,
      kubeconfig,
      binDir: options.binDir,
      pids,
      ...(net && { network: net }),
    };
    await writeFile(join(dir, STATE), JSON.stringify(state, null, 2));
    log(`control plane ready at ${server}`);
    const restart = {
      stopApiServer: async () => {
        const pid = pids[1];
        if (pid !== undefined) await terminate(pid);
      },
      startApiServer: async () => {
        pids[1] = await startApiServer();
        await writeFile(join(dir, STATE), JSON.stringify({ ...state, pids }, null, 2));
      },
    };
    return handle({ ...state, pids }, restart);
  } catch (err: unknown) {
    await Promise.all(pids.map((pid) => terminate(pid)));
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

function handle(
  state: ControlPlaneState,
  restart?: Pick<ControlPlane, 'stopApiServer' | 'startApiServer'>,
): ControlPlane {
  const notHere = async () => {
    throw new Error('kube-apiserver can be restarted only by the process that started the control plane');
  };
  return {
    ...state,
    stopApiServer: restart?.stopApiServer ?? notHere,
    startApiServer: restart?.startApiServer ?? notHere,
    mintKubeconfig: (user, groups = []) => mintKubeconfig(state.dir, user, groups),
    stop: async () => {
      // apiserver first, so it does not log etcd connection errors while stopping.
      // (pids is read at stop time: a restarted kube-apiserver has a new one.)
      for (const pid of [...state.pids].reverse()) await terminate(pid);
      await rm(state.dir, { recursive: true, force: true });
    },
  };
}

/** Re-attaches to a control plane started by another process (the CLI, or the test runner). */
export async function attachControlPlane(dir: string): Promise<ControlPlane> {
  const state = JSON.parse(await readFile(join(dir, STATE), 'utf8')) as ControlPlaneState;
  return handle(state);
}

/** Writes `<dir>/users/<user>.kubeconfig` for a user authenticated by a client certificate. */
export async function mintKubeconfig(dir: string, user: string, groups: readonly string[] = []): Promise<string> {
  const state = JSON.parse(await readFile(join(dir, STATE), 'utf8')) as ControlPlaneState;
  const ca = await loadCertificateAuthority({
    cert: await readFile(join(dir, 'pki', 'ca.crt'), 'utf8'),
    key: await readFile(join(dir, 'pki', 'ca.key'), 'utf8'),
  });
  const pair = await ca.client(user, groups);
  await mkdir(join(dir, 'users'), { recursive: true });
  const file = join(dir, 'users', `${user.replaceAll(/[^A-Za-z0-9_.-]/g, '_')}.kubeconfig`);
  await writeFile(file, kubeconfigYaml(state.server, ca.cert, user, pair), { mode: 0o600 });
  return file;
}

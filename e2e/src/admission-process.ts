import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { API_VERSION } from '@git-events-runner/shared';
import { stringify } from 'yaml';
import { mintKubeconfig } from './control-plane.js';
import { kubectl, kubectlOk } from './kube.js';
import { type CertificateAuthority, createCertificateAuthority } from './pki.js';
import { freePort } from './processes.js';
import { repoRoot, run } from './tools.js';

/** A control plane to register the webhooks with: its tools and an admin kubeconfig. */
export interface AdmissionCluster {
  readonly binDir: string;
  readonly kubeconfig: string;
}

/** A `git-events-admission serve` child process on 127.0.0.1 with a certificate of its own CA. */
export interface AdmissionProcess {
  readonly child: ChildProcess;
  readonly port: number;
  /** `https://127.0.0.1:<port>`. */
  readonly url: string;
  /** The CA that signed the serving certificate (PEM). */
  readonly ca: CertificateAuthority;
  /** Files the server reads: rewrite them to rotate the certificate. */
  readonly certPath: string;
  readonly keyPath: string;
  /** Everything it logged so far (JSON lines). */
  logs(): string;
  /** A request over TLS trusting `ca` (default: the server's CA): status code and body, 0 when unreachable. */
  request(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    ca?: string,
  ): Promise<{ status: number; body: string; error?: string }>;
  /**
   * Applies the webhook configurations printed by `git-events-admission manifests --url <url>` to a cluster
   * and waits until kube-apiserver calls both webhooks. Only for a control plane of the test file's own
   * (isolatedCluster): the webhooks fail closed, so they break every other user of the cluster once the
   * server stops.
   */
  register(cluster: AdmissionCluster): Promise<void>;
  /** Deletes the webhook configurations from a cluster. */
  unregister(cluster: AdmissionCluster): Promise<void>;
  /** Sends a signal and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** How to start the server. */
export interface AdmissionProcessOptions {
  /** The credentials the server uses for SubjectAccessReviews and lookups (see mintAdmissionKubeconfig()). */
  readonly kubeconfig: string;
  /** Policy file contents (YAML), passed with --config. */
  readonly policy?: string;
  /** More flags for `serve`. */
  readonly args?: readonly string[];
}

/** The CLI of the built admission server. */
export function admissionCli(): string {
  return join(repoRoot(), 'admission', 'dist', 'src', 'cli.js');
}

function httpsRequest(
  port: number,
  method: string,
  path: string,
  ca: string,
  body: unknown,
): Promise<{ status: number; body: string; error?: string }> {
  return new Promise((resolve) => {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        ca,
        timeout: 5000,
        agent: false,
        headers: payload === undefined ? {} : { 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ status: 0, body: '', error: err.code ?? err.message }));
    req.on('timeout', () => req.destroy());
    req.end(payload);
  });
}

/**
 * Grants a client-certificate user exactly the RBAC the admission server needs (create
 * SubjectAccessReviews; get, list, watch the six kinds) and returns a kubeconfig for it. `cluster` must
 * be a control plane started by control-plane.ts (its admin kubeconfig sits in its state directory).
 */
export async function mintAdmissionKubeconfig(
  cluster: AdmissionCluster,
  user = 'git-events-admission',
): Promise<string> {
  const [group] = API_VERSION.split('/');
  const rbac = [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: user },
      rules: [
        { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
        {
          apiGroups: [group],
          resources: [
            'gitrepos',
            'clustergitrepos',
            'scheduletriggers',
            'webhooktriggers',
            'actions',
            'clusteractions',
          ],
          verbs: ['get', 'list', 'watch'],
        },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: user },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: user },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
    },
  ];
  await kubectlOk(
    cluster.binDir,
    cluster.kubeconfig,
    ['apply', '-f', '-'],
    rbac.map((d) => stringify(d)).join('---\n'),
  );
  return mintKubeconfig(dirname(cluster.kubeconfig), user);
}

/**
 * Starts the built `git-events-admission serve` on a free loopback port with a fresh CA and serving
 * certificate; resolves once /healthz answers. Stopped (and its files removed) at the end of the test.
 */
export async function startAdmissionProcess(
  t: { teardown(fn: () => Promise<void>): void },
  options: AdmissionProcessOptions,
): Promise<AdmissionProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'ger-admission-'));
  const ca = await createCertificateAuthority('git-events-admission test CA');
  const pair = await ca.server('git-events-admission', ['localhost'], ['127.0.0.1']);
  const certPath = join(dir, 'tls.crt');
  const keyPath = join(dir, 'tls.key');
  const caPath = join(dir, 'ca.crt');
  await Promise.all([
    writeFile(certPath, pair.cert),
    writeFile(keyPath, pair.key, { mode: 0o600 }),
    writeFile(caPath, ca.cert),
  ]);
  const configArgs: string[] = [];
  if (options.policy !== undefined) {
    await writeFile(join(dir, 'policy.yaml'), options.policy);
    configArgs.push('--config', join(dir, 'policy.yaml'));
  }
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      admissionCli(),
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--tls-cert-path',
      certPath,
      '--tls-key-path',
      keyPath,
      ...configArgs,
      ...(options.args ?? []),
    ],
    { env: { ...process.env, KUBECONFIG: options.kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let logs = '';
  const collect = (d: string) => {
    logs += d;
  };
  child.stdout?.setEncoding('utf8').on('data', collect);
  child.stderr?.setEncoding('utf8').on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `https://127.0.0.1:${port}`;
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill(signal);
    return exited;
  };
  t.teardown(async () => {
    await stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  const manifests = async () => {
    const out = await run(process.execPath, [admissionCli(), 'manifests', '--url', url, '--ca-bundle-file', caPath]);
    if (out.code !== 0) throw new Error(`git-events-admission manifests failed: ${out.stderr}`);
    return out.stdout;
  };

  const handle: AdmissionProcess = {
    child,
    port,
    url,
    ca,
    certPath,
    keyPath,
    logs: () => logs,
    request: (method, path, body, trust = ca.cert) => httpsRequest(port, method, path, trust, body),
    stop,
    register: async (cluster) => {
      await kubectlOk(cluster.binDir, cluster.kubeconfig, ['apply', '-f', '-'], await manifests());
      await waitForWebhooks(cluster);
    },
    unregister: async (cluster) => {
      await kubectlOk(
        cluster.binDir,
        cluster.kubeconfig,
        ['delete', '--ignore-not-found', '-f', '-'],
        await manifests(),
      );
    },
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if ((await handle.request('GET', '/healthz')).status === 200) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`admission server did not start:\n${logs.slice(-3000)}`);
    }
    await sleep(100);
  }
  return handle;
}

// kube-apiserver picks webhook configurations up through a watch: probe with server-side dry runs (which
// call webhooks that declare sideEffects None) until both answer.
async function waitForWebhooks(cluster: AdmissionCluster): Promise<void> {
  const probe = (kind: string, spec: unknown) =>
    stringify({ apiVersion: API_VERSION, kind, metadata: { name: 'admission-probe', namespace: 'default' }, spec });
  const deadline = Date.now() + 20_000;
  let last = '';
  while (Date.now() < deadline) {
    const validating = await kubectl(
      cluster.binDir,
      cluster.kubeconfig,
      ['create', '--dry-run=server', '-f', '-'],
      probe('GitRepo', {
        repoUri: 'https://git.example.com/probe.git',
        authConfig: { type: 'token', secretRef: { name: 'probe', namespace: 'elsewhere' } },
      }),
    );
    const mutating = await kubectl(
      cluster.binDir,
      cluster.kubeconfig,
      ['create', '--dry-run=server', '-o', 'jsonpath={.spec.schedule.interval}', '-f', '-'],
      probe('ScheduleTrigger', {
        sources: { names: ['probe'] },
        schedule: { interval: '86400s' },
        action: { kind: 'Action', name: 'probe' },
      }),
    );
    if (validating.stderr.includes('validate.git-events-runner.rs') && mutating.stdout === '1d') return;
    last = `${validating.stderr.trim()} | ${mutating.stdout}${mutating.stderr.trim()}`;
    await sleep(200);
  }
  throw new Error(`the admission webhooks did not take effect: ${last}`);
}

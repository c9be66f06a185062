import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type GitDaemon, startGitDaemon } from './git-daemon.js';
import { createGitFixtures, type GitFixtures } from './git-fixtures.js';
import { type GitHttpServer, type HttpAuth, startGitHttpServer } from './git-http.js';
import { processesGone } from './git-process.js';
import { type GitSshServer, startGitSshServer } from './git-ssh.js';
import { type CertificateAuthority, createCertificateAuthority } from './pki.js';

// Every kind of git server the git access tests need, over one directory of bare repositories:
// smart HTTP and HTTPS (git-http-backend), SSH (OpenSSH sshd), git:// (git daemon), all on 127.0.0.1.

export { type GitDaemon, type GitDaemonOptions, startGitDaemon } from './git-daemon.js';
export {
  type CommitOptions,
  createGitFixtures,
  FIXTURE_IDENTITY,
  type FileContent,
  type GitFixtures,
  type GitResult,
  gitEnv,
  type RunGitOptions,
  runGit,
  runGitOk,
  type TagIds,
} from './git-fixtures.js';
export {
  type BasicCredentials,
  type GarbageServerOptions,
  type GitHttpRequestRecord,
  type GitHttpServer,
  type GitHttpServerOptions,
  type GitHttpStats,
  type HostileServer,
  type HttpAuth,
  startGarbageServer,
  startGitHttpServer,
  startHangingServer,
} from './git-http.js';
export { processesGone } from './git-process.js';
export {
  type GitSshServer,
  type GitSshServerOptions,
  type SshClientKey,
  type SshClientKeys,
  startGitSshServer,
} from './git-ssh.js';

/** Options of {@link startGitServers}. */
export interface GitServersOptions {
  /** Working directory (repositories in `<dir>/repos`); default a new temporary directory removed by stop. */
  readonly dir?: string;
  /** Credentials the HTTP and HTTPS servers require for private repositories (default: none). */
  readonly auth?: HttpAuth;
  /** Repositories served over HTTP(S) without credentials even when `auth` is set. */
  readonly publicRepos?: readonly string[];
  /** The CA that signs the HTTPS certificate (default: a new one). */
  readonly ca?: CertificateAuthority;
  /** Which servers to start (default: all). */
  readonly ssh?: boolean;
  readonly daemon?: boolean;
  /** The process whose death stops sshd and git daemon (default: this process). */
  readonly watchPid?: number;
  /**
   * Address the HTTP(S) and SSH servers listen on (default 127.0.0.1): a real node's Pods reach the host
   * end of the node's link (e2e/src/node.ts). git daemon stays on 127.0.0.1.
   */
  readonly host?: string;
}

/** The HTTPS server and what a client needs to trust it. */
export interface GitHttpsServer extends GitHttpServer {
  /** PEM of the CA that signed the server certificate (for 127.0.0.1 and localhost). */
  readonly caCert: string;
  /** Path of a file holding `caCert` (e.g. for GIT_SSL_CAINFO). */
  readonly caFile: string;
}

/** URLs of one repository on each server. */
export interface GitServerUrls {
  http(name: string): string;
  https(name: string): string;
  /** `ssh://<user>@127.0.0.1:<port><absolute path>`; scp-like `user@host:path` cannot carry a port. */
  ssh(name: string): string;
  git(name: string): string;
  /** `file://` URL of the bare repository. */
  file(name: string): string;
}

/** Running git servers over one repository root. */
export interface GitServers {
  /** The working directory. */
  readonly dir: string;
  /** The directory of bare repositories every server serves. */
  readonly root: string;
  readonly fixtures: GitFixtures;
  readonly http: GitHttpServer;
  readonly https: GitHttpsServer;
  /** Undefined when started with `ssh: false`. */
  readonly ssh: GitSshServer | undefined;
  /** Undefined when started with `daemon: false`. */
  readonly daemon: GitDaemon | undefined;
  readonly urls: GitServerUrls;
  /** Pids of the server processes and their guards (sshd, git daemon). */
  readonly pids: readonly number[];
  /** Stops every server, waits until their processes are gone, and removes a directory it created. */
  stop(): Promise<void>;
}

function unavailable(what: string): (name: string) => string {
  return () => {
    throw new Error(`${what} was not started`);
  };
}

/**
 * Starts the HTTP, HTTPS, SSH and git:// servers over a new repository root; repositories are made with
 * `servers.fixtures`.
 *
 * @example
 * const servers = await startGitServers({ auth: { basic: { username: 'u', password: 'p' } }, publicRepos: ['open'] });
 * t.teardown(() => servers.stop());
 * await servers.fixtures.create('open');
 * const id = await servers.fixtures.commit('open', { 'README.md': 'hello\n' }, 'first');
 * servers.urls.https('open'); // https://127.0.0.1:PORT/open.git, trust servers.https.caCert
 */
export async function startGitServers(options: GitServersOptions = {}): Promise<GitServers> {
  const ownDir = options.dir === undefined;
  const dir = resolve(options.dir ?? (await mkdtemp(join(tmpdir(), 'git-servers-'))));
  const root = join(dir, 'repos');
  await mkdir(root, { recursive: true });
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    // Each server stops even when another fails to.
    const results = await Promise.allSettled(stops.splice(0).map((s) => s()));
    if (ownDir) await rm(dir, { recursive: true, force: true });
    const failed = results.find((r) => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  };
  try {
    const ca = options.ca ?? (await createCertificateAuthority('git-servers test CA'));
    const caFile = join(dir, 'ca.crt');
    await writeFile(caFile, ca.cert);
    const host = options.host ?? '127.0.0.1';
    const tls = await ca.server(host, ['localhost'], [...new Set(['127.0.0.1', host])]);
    const httpOptions = {
      root,
      host,
      ...(options.auth === undefined ? {} : { auth: options.auth }),
      ...(options.publicRepos === undefined ? {} : { publicRepos: options.publicRepos }),
    };
    const http = await startGitHttpServer({ ...httpOptions, logFile: join(dir, 'http-backend.log') });
    stops.push(() => http.stop());
    const httpsServer = await startGitHttpServer({ ...httpOptions, tls, logFile: join(dir, 'https-backend.log') });
    stops.push(() => httpsServer.stop());
    const https: GitHttpsServer = Object.assign(httpsServer, { caCert: ca.cert, caFile });
    const watch = options.watchPid === undefined ? {} : { watchPid: options.watchPid };
    const [sshResult, daemonResult] = await Promise.allSettled([
      options.ssh === false ? undefined : startGitSshServer({ root, dir: join(dir, 'sshd'), host, ...watch }),
      options.daemon === false ? undefined : startGitDaemon({ root, dir: join(dir, 'daemon'), ...watch }),
    ]);
    const ssh = sshResult.status === 'fulfilled' ? sshResult.value : undefined;
    const daemon = daemonResult.status === 'fulfilled' ? daemonResult.value : undefined;
    if (ssh !== undefined) stops.push(() => ssh.stop());
    if (daemon !== undefined) stops.push(() => daemon.stop());
    if (sshResult.status === 'rejected') throw sshResult.reason;
    if (daemonResult.status === 'rejected') throw daemonResult.reason;
    const pids = [...(ssh?.pids ?? []), ...(daemon?.pids ?? [])];
    const fixtures = createGitFixtures(root);
    return {
      dir,
      root,
      fixtures,
      http,
      https,
      ssh,
      daemon,
      urls: {
        http: (name) => http.url(name),
        https: (name) => https.url(name),
        ssh: ssh === undefined ? unavailable('sshd') : (name) => ssh.url(name),
        git: daemon === undefined ? unavailable('git daemon') : (name) => daemon.url(name),
        file: (name) => `file://${fixtures.path(name)}`,
      },
      pids,
      async stop() {
        await stopAll();
        if (!(await processesGone(pids, 10_000))) throw new Error(`git servers still running: ${pids.join(' ')}`);
      },
    };
  } catch (e) {
    await stopAll().catch(() => {});
    throw e;
  }
}

import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { type GuardedServer, startGuardedServer } from './git-process.js';

// OpenSSH's sshd for the git access tests, with a configuration, host keys and authorized keys of its own
// in a temporary directory, running as the current user. Clients log in as that user (root in CI) with
// generated keys and run `git-upload-pack '<absolute path>'`, exactly as they would against a real server.

const execFileAsync = promisify(execFile);

/** Path of OpenSSH's server (it must be started by absolute path: it re-executes itself per connection). */
export const SSHD = '/usr/sbin/sshd';

/** A client key pair written by ssh-keygen. */
export interface SshClientKey {
  /** `ed25519` or `rsa`. */
  readonly type: 'ed25519' | 'rsa';
  /** The private key file's text: OpenSSH format (`-----BEGIN OPENSSH PRIVATE KEY-----`) unless noted. */
  readonly privateKey: string;
  /** Path of the private key file (mode 0600, as ssh requires). */
  readonly privateKeyFile: string;
  /** The public key line (`ssh-ed25519 AAAA... comment`). */
  readonly publicKey: string;
  /** The passphrase of an encrypted key. */
  readonly passphrase?: string;
}

/** Client keys of an {@link GitSshServer}; all but `unauthorized` are in its authorized_keys. */
export interface SshClientKeys {
  readonly ed25519: SshClientKey;
  /** RSA 2048 in OpenSSH format. */
  readonly rsa: SshClientKey;
  /** The same RSA key as `rsa`, in the traditional PEM format (`-----BEGIN RSA PRIVATE KEY-----`, PKCS#1). */
  readonly rsaPem: SshClientKey;
  /** An ed25519 key encrypted with `passphrase` (OpenSSH format, bcrypt KDF). */
  readonly encrypted: SshClientKey;
  /** A valid key the server does not accept (for authentication failures). */
  readonly unauthorized: SshClientKey;
}

/** Options of {@link startGitSshServer}. */
export interface GitSshServerOptions {
  /** Directory holding the repositories; `url(name)` is `ssh://user@127.0.0.1:PORT<root>/<name>.git`. */
  readonly root: string;
  /** Directory for configuration, keys and log (default: a new temporary directory, removed by stop). */
  readonly dir?: string;
  /** Host key types (default `['ed25519']`); known_hosts lists every one. */
  readonly hostKeyTypes?: readonly ('ed25519' | 'ecdsa' | 'rsa')[];
  /** The process whose death stops the server (default: this process). */
  readonly watchPid?: number;
  /** Address to listen on (default 127.0.0.1). */
  readonly host?: string;
}

/** A running sshd serving git over SSH. */
export interface GitSshServer {
  readonly port: number;
  /** The login user (the current user). */
  readonly user: string;
  /** `ssh://<user>@127.0.0.1:<port><root>/<name>.git` (absolute path on the server). */
  url(name: string): string;
  /**
   * The scp-like form `<user>@127.0.0.1:<root>/<name>.git`. It cannot carry a port: a client reaches this
   * server with it only when told the port apart (as {@link GitSshServer.sshCommand} does with `-o Port`);
   * a client that connects to port 22 for it fails with "connection refused".
   */
  scpUrl(name: string): string;
  readonly keys: SshClientKeys;
  /** The host's public key lines (`ssh-ed25519 AAAA...`), one per host key type. */
  readonly hostKeys: readonly string[];
  /** known_hosts text for this server, as OpenSSH writes it: `[127.0.0.1]:PORT ssh-ed25519 AAAA...`. */
  readonly knownHosts: string;
  readonly knownHostsFile: string;
  /** known_hosts text naming this host and port with another key (host key mismatch). */
  readonly wrongKnownHosts: string;
  readonly wrongKnownHostsFile: string;
  /**
   * A `GIT_SSH_COMMAND` for the git CLI: this key, this known_hosts, strict host key checking, no agent,
   * no user configuration, and this server's port (git's own `-p` for ssh:// URLs names the same one;
   * scp-like URLs have none).
   */
  sshCommand(key?: SshClientKey, knownHostsFile?: string): string;
  /** sshd's log (LogLevel VERBOSE). */
  readonly logFile: string;
  readonly dir: string;
  /** The guard's and sshd's pids. */
  readonly pids: readonly number[];
  /** Stops sshd (connections in progress end with it) and removes a directory it created. */
  stop(): Promise<void>;
}

async function keygen(file: string, type: 'ed25519' | 'rsa' | 'ecdsa', comment: string, passphrase = '', pem = false) {
  const bits = type === 'rsa' ? ['-b', '2048'] : [];
  const format = pem ? ['-m', 'PEM'] : [];
  await execFileAsync('ssh-keygen', [
    '-q',
    '-t',
    type,
    ...bits,
    ...format,
    '-N',
    passphrase,
    '-C',
    comment,
    '-f',
    file,
  ]);
}

async function clientKey(
  dir: string,
  name: string,
  type: 'ed25519' | 'rsa',
  passphrase?: string,
  pem = false,
): Promise<SshClientKey> {
  const file = join(dir, name);
  await keygen(file, type, `${name}@git-servers`, passphrase, pem);
  return {
    type,
    privateKey: await readFile(file, 'utf8'),
    privateKeyFile: file,
    publicKey: (await readFile(`${file}.pub`, 'utf8')).trim(),
    ...(passphrase === undefined ? {} : { passphrase }),
  };
}

// ssh-keygen -p rewrites a key in the OpenSSH format, which gives the PEM key's twin.
async function opensshCopy(pem: SshClientKey, dir: string, name: string): Promise<SshClientKey> {
  const file = join(dir, name);
  await copyFile(pem.privateKeyFile, file);
  await copyFile(`${pem.privateKeyFile}.pub`, `${file}.pub`);
  await execFileAsync('ssh-keygen', ['-q', '-p', '-P', '', '-N', '', '-f', file]);
  return { ...pem, privateKey: await readFile(file, 'utf8'), privateKeyFile: file };
}

function hostPattern(port: number, host = '127.0.0.1'): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** sshd refuses to start as root without its privilege separation directory (systemd usually makes it). */
async function ensurePrivsepDir(): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const exists = await stat('/run/sshd').then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!exists) await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
}

/** Starts sshd on 127.0.0.1 (or `host`) and a free port, as the current user, accepting only the generated keys. */
export async function startGitSshServer(options: GitSshServerOptions): Promise<GitSshServer> {
  const root = resolve(options.root);
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'git-sshd-')));
  await mkdir(dir, { recursive: true });
  const user = userInfo().username;
  const host = options.host ?? '127.0.0.1';
  await ensurePrivsepDir();

  const hostKeyTypes = options.hostKeyTypes ?? ['ed25519'];
  const hostKeyFiles = hostKeyTypes.map((type) => join(dir, `ssh_host_${type}_key`));
  const [, , ed25519, rsaPem, encrypted, unauthorized] = await Promise.all([
    Promise.all(hostKeyTypes.map((type, i) => keygen(hostKeyFiles[i] ?? '', type, ''))),
    keygen(join(dir, 'other_host_key'), hostKeyTypes[0] ?? 'ed25519', ''),
    clientKey(dir, 'id_ed25519', 'ed25519'),
    clientKey(dir, 'id_rsa_pem', 'rsa', undefined, true),
    clientKey(dir, 'id_ed25519_encrypted', 'ed25519', 'correct horse battery staple'),
    clientKey(dir, 'id_ed25519_unauthorized', 'ed25519'),
  ]);
  const rsa = await opensshCopy(rsaPem, dir, 'id_rsa');
  const keys: SshClientKeys = { ed25519, rsa, rsaPem, encrypted, unauthorized };
  const authorizedKeys = join(dir, 'authorized_keys');
  await writeFile(authorizedKeys, `${[ed25519, rsa, encrypted].map((k) => k.publicKey).join('\n')}\n`, {
    mode: 0o600,
  });
  const publicLine = async (file: string) => {
    const [type, key] = (await readFile(`${file}.pub`, 'utf8')).trim().split(/\s+/);
    return `${type} ${key}`;
  };
  const hostKeys = await Promise.all(hostKeyFiles.map(publicLine));
  const otherHostKey = await publicLine(join(dir, 'other_host_key'));

  const gitExecPath = (await execFileAsync('git', ['--exec-path'])).stdout.trim();
  const pidFile = join(dir, 'sshd.pid');
  const logFile = join(dir, 'sshd.log');
  const configFile = join(dir, 'sshd_config');
  // The port is given on the command line (-o ListenAddress), so a retry on another port keeps this file.
  const config = [
    ...hostKeyFiles.map((f) => `HostKey ${f}`),
    `PidFile ${pidFile}`,
    `AuthorizedKeysFile ${authorizedKeys}`,
    'AuthenticationMethods publickey',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'HostbasedAuthentication no',
    // No PAM: no login session machinery, and it works the same unprivileged.
    'UsePAM no',
    // Keys and config live in a temporary directory whose modes sshd would otherwise check.
    'StrictModes no',
    // CI runs as root; keys only, like the service accounts of real git hosts.
    'PermitRootLogin prohibit-password',
    `AllowUsers ${user}`,
    // Protocol v2 over SSH: the client sends GIT_PROTOCOL=version=2 (ssh -o SendEnv).
    'AcceptEnv GIT_PROTOCOL',
    // Sessions find git-upload-pack (also in git's exec path, whatever PATH sshd would set) and ignore the
    // machine's and the user's git configuration.
    `SetEnv PATH=${gitExecPath}:/usr/local/bin:/usr/bin:/bin GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null`,
    'PermitUserEnvironment no',
    'PermitTTY no',
    'X11Forwarding no',
    'AllowTcpForwarding no',
    'AllowAgentForwarding no',
    'UseDNS no',
    'PrintMotd no',
    'PrintLastLog no',
    'MaxStartups 64:30:128',
    'MaxSessions 64',
    'LoginGraceTime 30',
    'LogLevel VERBOSE',
  ];
  await writeFile(configFile, `${config.join('\n')}\n`);

  let server: GuardedServer;
  try {
    server = await startGuardedServer(
      'sshd',
      SSHD,
      (port) => ['-D', '-f', configFile, '-E', logFile, '-o', `ListenAddress=${host}:${port}`],
      pidFile,
      logFile,
      options.watchPid ?? process.pid,
      undefined,
      host,
    );
  } catch (e) {
    if (ownDir) await rm(dir, { recursive: true, force: true });
    throw e;
  }
  const port = server.port;
  const knownHosts = `${hostKeys.map((k) => `${hostPattern(port, host)} ${k}`).join('\n')}\n`;
  const wrongKnownHosts = `${hostPattern(port, host)} ${otherHostKey}\n`;
  const knownHostsFile = join(dir, 'known_hosts');
  const wrongKnownHostsFile = join(dir, 'known_hosts.wrong');
  await writeFile(knownHostsFile, knownHosts);
  await writeFile(wrongKnownHostsFile, wrongKnownHosts);
  const running = server;
  const repoPath = (name: string) => `${root}/${name.replace(/^\/+|\/+$/g, '').replace(/\.git$/, '')}.git`;
  return {
    port,
    user,
    url: (name) => `ssh://${user}@${host}:${port}${repoPath(name)}`,
    scpUrl: (name) => `${user}@${host}:${repoPath(name)}`,
    keys,
    hostKeys,
    knownHosts,
    knownHostsFile,
    wrongKnownHosts,
    wrongKnownHostsFile,
    sshCommand: (key = ed25519, known = knownHostsFile) =>
      [
        'ssh',
        '-F /dev/null',
        `-i ${key.privateKeyFile}`,
        '-o IdentitiesOnly=yes',
        '-o IdentityAgent=none',
        `-o UserKnownHostsFile=${known}`,
        '-o GlobalKnownHostsFile=/dev/null',
        '-o StrictHostKeyChecking=yes',
        '-o BatchMode=yes',
        '-o ConnectTimeout=10',
        `-o Port=${port}`,
      ].join(' '),
    logFile,
    dir,
    pids: [running.guardPid, running.pid],
    async stop() {
      await running.stop();
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

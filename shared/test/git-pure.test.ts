import { createHmac, generateKeyPairSync } from 'node:crypto';
import t from 'tap';
import {
  fingerprint,
  hashFiles,
  isGitError,
  knownHostsName,
  NO_MATCHING_FILES,
  parseKnownHosts,
  parseRepoUri,
  resolveRef,
  selectFiles,
  type TreeFile,
  verifyHostKey,
} from '../src/git/index.js';
import { FLUSH, MAX_PKT_PAYLOAD, PktLineTooLong, PktReader, pktLine } from '../src/git/pkt-line.js';

t.test('parseRepoUri: every scheme the CRD allows', async (t) => {
  t.same(parseRepoUri('https://git.example.com/team/repo.git'), {
    scheme: 'https',
    host: 'git.example.com',
    port: 443,
    user: 'git',
    path: '/team/repo.git',
  });
  t.same(parseRepoUri('http://127.0.0.1:8080/r'), {
    scheme: 'http',
    host: '127.0.0.1',
    port: 8080,
    user: 'git',
    path: '/r',
  });
  t.same(parseRepoUri('ssh://deploy@git.example.com:2222/srv/r.git'), {
    scheme: 'ssh',
    host: 'git.example.com',
    port: 2222,
    user: 'deploy',
    path: '/srv/r.git',
  });
  t.same(parseRepoUri('git@github.com:owner/repo.git'), {
    scheme: 'ssh',
    host: 'github.com',
    port: 22,
    user: 'git',
    path: 'owner/repo.git',
  });
  t.same(parseRepoUri('git://127.0.0.1/r.git'), {
    scheme: 'git',
    host: '127.0.0.1',
    port: 9418,
    user: 'git',
    path: '/r.git',
  });
  t.throws(() => parseRepoUri('ftp://h/r'), {
    code: 'Config',
    message: /^ftp:\/\/h\/r: unsupported repository URI scheme "ftp:"/,
  });
  t.throws(() => parseRepoUri('not a uri'), { code: 'Config', message: /^not a uri: unsupported repository URI/ });
});

function sshKeyBlob(): Buffer {
  // The wire format of an ed25519 public key: string "ssh-ed25519", string <32 bytes>.
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]);
}

t.test('known_hosts: plain, port, hashed, wildcard, negated and revoked entries', async (t) => {
  const key = sshKeyBlob();
  const other = sshKeyBlob();
  const b64 = key.toString('base64');
  t.equal(knownHostsName('h', 22), 'h');
  t.equal(knownHostsName('127.0.0.1', 2222), '[127.0.0.1]:2222');

  const plain = parseKnownHosts(`# comment\n\n[127.0.0.1]:2222 ssh-ed25519 ${b64}\nbroken line\n`);
  t.equal(plain.length, 1);
  t.equal(verifyHostKey(plain, '127.0.0.1', 2222, key), 'trusted');
  t.equal(verifyHostKey(plain, '127.0.0.1', 2222, other), 'mismatch', 'a different key for a known host is a mismatch');
  t.equal(verifyHostKey(plain, '127.0.0.1', 22, key), 'unknown', 'the port is part of the name');

  const salt = Buffer.from('0123456789abcdef0123');
  const hash = createHmac('sha1', salt).update('git.example.com').digest('base64');
  const hashed = parseKnownHosts(`|1|${salt.toString('base64')}|${hash} ssh-ed25519 ${b64}`);
  t.equal(verifyHostKey(hashed, 'git.example.com', 22, key), 'trusted');
  t.equal(verifyHostKey(hashed, 'other.example.com', 22, key), 'unknown');

  const wildcard = parseKnownHosts(`*.example.com,!evil.example.com ssh-ed25519 ${b64}`);
  t.equal(verifyHostKey(wildcard, 'git.example.com', 22, key), 'trusted');
  t.equal(verifyHostKey(wildcard, 'evil.example.com', 22, key), 'unknown');

  const revoked = parseKnownHosts(`@revoked * ssh-ed25519 ${b64}\ngit.example.com ssh-ed25519 ${b64}`);
  t.equal(verifyHostKey(revoked, 'git.example.com', 22, key), 'revoked');
  t.match(fingerprint(key), /^SHA256:[A-Za-z0-9+/]{43}$/);
});

t.test('pktLine: the longest payload fits, one byte more is refused before anything is sent', async (t) => {
  const longest = pktLine(Buffer.alloc(MAX_PKT_PAYLOAD, 0x61));
  t.equal(longest.subarray(0, 4).toString('ascii'), 'fff0');
  t.equal(longest.length, 65520);
  t.throws(() => pktLine('a'.repeat(MAX_PKT_PAYLOAD + 1)), PktLineTooLong);
  try {
    pktLine(Buffer.alloc(70_000));
  } catch (err: unknown) {
    t.equal((err as PktLineTooLong).code, 'PktLineTooLong');
    t.match((err as Error).message, /70000 bytes/);
  }
  // A git:// source whose request line cannot be one pkt-line fails as the source's error, before any
  // connection (port 9 on loopback: nothing is asked of it), and without an uncaught throw.
  const uri = `git://127.0.0.1:9/${'r'.repeat(70_000)}.git`;
  const err = await resolveRef({ uri }, { branch: 'main' }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(isGitError(err, 'Config'), `a Config GitError: ${(err as { code?: string }).code}`);
  t.match((err as Error).message, /too long for the git:\/\/ protocol/);
});

t.test('pkt-line reader: packets across chunk boundaries, then the raw rest', async (t) => {
  const stream = Buffer.concat([pktLine('hello\n'), FLUSH, pktLine('x'), Buffer.from('PACKDATA')]);
  const chunks = [stream.subarray(0, 3), stream.subarray(3, 11), stream.subarray(11)];
  const reader = new PktReader(
    (async function* () {
      yield* chunks;
    })(),
  );
  const first = await reader.read();
  t.same(first?.packet, { kind: 'data', payload: Buffer.from('hello\n') });
  t.same((await reader.read())?.packet, { kind: 'flush' });
  t.same((await reader.read())?.packet, { kind: 'data', payload: Buffer.from('x') });
  const rest: Uint8Array[] = [];
  for await (const c of reader.rest()) rest.push(c);
  t.equal(Buffer.concat(rest).toString(), 'PACKDATA');
  const bad = new PktReader(
    (async function* () {
      yield Buffer.from('zzzz');
    })(),
  );
  await t.rejects(bad.read(), /malformed pkt-line length "zzzz"/);
  const truncated = new PktReader(
    (async function* () {
      yield Buffer.from('0010abc');
    })(),
  );
  await t.rejects(truncated.read(), /truncated pkt-line/);
});

const tree: TreeFile[] = [
  { path: 'README.md', mode: '100644', oid: 'a1' },
  { path: 'deploy.sh', mode: '100755', oid: 'b2' },
  { path: 'chart/values.yaml', mode: '100644', oid: 'c3' },
  { path: 'chart/templates/job.yaml', mode: '100644', oid: 'd4' },
  { path: 'docs/notes.txt', mode: '100644', oid: 'e5' },
  { path: 'src/00.txt', mode: '100644', oid: 'f6' },
  { path: 'src/01.txt', mode: '100644', oid: 'f7' },
  { path: 'src/02.txt', mode: '100644', oid: 'f8' },
];
const paths = (patterns: string[]) => selectFiles(patterns, tree).map((f) => f.path);

t.test('file patterns follow gitignore semantics', async (t) => {
  t.same(paths(['*.yaml']), ['chart/values.yaml', 'chart/templates/job.yaml'], 'no slash: any depth');
  t.same(paths(['/*.md']), ['README.md'], 'leading slash: root only');
  t.same(paths(['chart/']), ['chart/values.yaml', 'chart/templates/job.yaml'], 'trailing slash: a directory');
  t.same(
    paths(['*.txt', '!0?.txt', '00.txt', '?2.txt']),
    ['docs/notes.txt', 'src/00.txt', 'src/02.txt'],
    'last match wins, ! negates',
  );
  t.same(paths(['chart/*', '!chart/values.yaml']), ['chart/templates/job.yaml'], 'negation of a file');
  t.same(
    paths(['chart/**', '!chart/templates/job.yaml']),
    ['chart/values.yaml', 'chart/templates/job.yaml'],
    'as git: ** matched the directory',
  );
  t.same(
    paths(['chart/', '!chart/templates/job.yaml']),
    ['chart/values.yaml', 'chart/templates/job.yaml'],
    'no re-inclusion below a matched directory',
  );
  t.same(paths(['nothing-here']), []);
});

t.test('file hash: content, rename, mode and membership change it; other files do not', async (t) => {
  const base = hashFiles(['chart/', 'deploy.sh'], tree);
  t.match(base, /^[0-9a-f]{64}$/);
  const edit = (f: (x: TreeFile) => TreeFile) => tree.map(f);
  t.equal(
    hashFiles(
      ['chart/', 'deploy.sh'],
      edit((f) => (f.path === 'README.md' ? { ...f, oid: 'zz' } : f)),
    ),
    base,
    'outside the filter',
  );
  t.not(
    hashFiles(
      ['chart/', 'deploy.sh'],
      edit((f) => (f.path === 'deploy.sh' ? { ...f, oid: 'zz' } : f)),
    ),
    base,
    'content',
  );
  t.not(
    hashFiles(
      ['chart/', 'deploy.sh'],
      edit((f) => (f.path === 'chart/values.yaml' ? { ...f, path: 'chart/values2.yaml' } : f)),
    ),
    base,
    'rename',
  );
  t.not(
    hashFiles(
      ['chart/', 'deploy.sh'],
      edit((f) => (f.path === 'deploy.sh' ? { ...f, mode: '100644' } : f)),
    ),
    base,
    'mode',
  );
  t.equal(hashFiles(['chart/', 'deploy.sh'], [...tree].reverse()), base, 'order of the tree does not matter');
  t.equal(hashFiles(['*.go'], tree), NO_MATCHING_FILES);
});

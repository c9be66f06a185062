import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { parseAllowedSigners, splitCommit, splitTag, verifySigned } from '../src/git/signatures.js';

// Commit and tag signatures made by the real tools: `git commit -S` and `git tag -s` with SSH keys
// (ssh-keygen) and an OpenPGP key (gpg), read back with `git cat-file`, verified against allowed_signers
// lines and armored public keys: good, unsigned, signed by an unknown key, by an expired key, tampered.

const exec = promisify(execFile);
const dir = await mkdtemp(join(tmpdir(), 'ger-signatures-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const gnupg = join(dir, 'gnupg');
const env = {
  ...process.env,
  GNUPGHOME: gnupg,
  GIT_CONFIG_NOSYSTEM: '1',
  HOME: dir,
  GIT_AUTHOR_DATE: '2026-01-01T00:00:00Z',
  GIT_COMMITTER_DATE: '2026-01-01T00:00:00Z',
};
const git = async (args: string[]) => (await exec('git', ['-C', join(dir, 'repo'), ...args], { env })).stdout;
await exec('git', ['init', '-q', '-b', 'main', join(dir, 'repo')], { env });
await git(['config', 'user.name', 'Release Bot']);
await git(['config', 'user.email', 'bot@example.com']);

const sshKey = async (type: 'ed25519' | 'ecdsa' | 'rsa') => {
  const file = join(dir, `id_${type}`);
  await exec('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', `${type}@example.com`, '-f', file], { env });
  return { file, pub: (await readFile(`${file}.pub`, 'utf8')).trim() };
};
const keys = { ed25519: await sshKey('ed25519'), ecdsa: await sshKey('ecdsa'), rsa: await sshKey('rsa') };
const stranger = await (async () => {
  const file = join(dir, 'id_stranger');
  await exec('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file], { env });
  return { file, pub: (await readFile(`${file}.pub`, 'utf8')).trim() };
})();
const signers = (lines: string[]) => `${lines.join('\n')}\n`;
const trusted = signers(Object.entries(keys).map(([type, k]) => `${type}@example.com namespaces="git" ${k.pub}`));

let n = 0;
const commit = async (sign: (() => Promise<void>) | undefined, message = `change ${n}`) => {
  await writeFile(join(dir, 'repo', 'file.txt'), `${n++}\n`);
  await git(['add', 'file.txt']);
  if (sign !== undefined) await sign();
  await git(['commit', '-q', ...(sign === undefined ? ['--no-gpg-sign'] : ['-S']), '-m', message]);
  return git(['cat-file', 'commit', 'HEAD']);
};
const withSsh = (file: string) => async () => {
  await git(['config', 'gpg.format', 'ssh']);
  await git(['config', 'user.signingkey', file]);
};

t.test('commits signed with SSH keys: good, unsigned, unknown key, expired, tampered', async (t) => {
  for (const [type, k] of Object.entries(keys)) {
    const raw = await commit(withSsh(k.file));
    const parts = splitCommit(raw);
    t.equal(parts.format, 'ssh', `${type}: an SSH signature`);
    t.notMatch(parts.payload, /gpgsig/, 'the payload has no signature header');
    const verdict = await verifySigned(parts, { allowedSigners: trusted });
    t.match(
      verdict,
      { ok: true, format: 'ssh', signer: new RegExp(`^${type}@example\\.com \\(SHA256:`) },
      `${type}: verified`,
    );
  }
  t.match(await verifySigned(splitCommit(await commit(undefined)), { allowedSigners: trusted }), {
    ok: false,
    reason: 'Unsigned',
  });
  const byStranger = splitCommit(await commit(withSsh(stranger.file)));
  t.match(await verifySigned(byStranger, { allowedSigners: trusted }), {
    ok: false,
    reason: 'UnknownKey',
    message: /signed by SSH key SHA256:\S+, which is not trusted/,
  });
  const good = splitCommit(await commit(withSsh(keys.ed25519.file)));
  const expired = signers([`bot@example.com valid-before="20200101" ${keys.ed25519.pub}`]);
  t.match(await verifySigned(good, { allowedSigners: expired }), { ok: false, reason: 'ExpiredKey' });
  const notYet = signers([`bot@example.com valid-after="20300101" ${keys.ed25519.pub}`]);
  t.match(await verifySigned(good, { allowedSigners: notYet }), { ok: false, reason: 'ExpiredKey' });
  t.match(await verifySigned(good, { allowedSigners: notYet }, new Date('2031-01-01T00:00:00Z')), { ok: true });
  const otherNamespace = signers([`bot@example.com namespaces="file" ${keys.ed25519.pub}`]);
  t.match(await verifySigned(good, { allowedSigners: otherNamespace }), { ok: false, reason: 'UnknownKey' });
  const tampered = { ...good, payload: good.payload.replace(/change \d+/, 'something else') };
  t.match(await verifySigned(tampered, { allowedSigners: trusted }), { ok: false, reason: 'BadSignature' });
  const garbled = { ...good, signature: good.signature?.replace(/[A-Za-z]{8}/, 'AAAAAAAA') };
  t.match(await verifySigned(garbled, { allowedSigners: trusted }), { ok: false, reason: /BadSignature|Malformed/ });
});

t.test('an SSH signature over another namespace is refused', async (t) => {
  const good = splitCommit(await commit(withSsh(keys.ed25519.file)));
  const payload = join(dir, 'payload');
  await writeFile(payload, good.payload);
  await exec('ssh-keygen', ['-q', '-Y', 'sign', '-n', 'file', '-f', keys.ed25519.file, payload], { env });
  const signature = await readFile(`${payload}.sig`, 'utf8');
  t.match(await verifySigned({ ...good, signature }, { allowedSigners: trusted }), {
    ok: false,
    reason: 'BadSignature',
    message: /namespace "file"/,
  });
});

t.test('allowed_signers parsing', async (t) => {
  const parsed = parseAllowedSigners(
    `# comment\n\n*@example.com,ops@example.com namespaces="git,file",valid-after="20240101" ${keys.rsa.pub}\nbroken line\n`,
  );
  t.equal(parsed.length, 1);
  t.match(parsed[0], { principals: '*@example.com,ops@example.com', namespaces: ['git', 'file'] });
  t.equal(parsed[0]?.validAfter?.toISOString(), '2024-01-01T00:00:00.000Z');
});

const gpg = await exec('gpg', ['--version'], { env }).then(
  () => true,
  () => false,
);
t.test('commits and tags signed with an OpenPGP key', { skip: gpg ? false : 'gpg is not installed' }, async (t) => {
  await exec('mkdir', ['-m', '700', '-p', gnupg]);
  const gen = (uid: string, expire: string) =>
    exec('gpg', ['--batch', '--passphrase', '', '--quick-gen-key', uid, 'ed25519', 'sign', expire], { env });
  await gen('Release Bot <bot@example.com>', '1y');
  await gen('Someone Else <else@example.com>', 'never');
  const fingerprint = async (uid: string) =>
    /fpr:+([0-9A-F]{40}):/.exec((await exec('gpg', ['--with-colons', '--fingerprint', uid], { env })).stdout)?.[1] ??
    '';
  const bot = await fingerprint('bot@example.com');
  const other = await fingerprint('else@example.com');
  const armored = (await exec('gpg', ['--armor', '--export', bot], { env })).stdout;
  const withPgp = (fpr: string) => async () => {
    await git(['config', 'gpg.format', 'openpgp']);
    await git(['config', 'user.signingkey', fpr]);
  };
  const good = splitCommit(await commit(withPgp(bot)));
  t.equal(good.format, 'pgp');
  t.match(await verifySigned(good, { pgp: armored }), {
    ok: true,
    format: 'pgp',
    signer: `Release Bot <bot@example.com> (${bot})`,
  });
  t.match(await verifySigned(splitCommit(await commit(withPgp(other))), { pgp: armored }), {
    ok: false,
    reason: 'UnknownKey',
  });
  t.match(await verifySigned(good, { pgp: '' }), { ok: false, reason: 'UnknownKey' }, 'no key trusted');
  // Two years on, the one-year key has expired.
  t.match(await verifySigned(good, { pgp: armored }, new Date(Date.now() + 2 * 365 * 24 * 3600 * 1000)), {
    ok: false,
    reason: 'ExpiredKey',
  });
  const tampered = { ...good, payload: good.payload.replace(/^tree [0-9a-f]+/m, `tree ${'0'.repeat(40)}`) };
  t.match(await verifySigned(tampered, { pgp: armored }), { ok: false, reason: 'BadSignature' });
  t.match(await verifySigned(good, { pgp: 'not a key' }), { ok: false, reason: 'Malformed' });

  // An annotated, signed tag: the signature closes its message.
  await withPgp(bot)();
  await git(['tag', '-s', '-m', 'release 1.0.0', 'v1.0.0']);
  const tag = splitTag(await git(['cat-file', 'tag', 'v1.0.0']));
  t.equal(tag.format, 'pgp');
  t.match(tag.payload, /^object [0-9a-f]{40}\ntype commit\ntag v1\.0\.0\n/);
  t.match(await verifySigned(tag, { pgp: armored }), { ok: true });
  t.match(
    await verifySigned({ ...tag, payload: tag.payload.replace('release 1.0.0', 'release 6.6.6') }, { pgp: armored }),
    {
      ok: false,
      reason: 'BadSignature',
    },
  );
  t.match(await verifySigned(splitTag('object 0\ntype commit\ntag x\n\nunsigned\n'), { pgp: armored }), {
    ok: false,
    reason: 'Unsigned',
  });
});

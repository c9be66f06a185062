import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { isGitError, SignatureError, verifyFetched } from '../src/git/index.js';
import { createSigningKeys } from '../src/testing/index.js';

// The rules of spec.verify on objects in a git directory, as the check and the cloner apply them:
// the commit must be signed in both modes; with TagAndHEAD, a tag reference must name an annotated tag
// of that very name, itself signed. Commits and tags are made and signed by git.

const exec = promisify(execFile);
const dir = await mkdtemp(join(tmpdir(), 'ger-verify-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const keys = await createSigningKeys(dir);
const repo = join(dir, 'repo');
const gitdir = join(repo, '.git');
const env = {
  ...keys.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Release Bot',
  GIT_AUTHOR_EMAIL: 'bot@example.com',
  GIT_COMMITTER_NAME: 'Release Bot',
  GIT_COMMITTER_EMAIL: 'bot@example.com',
};
const git = async (args: readonly string[]) => (await exec('git', ['-C', repo, ...args], { env })).stdout.trim();
await exec('git', ['init', '-q', '-b', 'main', repo], { env });

let n = 0;
const commit = async (config: readonly string[] | undefined) => {
  await writeFile(join(repo, 'f.txt'), `${n++}\n`);
  await git(['add', 'f.txt']);
  await git([...(config ?? []), 'commit', '-q', config === undefined ? '--no-gpg-sign' : '-S', '-m', `c${n}`]);
  return git(['rev-parse', 'HEAD']);
};
const policy = (mode: 'HEAD' | 'TagAndHEAD') => ({
  keys: { allowedSigners: `${keys.ssh.trusted}\n` },
  mode,
});
const uri = 'https://git.example/app.git';
const refused = (failure: string, object: 'commit' | 'tag', message: RegExp) => ({
  code: 'SignatureRefused',
  failure,
  object,
  message: message,
});

t.test('a branch: the commit must be signed', async (t) => {
  const signed = await commit(keys.ssh.gitConfig);
  const ok = await verifyFetched(uri, gitdir, { commit: signed, tip: signed }, policy('TagAndHEAD'));
  t.match(ok, { commit: signed, signers: [/^signer@example\.com \(SHA256:/] });

  const unsigned = await commit(undefined);
  const err = await verifyFetched(uri, gitdir, { commit: unsigned, tip: unsigned }, policy('HEAD')).catch(
    (e: unknown) => e,
  );
  t.ok(err instanceof SignatureError && isGitError(err, 'SignatureRefused'), 'a SignatureError');
  t.match(err, refused('Unsigned', 'commit', new RegExp(`^${uri}: commit ${unsigned} refused \\(Unsigned\\)`)));

  const byStranger = await commit(keys.stranger.gitConfig);
  await t.rejects(
    verifyFetched(uri, gitdir, { commit: byStranger, tip: byStranger }, policy('HEAD')),
    refused('UnknownKey', 'commit', /not trusted/),
  );
  await t.rejects(
    verifyFetched(uri, gitdir, { commit: 'f'.repeat(40), tip: 'f'.repeat(40) }, policy('HEAD')),
    { code: 'Protocol', message: /commit f{40} was not fetched/ },
    'an object that is not there is a protocol error, not a refusal',
  );
});

t.test('a tag in TagAndHEAD mode: a signed annotated tag of that name over a signed commit', async (t) => {
  const signed = await commit(keys.ssh.gitConfig);
  await git(['tag', 'light', signed]);
  await t.rejects(
    verifyFetched(uri, gitdir, { commit: signed, tip: signed }, policy('TagAndHEAD'), 'light'),
    refused('Unsigned', 'tag', /tag light is a lightweight tag/),
  );
  t.match(
    await verifyFetched(uri, gitdir, { commit: signed, tip: signed }, policy('HEAD'), 'light'),
    { commit: signed },
    'HEAD mode: a lightweight tag over a signed commit is accepted',
  );

  await git(['tag', '-a', '--no-sign', '-m', 'plain', 'v1.0.0', signed]);
  const plain = await git(['rev-parse', 'v1.0.0']);
  await t.rejects(
    verifyFetched(uri, gitdir, { commit: signed, tip: plain }, policy('TagAndHEAD'), 'v1.0.0'),
    refused('Unsigned', 'tag', new RegExp(`tag ${plain} refused`)),
  );

  await git([...keys.ssh.gitConfig, 'tag', '-s', '-m', 'release 1.1.0', 'v1.1.0', signed]);
  const tag = await git(['rev-parse', 'v1.1.0']);
  t.match(await verifyFetched(uri, gitdir, { commit: signed, tip: tag }, policy('TagAndHEAD'), 'v1.1.0'), {
    commit: signed,
    signers: [/^signer@example\.com/, /^signer@example\.com/],
  });
  // The signed v1.1.0 tag object advertised under another name is not a signature of that name.
  await t.rejects(
    verifyFetched(uri, gitdir, { commit: signed, tip: tag }, policy('TagAndHEAD'), 'v2.0.0'),
    refused('BadSignature', 'tag', /named v1\.1\.0, not v2\.0\.0/),
  );

  const unsignedCommit = await commit(undefined);
  await git([...keys.ssh.gitConfig, 'tag', '-s', '-m', 'release 1.2.0', 'v1.2.0', unsignedCommit]);
  const overUnsigned = await git(['rev-parse', 'v1.2.0']);
  await t.rejects(
    verifyFetched(uri, gitdir, { commit: unsignedCommit, tip: overUnsigned }, policy('TagAndHEAD'), 'v1.2.0'),
    refused('Unsigned', 'commit', /commit/),
    'a signed tag does not vouch for an unsigned commit',
  );
});

t.test(
  'OpenPGP: good and expired keys',
  { skip: keys.pgp === undefined ? 'gpg is not installed' : false },
  async (t) => {
    const pgp = keys.pgp!;
    const expired = keys.pgpExpired!;
    const trusted = { pgp: { bot: pgp.trusted, old: expired.trusted } };
    const good = await commit(pgp.gitConfig);
    t.match(await verifyFetched(uri, gitdir, { commit: good, tip: good }, { keys: trusted, mode: 'HEAD' }), {
      signers: [/^Release Bot <bot@example\.com>/],
    });
    const old = await commit(expired.gitConfig);
    await t.rejects(
      verifyFetched(uri, gitdir, { commit: old, tip: old }, { keys: trusted, mode: 'HEAD' }),
      refused('ExpiredKey', 'commit', /expired/),
    );
    const inTime = { keys: trusted, mode: 'HEAD' as const, now: () => new Date('2020-01-01T12:00:00Z') };
    t.match(await verifyFetched(uri, gitdir, { commit: old, tip: old }, inTime), { commit: old }, 'valid in 2020');
  },
);

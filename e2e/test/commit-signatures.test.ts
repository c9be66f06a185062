import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_VERSION, GROUP, type TriggerStatus, VERSION } from '@git-events-runner/shared';
import { createSigningKeys, type SigningKey } from '@git-events-runner/shared/testing';
import { CustomObjectsApi } from '@kubernetes/client-node';
import t, { type Test } from 'tap';
import { stringify } from 'yaml';
import { runGitOk } from '../src/git-fixtures.js';
import { appCluster, clusterController, eventually, repoRoot, run } from '../src/index.js';

// spec.verify against a real git server, with commits and tags signed by git itself (ssh-keygen and
// gpg keys): a signed commit runs a Job; an unsigned one, one by an unknown or expired key, or a tampered
// one runs none and says why in the task, the Ready condition and an Event. Tags in TagAndHEAD mode
// must be signed annotated tags of their own name. The cloner re-verifies what it checks out.

const plane = await appCluster(t, { 'run.sh': 'echo unsigned\n' }, 'unsigned start');
const { core, kubectl, batch, servers, kc, head: unsignedHead } = plane;
const custom = kc.makeApiClient(CustomObjectsApi);
const fx = servers.fixtures;
const scratch = await mkdtemp(join(tmpdir(), 'ger-signatures-'));
t.teardown(() => rm(scratch, { recursive: true, force: true }));
const keys = await createSigningKeys(scratch);
const pgp = keys.pgp;
const pgpExpired = keys.pgpExpired;
if (pgp === undefined || pgpExpired === undefined) throw new Error('gpg is required (.ci/run installs gnupg)');

const ns = 'signed';
await core.createNamespace({ body: { metadata: { name: ns } } });
const obj = (kind: string, name: string, spec: unknown) =>
  stringify({ apiVersion: API_VERSION, kind, metadata: { name, namespace: ns }, spec });
const secret = (name: string, data: Record<string, string>) =>
  stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns }, stringData: data });
const trigger = (name: string, source: string, reference: Record<string, string>) =>
  obj('WebhookTrigger', name, {
    sources: { names: [source], watchOn: { onChangeOnly: true, reference } },
    action: { kind: 'Action', name: 'act' },
    webhook: { multiSource: false },
  });
await kubectl(
  ['apply', '-f', '-'],
  [
    secret('signers', {
      allowed_signers: `${keys.ssh.trusted}\n`,
      'release-bot.asc': pgp.trusted,
      'old-bot.asc': pgpExpired.trusted,
    }),
    secret('expired-signers', { allowed_signers: `${keys.sshExpired.trusted}\n` }),
    obj('GitRepo', 'app', { repoUri: servers.urls.http('app'), verify: { secretRef: { name: 'signers' } } }),
    obj('GitRepo', 'old', {
      repoUri: servers.urls.http('app'),
      verify: { secretRef: { name: 'expired-signers' }, mode: 'HEAD' },
    }),
    obj('Action', 'act', {}),
    trigger('main', 'app', { branch: 'main' }),
    trigger('release', 'app', { tag: 'v1' }),
    trigger('old-main', 'old', { branch: 'main' }),
  ].join('---\n'),
);
const { base } = await clusterController(t, plane, []);

type Task = { state?: string; errors?: { reason: string; message: string }[] };
/** Fires a trigger for its source and waits for the check to finish. */
const fire = async (name: string, source: string): Promise<Task> => {
  const res = await fetch(`${base}/${ns}/${name}/${source}`, { method: 'POST' });
  const { task_id: id } = (await res.json()) as { task_id: string };
  return eventually(
    () => fetch(`${base}/tasks/${id}`).then((r) => r.json() as Promise<Task>),
    (s) => s.state === 'Succeeded' || s.state === 'Failed',
    30_000,
  );
};
const jobsFor = async (commit: string) =>
  (await batch.listNamespacedJob({ namespace: ns })).items.filter(
    (j) => j.metadata?.annotations?.['git-events-runner.rs/commit'] === commit,
  );
const jobCount = async () => (await batch.listNamespacedJob({ namespace: ns })).items.length;
const ready = async (name: string) =>
  (
    (await custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: 'webhooktriggers',
      name,
    })) as { status?: TriggerStatus }
  ).status?.conditions?.find((c) => c.type === 'Ready');

const gitEnvFor = {
  GNUPGHOME: keys.env.GNUPGHOME,
  GIT_AUTHOR_NAME: 'Release Bot',
  GIT_AUTHOR_EMAIL: 'bot@example.com',
  GIT_COMMITTER_NAME: 'Release Bot',
  GIT_COMMITTER_EMAIL: 'bot@example.com',
};
const git = (args: readonly string[], input?: string) =>
  runGitOk([`--git-dir=${fx.path('app')}`, ...args], { env: gitEnvFor, ...(input === undefined ? {} : { input }) });
let n = 0;
/** A commit on main with `key`'s signature (made with `git commit-tree -S`); main moves to it. */
const commit = async (key: SigningKey | undefined, branch = 'main') => {
  const plain = await fx.commit('app', { 'run.sh': `echo ${n++}\n` }, `change ${n}`, { branch });
  if (key === undefined) return plain;
  const signed = await git([
    ...key.gitConfig,
    'commit-tree',
    '-S',
    '-m',
    `signed ${n}`,
    '-p',
    `${plain}^`,
    `${plain}^{tree}`,
  ]);
  await fx.setRef('app', `refs/heads/${branch}`, signed);
  return signed;
};
/** A refused check: no Job, the reason in the task, the condition (with the commit) and an Event. */
const refused = async (
  t: Test,
  trig: string,
  source: string,
  oid: string,
  failure: string,
  object: 'commit' | 'tag' = 'commit',
) => {
  const before = await jobCount();
  const task = await fire(trig, source);
  t.match(task, {
    state: 'Failed',
    errors: [{ reason: 'SignatureRefused', message: new RegExp(`${object} ${oid} refused \\(${failure}\\)`) }],
  });
  t.equal(await jobCount(), before, 'no Job');
  // Webhook checks write the status in the background, after the task has finished.
  const condition = await eventually(
    () => ready(trig),
    (c) => c?.reason === 'SignatureRefused' && c.message.includes(oid),
    10_000,
  );
  t.match(condition, {
    status: 'False',
    reason: 'SignatureRefused',
    message: new RegExp(`${source}: .*${object} ${oid} refused \\(${failure}\\)`),
  });
  const events = await eventually(
    async () => (await core.listNamespacedEvent({ namespace: ns })).items,
    (items) => items.some((e) => e.reason === 'SignatureRefused' && (e.message ?? '').includes(oid)),
    10_000,
  );
  t.ok(
    events.some((e) => e.reason === 'SignatureRefused' && e.involvedObject.name === trig),
    'an Event on the trigger',
  );
};

t.test('branch: unsigned, good SSH, unknown key, tampered, good and expired OpenPGP', async (t) => {
  await refused(t, 'main', 'app', unsignedHead, 'Unsigned');

  const good = await commit(keys.ssh);
  t.match(await fire('main', 'app'), { state: 'Succeeded' });
  t.equal((await jobsFor(good)).length, 1, 'an SSH-signed commit runs a Job');
  t.match(
    await eventually(
      () => ready('main'),
      (c) => c?.status === 'True',
      10_000,
    ),
    { reason: 'Checked' },
  );

  const stranger = await commit(keys.stranger);
  await refused(t, 'main', 'app', stranger, 'UnknownKey');

  // A signed commit whose message is edited after signing, written as a new object.
  const signedRaw = await git(['cat-file', 'commit', await commit(keys.ssh)]);
  const tampered = await git(
    ['hash-object', '-t', 'commit', '-w', '--stdin'],
    `${signedRaw.replace(/signed \d+$/, 'rm -rf /')}\n`,
  );
  await fx.setRef('app', 'refs/heads/main', tampered);
  await refused(t, 'main', 'app', tampered, 'BadSignature');

  const byPgp = await commit(pgp);
  t.match(await fire('main', 'app'), { state: 'Succeeded' });
  t.equal((await jobsFor(byPgp)).length, 1, 'an OpenPGP-signed commit runs a Job');

  const byOldKey = await commit(pgpExpired);
  await refused(t, 'main', 'app', byOldKey, 'ExpiredKey');

  // The same SSH key, trusted only before 2020 (allowed_signers valid-before).
  const sshSigned = await commit(keys.ssh);
  await refused(t, 'old-main', 'old', sshSigned, 'ExpiredKey');
});

t.test('tags (TagAndHEAD): lightweight, unsigned annotated, signed, another signed tag moved here', async (t) => {
  const target = await commit(keys.ssh, 'tagged');
  await fx.lightweightTag('app', 'v1', target);
  await refused(t, 'release', 'app', target, 'Unsigned', 'tag');

  const plain = await fx.annotatedTag('app', 'v1', target, 'unsigned release');
  await refused(t, 'release', 'app', plain.object ?? '', 'Unsigned', 'tag');

  await git([...keys.ssh.gitConfig, 'tag', '-s', '-f', '-m', 'release v1', 'v1', target]);
  t.match(await fire('release', 'app'), { state: 'Succeeded' });
  t.equal((await jobsFor(target)).length, 1, 'a signed annotated tag over a signed commit runs a Job');

  // v0, properly signed, is pointed to by refs/tags/v1: its tag header still says v0.
  const next = await commit(keys.ssh, 'tagged');
  await git([...keys.ssh.gitConfig, 'tag', '-s', '-m', 'release v0', 'v0', next]);
  const v0 = await fx.resolve('app', 'refs/tags/v0');
  await git(['update-ref', 'refs/tags/v1', v0]);
  await refused(t, 'release', 'app', v0, 'BadSignature', 'tag');
});

t.test('the cloner verifies what it checks out', async (t) => {
  const cli = join(repoRoot(), 'controller', 'dist', 'src', 'cli.js');
  let dirs = 0;
  const clone = async (args: string[]) => {
    const destination = join(scratch, `out${dirs++}`);
    const r = await run(process.execPath, [cli, 'clone', '-n', ns, '-d', destination, '-k', 'GitRepo', ...args], {
      env: { ...process.env, KUBECONFIG: plane.kubeconfig },
    });
    const files = await readdir(destination).catch(() => []);
    return { ...r, destination, files };
  };
  const unsigned = await commit(undefined);
  const refusedClone = await clone(['-s', 'app', '-b', 'main']);
  t.equal(refusedClone.code, 1, 'exit 1');
  t.equal(refusedClone.stderr.trim().split('\n').length, 1, 'one line');
  t.match(refusedClone.stderr, `commit ${unsigned} refused (Unsigned)`);
  t.same(refusedClone.files, [], 'nothing checked out');
  const byCommit = await clone(['-s', 'app', '-c', unsigned]);
  t.equal(byCommit.code, 1, 'a Job cloning a commit by id is held to the same rule');
  t.same(byCommit.files, []);

  const signed = await commit(keys.ssh);
  const ok = await clone(['-s', 'app', '-c', signed, '--debug']);
  t.equal(ok.code, 0, ok.stderr);
  t.equal(await readFile(join(ok.destination, 'run.sh'), 'utf8'), `echo ${n - 1}\n`);
  t.match(ok.stderr, /signature verified/);
});

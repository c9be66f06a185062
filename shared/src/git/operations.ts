import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import git from 'isomorphic-git';
import { isSemverRange, newestInRange } from '../semver.js';
import { GitError } from './errors.js';
import { hashFiles, type TreeFile } from './files.js';
import { FLUSH, PktReader, pktLine } from './pkt-line.js';
import { type GitRemote, networkError, openTransport, type Transport } from './transport.js';

/**
 * A watched reference: exactly one of branch, tag or commit (as in the CRDs), or for resolveRef a semver
 * range (the newest tag within it).
 */
export type RefSelector = {
  readonly branch?: string;
  readonly tag?: string;
  readonly commit?: string;
  readonly semver?: string;
};

/** What a check learned about a reference. */
export interface RefState {
  /** The commit the reference points at (annotated tags peeled). */
  readonly commit: string;
  /** Full ref name, or the commit for a commit reference. */
  readonly ref: string;
  /** The object the ref names: an annotated tag's tag object, else the commit. */
  readonly tip: string;
}

function fullRef(ref: RefSelector, uri: string): string {
  if (ref.branch !== undefined) return `refs/heads/${ref.branch}`;
  if (ref.tag !== undefined) return `refs/tags/${ref.tag}`;
  if (ref.commit !== undefined) return ref.commit.toLowerCase();
  // A range: every tag is a candidate (one ls-refs with this prefix lists them).
  if (ref.semver !== undefined) return 'refs/tags/';
  throw new GitError('Config', uri, 'reference needs one of branch, tag or commit');
}

function describe(ref: RefSelector): string {
  return ref.branch !== undefined
    ? `branch ${ref.branch}`
    : ref.tag !== undefined
      ? `tag ${ref.tag}`
      : ref.semver !== undefined
        ? `a tag within semver range "${ref.semver}"`
        : `commit ${ref.commit}`;
}

// isomorphic-git's errors carry a stable `code`; turn them into GitErrors that name the repository.
function wrap(uri: string, err: unknown, t: Transport): GitError {
  const streamed = t.failure();
  if (streamed !== undefined) return streamed;
  if (err instanceof GitError) return err;
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  switch (code) {
    case 'PktLineTooLong':
      return new GitError('Config', uri, message, { cause: err });
    case 'NotFoundError':
      return new GitError('RefNotFound', uri, `not found on the server: ${message.replace(/^Could not find /, '')}`, {
        cause: err,
      });
    case 'SmartHttpError':
      return new GitError('Protocol', uri, 'the server does not speak the git smart HTTP protocol', { cause: err });
    case 'HttpError':
      return new GitError('Protocol', uri, `unexpected HTTP response: ${message}`, { cause: err });
    case 'ParseError':
    case 'InternalError':
    case 'EmptyServerResponseError':
    case 'RemoteCapabilityError':
    case 'UnknownTransportError':
      return new GitError('Protocol', uri, `protocol error: ${message}`, { cause: err });
    default:
      return networkError(uri, err, t.signal);
  }
}

/**
 * Learns which commit a branch or tag points at with one ls-refs exchange (protocol v2 with the ref
 * as prefix; v1 servers answer with their whole advertisement). No objects are fetched. A commit
 * reference is returned as is, without network access: it cannot change. A semver range lists the tags
 * in the same one exchange and resolves to the newest within the range (`ref` names that tag).
 */
export async function resolveRef(remote: GitRemote, ref: RefSelector): Promise<RefState> {
  const full = fullRef(ref, remote.uri);
  if (ref.commit !== undefined) return { commit: full, ref: full, tip: full };
  if (ref.semver !== undefined && !isSemverRange(ref.semver)) {
    throw new GitError('Config', remote.uri, `reference.semver "${ref.semver}" is not a semver range`);
  }
  const t = openTransport(remote);
  try {
    const refs =
      (await directLsRefs(remote, t, full)) ??
      (await git.listServerRefs({
        http: t.http,
        url: t.url,
        prefix: full,
        protocolVersion: 2,
        peelTags: true,
      }));
    const streamed = t.failure();
    if (streamed !== undefined) throw streamed;
    const name =
      ref.semver === undefined
        ? full
        : (() => {
            const tags = refs.filter((r) => r.ref.startsWith(full)).map((r) => r.ref.slice(full.length));
            const tag = newestInRange(tags, ref.semver);
            return tag === undefined ? undefined : `${full}${tag}`;
          })();
    const hit = name === undefined ? undefined : refs.find((r) => r.ref === name);
    if (hit === undefined) throw new GitError('RefNotFound', remote.uri, `${describe(ref)} not found`);
    return { commit: hit.peeled ?? hit.oid, ref: hit.ref, tip: hit.oid };
  } catch (err: unknown) {
    throw wrap(remote.uri, err, t);
  } finally {
    await t.close();
  }
}

// Smart HTTP servers that answer a protocol v2 ls-refs POST without first being asked for their
// capabilities (git http-backend, GitHub, GitLab, Gitea do): a check is then one HTTP request instead of
// two. A server that does not (v1 only, or a proxy in the way) is asked the long way for 10 minutes.
const DIRECT_RETRY_MS = 10 * 60_000;
const directRefused = new Map<string, number>();
const DELIM = Buffer.from('0001', 'ascii');
const OID = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;

async function directLsRefs(
  remote: GitRemote,
  t: Transport,
  prefix: string,
): Promise<{ ref: string; oid: string; peeled?: string }[] | undefined> {
  let origin: string;
  try {
    const u = new URL(remote.uri);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return undefined;
    origin = u.origin;
  } catch {
    return undefined;
  }
  const refusedAt = directRefused.get(origin);
  if (refusedAt !== undefined && Date.now() - refusedAt < DIRECT_RETRY_MS) return undefined;
  const body = Buffer.concat([
    pktLine('command=ls-refs\n'),
    pktLine('agent=git/isomorphic-git git-events-runner\n'),
    DELIM,
    pktLine('peel\n'),
    pktLine(`ref-prefix ${prefix}\n`),
    FLUSH,
  ]);
  // Auth failures, a missing repository and network errors throw GitErrors here, as the long way would.
  const res = await t.http.request({
    url: `${t.url.replace(/\/+$/, '')}/git-upload-pack`,
    method: 'POST',
    headers: {
      'content-type': 'application/x-git-upload-pack-request',
      accept: 'application/x-git-upload-pack-result',
      'git-protocol': 'version=2',
    },
    body: (async function* () {
      yield body;
    })(),
  });
  const refused = () => {
    if (directRefused.size >= 10_000) directRefused.clear();
    directRefused.set(origin, Date.now());
    return undefined;
  };
  if (
    res.statusCode !== 200 ||
    !(res.headers?.['content-type'] ?? '').startsWith('application/x-git-upload-pack-result')
  ) {
    for await (const _ of res.body ?? []) {
      // drained so the connection can be reused
    }
    return refused();
  }
  const reader = new PktReader(res.body ?? (async function* () {})());
  const refs: { ref: string; oid: string; peeled?: string }[] = [];
  try {
    for (;;) {
      const next = await reader.read();
      if (next === undefined) return refused();
      const packet = next.packet;
      if (packet.kind === 'flush') return refs;
      if (packet.kind !== 'data') return refused();
      const [oid = '', name = '', ...attributes] = packet.payload.toString('utf8').replace(/\n$/, '').split(' ');
      if (!OID.test(oid) || name === '') return refused();
      const peeled = attributes.find((a) => a.startsWith('peeled:'))?.slice('peeled:'.length);
      refs.push(peeled === undefined ? { ref: name, oid } : { ref: name, oid, peeled });
    }
  } catch (err: unknown) {
    // A malformed answer: the long way decides (and reports).
    if (t.failure() !== undefined) throw err;
    return refused();
  }
}

const locks = new Map<string, Promise<unknown>>();

// One operation at a time per git directory: isomorphic-git does not lock its files.
async function exclusive<T>(key: string, work: () => Promise<T>): Promise<T> {
  const previous = locks.get(key) ?? Promise.resolve();
  const next = previous.then(work, work);
  const settled = next.catch(() => undefined);
  locks.set(key, settled);
  try {
    return await next;
  } finally {
    if (locks.get(key) === settled) locks.delete(key);
  }
}

async function peel(gitdir: string, oid: string, uri: string): Promise<string> {
  let current = oid;
  for (let i = 0; i < 8; i++) {
    const { type } = await git.readObject({ fs, gitdir, oid: current, format: 'deflated' });
    if (type === 'commit') return current;
    if (type !== 'tag') throw new GitError('Protocol', uri, `reference points at a ${type}, not a commit`);
    current = (await git.readTag({ fs, gitdir, oid: current })).tag.object;
  }
  throw new GitError('Protocol', uri, 'tag chain too long');
}

/**
 * Fetches the one commit of `ref` with depth 1 into `gitdir` (created when missing, reused after: what
 * it already holds is offered to the server, so updates are incremental) and returns that commit.
 */
export async function fetchRef(
  remote: GitRemote,
  gitdir: string,
  ref: RefSelector,
  options: { workTree?: string } = {},
): Promise<string> {
  return (await fetchTip(remote, gitdir, ref, options)).commit;
}

/**
 * As fetchRef, and also returns the object the reference names (`tip`): for an annotated tag the tag
 * object (fetched too), else the commit itself.
 */
export async function fetchTip(
  remote: GitRemote,
  gitdir: string,
  ref: RefSelector,
  options: { workTree?: string } = {},
): Promise<{ commit: string; tip: string }> {
  const full = fullRef(ref, remote.uri);
  return exclusive(gitdir, async () => {
    await mkdir(gitdir, { recursive: true });
    if (!fs.existsSync(join(gitdir, 'HEAD')))
      await git.init({
        fs,
        gitdir,
        dir: options.workTree ?? gitdir,
        bare: options.workTree === undefined,
        defaultBranch: 'main',
      });
    // Remote-tracking name under which the tip is kept, so the next fetch can say what it has.
    const tracking =
      ref.commit !== undefined ? full : `refs/remotes/origin/${full.replace(/^refs\/(heads|tags)\//, '$1/')}`;
    const t = openTransport(remote);
    try {
      // isomorphic-git records what it fetched through the remote's refspec.
      await git.addRemote({ fs, gitdir, remote: 'origin', url: t.url, force: true });
      const result = await git.fetch({
        fs,
        http: t.http,
        gitdir,
        url: t.url,
        ref: tracking,
        remoteRef: full,
        singleBranch: true,
        depth: 1,
        tags: false,
      });
      const streamed = t.failure();
      if (streamed !== undefined) throw streamed;
      const head = result.fetchHead;
      if (head === null) throw new GitError('RefNotFound', remote.uri, `${describe(ref)} not found (empty repository)`);
      const commit = await peel(gitdir, head, remote.uri);
      if (ref.commit === undefined) await git.writeRef({ fs, gitdir, ref: tracking, value: commit, force: true });
      return { commit, tip: head };
    } catch (err: unknown) {
      throw wrap(remote.uri, err, t);
    } finally {
      await t.close();
    }
  });
}

/** The cache directory of a repository under `root`: one per repository URI, reused across checks. */
export function cacheDirFor(root: string, uri: string): string {
  return join(root, `${createHash('sha256').update(uri).digest('hex').slice(0, 24)}.git`);
}

/** Every file of a commit's tree with its mode and blob id (the commit must be in `gitdir`). */
export async function listTree(gitdir: string, commit: string): Promise<TreeFile[]> {
  const files: TreeFile[] = [];
  const cache = {};
  await git.walk({
    fs,
    gitdir,
    cache,
    trees: [git.TREE({ ref: commit })],
    map: async (path, entries) => {
      const [entry] = entries;
      if (entry === null || entry === undefined || path === '.') return undefined;
      const type = await entry.type();
      if (type === 'blob') {
        files.push({ path, mode: (await entry.mode()).toString(8), oid: await entry.oid() });
      }
      // Submodules (commit entries) are not part of the repository's content.
      return type === 'commit' ? null : undefined;
    },
  });
  return files;
}

async function hasCommit(gitdir: string, oid: string): Promise<boolean> {
  try {
    const { type } = await git.readObject({ fs, gitdir, oid, format: 'deflated' });
    return type === 'commit';
  } catch {
    return false;
  }
}

/**
 * The commit of `ref` (and the object the ref names, see RefState.tip) and the hash of its files
 * matching `patterns` (see hashFiles). The commit is
 * learned with one ls-refs exchange; its objects are fetched (depth 1) into `cacheDir` only when that
 * cache does not hold them yet, so an unchanged reference costs no fetch at all.
 */
export async function checkFiles(
  remote: GitRemote,
  cacheDir: string,
  ref: RefSelector,
  patterns: readonly string[],
): Promise<{ commit: string; tip: string; fileHash: string }> {
  const advertised = await resolveRef(remote, ref);
  const { commit, tip } = (await hasCommit(cacheDir, advertised.commit))
    ? advertised
    : await fetchTip(remote, cacheDir, ref);
  return { commit, tip, fileHash: hashFiles(patterns, await listTree(cacheDir, commit)) };
}

/**
 * Clones the one commit of `ref` into an empty or missing `destination` and checks its files out.
 * With `preserveGitFolder` the `.git` folder stays, HEAD at that commit (on the branch for a branch
 * reference, detached otherwise) with a clean status; without it `.git` is removed.
 */
export async function cloneRef(
  remote: GitRemote,
  destination: string,
  ref: RefSelector,
  options: {
    preserveGitFolder?: boolean;
    /**
     * Called once the objects are fetched and before any file is checked out, with the git directory and
     * what was fetched; throwing aborts the clone and leaves the destination empty (signature checks).
     */
    verify?: (gitdir: string, fetched: { commit: string; tip: string }) => Promise<void>;
  } = {},
): Promise<string> {
  await mkdir(destination, { recursive: true });
  const existing = await readdir(destination);
  if (existing.length > 0) throw new GitError('Config', remote.uri, `destination ${destination} is not empty`);
  const gitdir = join(destination, '.git');
  try {
    const fetched = await fetchTip(remote, gitdir, ref, { workTree: destination });
    const commit = fetched.commit;
    await options.verify?.(gitdir, fetched);
    await git.checkout({ fs, dir: destination, gitdir, ref: commit, force: true });
    if (ref.branch !== undefined) {
      await git.writeRef({ fs, gitdir, ref: `refs/heads/${ref.branch}`, value: commit, force: true });
      await git.writeRef({ fs, gitdir, ref: 'HEAD', value: `refs/heads/${ref.branch}`, symbolic: true, force: true });
    }
    if (options.preserveGitFolder !== true) await rm(gitdir, { recursive: true, force: true });
    return commit;
  } catch (err: unknown) {
    // Leave nothing half-cloned behind.
    for (const entry of await readdir(destination))
      await rm(join(destination, entry), { recursive: true, force: true });
    throw err;
  }
}

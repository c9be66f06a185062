import { spawn } from 'node:child_process';
import { mkdir, rename as moveDir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

// Repositories for the git access tests, made with the real git binary. Commits are written with
// `git fast-import` straight into the bare repository (no work tree, no push): one process per commit,
// any file content (binary, executable, symlink), and the ids are reproducible across runs because the
// identity and the dates are fixed.

/** Result of a git command run to completion. */
export interface GitResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of {@link runGit}. */
export interface RunGitOptions {
  readonly cwd?: string;
  readonly input?: string | Uint8Array;
  /** Added to the isolated environment of {@link gitEnv}. */
  readonly env?: NodeJS.ProcessEnv;
  /** Kills git after this many milliseconds (the result then has code null). */
  readonly timeoutMs?: number;
}

/** The identity of every commit and tag the fixtures write. */
export const FIXTURE_IDENTITY = { name: 'Fixture Author', email: 'fixtures@git-events-runner.test' } as const;

// Commit and tag dates start here and advance one second per commit or annotated tag, so ids depend only
// on the sequence of changes, not on the clock.
const BASE_TIME = 1_700_000_000;

/**
 * The environment git commands of the harness run with: the machine's and the user's git configuration
 * are ignored (a developer's credential helper or url.insteadOf must not change what a test sees), and git
 * never prompts for anything.
 */
export function gitEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) env[k] = v;
  return {
    ...env,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: '',
    SSH_ASKPASS: '',
    LC_ALL: 'C',
    ...extra,
  };
}

/** Runs the git binary with the isolated environment of {@link gitEnv}; never throws on a non-zero exit. */
export function runGit(args: readonly string[], options: RunGitOptions = {}): Promise<GitResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('git', args, {
      cwd: options.cwd,
      env: gitEnv(options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer =
      options.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      if (timer !== undefined) clearTimeout(timer);
      resolvePromise({
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    // git may exit before reading its input (e.g. on a bad argument); that is reported by its exit code.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}

/** Runs git and returns its trimmed stdout, throwing with stderr on failure. */
export async function runGitOk(args: readonly string[], options: RunGitOptions = {}): Promise<string> {
  const r = await runGit(args, options);
  if (r.code !== 0) throw new Error(`git ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** Content of one file in {@link GitFixtures.commit}; `null` deletes the path. */
export type FileContent =
  | string
  | Uint8Array
  | { readonly content: string | Uint8Array; readonly executable: true }
  | { readonly symlink: string }
  | null;

/** Options of {@link GitFixtures.commit}. */
export interface CommitOptions {
  /** Branch to commit on (default: the repository's default branch). */
  readonly branch?: string;
  /**
   * Parent of the first commit of a branch that does not exist yet: a revision (default: the tip of the
   * default branch, if any), or `null` for a root commit (an orphan branch).
   */
  readonly from?: string | null;
}

/** Ids of a tag: the commit it names and, for an annotated tag, the tag object. */
export interface TagIds {
  readonly commit: string;
  /** The tag object id (what `refs/tags/<name>` holds) of an annotated tag; undefined for a lightweight tag. */
  readonly object?: string;
}

/** Bare repositories under one root directory, and ways to change them. */
export interface GitFixtures {
  /** The directory holding the repositories (`<root>/<name>.git`). */
  readonly root: string;
  /** Absolute path of a repository; `name` may omit the `.git` suffix and may contain slashes. */
  path(name: string): string;
  /** Creates an empty bare repository whose HEAD names `defaultBranch` (default `main`); returns its path. */
  create(name: string, options?: { readonly defaultBranch?: string }): Promise<string>;
  /** Writes and deletes files in one commit on a branch and returns the new commit id. */
  commit(
    name: string,
    files: Readonly<Record<string, FileContent>>,
    message: string,
    options?: CommitOptions,
  ): Promise<string>;
  /** Creates or moves a lightweight tag to a revision; returns the commit id. */
  lightweightTag(name: string, tag: string, revision?: string): Promise<TagIds>;
  /** Creates or moves an annotated tag to a revision; returns the commit id and the tag object id. */
  annotatedTag(name: string, tag: string, revision?: string, message?: string): Promise<TagIds>;
  /** Creates (or force-moves) a branch to a revision; returns the commit id. */
  branch(name: string, branch: string, revision?: string): Promise<string>;
  /** Renames a branch (HEAD follows when it named it). */
  renameBranch(name: string, from: string, to: string): Promise<void>;
  /** Deletes a branch or a tag (a full ref name such as `refs/tags/v1`, or a branch name). */
  deleteRef(name: string, ref: string): Promise<void>;
  /** Sets a ref to any commit, even a non-descendant (a force push rewriting history). */
  setRef(name: string, ref: string, revision: string): Promise<void>;
  /** Moves a repository (its URL changes; the old URL stops working). */
  renameRepo(from: string, to: string): Promise<void>;
  /** Deletes a repository. */
  deleteRepo(name: string): Promise<void>;
  /** The object id a revision names (`git rev-parse --verify`). */
  resolve(name: string, revision: string): Promise<string>;
  /** Runs git inside a repository (`git --git-dir=<path> ...`). */
  git(name: string, args: readonly string[], input?: string | Uint8Array): Promise<string>;
}

/** Repository settings that let clients fetch exactly what they name, with protocol v2 and filters. */
const SERVE_CONFIG: readonly [string, string][] = [
  // Fetching a commit by id (a trigger pinned to a commit, or a checkout of the exact commit that was seen).
  ['uploadpack.allowAnySHA1InWant', 'true'],
  ['uploadpack.allowReachableSHA1InWant', 'true'],
  ['uploadpack.allowTipSHA1InWant', 'true'],
  // Partial clones (--filter=blob:none) and protocol v2's want-ref.
  ['uploadpack.allowFilter', 'true'],
  ['uploadpack.allowRefInWant', 'true'],
  // v2 is what a client asks for (Git-Protocol header, GIT_PROTOCOL); this only states the default.
  ['protocol.version', '2'],
  // Nothing the fixtures do should be garbage collected behind a test's back.
  ['gc.auto', '0'],
  ['receive.denyNonFastForwards', 'false'],
];

function bareName(name: string): string {
  const trimmed = name.replace(/^\/+|\/+$/g, '');
  if (trimmed === '' || trimmed.split('/').some((s) => s === '..' || s === '.' || s === '')) {
    throw new Error(`bad repository name: ${JSON.stringify(name)}`);
  }
  return trimmed.endsWith('.git') ? trimmed : `${trimmed}.git`;
}

// fast-import paths: C-style quoting keeps spaces, quotes and newlines unambiguous.
function quotePath(path: string): string {
  return `"${path.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t')}"`;
}

function dataBlock(content: string | Uint8Array): Buffer[] {
  const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : Buffer.from(content);
  return [Buffer.from(`data ${bytes.length}\n`), bytes, Buffer.from('\n')];
}

/** Creates the fixtures helper for bare repositories under `root` (created if missing). */
export function createGitFixtures(root: string): GitFixtures {
  const base = resolve(root);
  let clock = 0;
  const nextDate = () => `${BASE_TIME + clock++} +0000`;
  const identity = (date: string) => `${FIXTURE_IDENTITY.name} <${FIXTURE_IDENTITY.email}> ${date}`;
  const path = (name: string) => join(base, bareName(name));
  // Other commands see the date of the last object written; they write no object of their own.
  const git = (
    name: string,
    args: readonly string[],
    input?: string | Uint8Array,
    date = `${BASE_TIME + clock} +0000`,
  ) => {
    return runGitOk([`--git-dir=${path(name)}`, ...args], {
      ...(input === undefined ? {} : { input }),
      env: {
        GIT_AUTHOR_NAME: FIXTURE_IDENTITY.name,
        GIT_AUTHOR_EMAIL: FIXTURE_IDENTITY.email,
        GIT_AUTHOR_DATE: date,
        GIT_COMMITTER_NAME: FIXTURE_IDENTITY.name,
        GIT_COMMITTER_EMAIL: FIXTURE_IDENTITY.email,
        GIT_COMMITTER_DATE: date,
      },
    });
  };
  const tryResolve = async (name: string, revision: string): Promise<string | undefined> => {
    const r = await runGit([`--git-dir=${path(name)}`, 'rev-parse', '--verify', '--quiet', `${revision}^{commit}`]);
    return r.code === 0 ? r.stdout.trim() : undefined;
  };
  const defaultBranch = async (name: string) =>
    (await git(name, ['symbolic-ref', 'HEAD'])).replace(/^refs\/heads\//, '');

  const fixtures: GitFixtures = {
    root: base,
    path,
    async create(name, options = {}) {
      const dir = path(name);
      await mkdir(dirname(dir), { recursive: true });
      await runGitOk(['init', '--quiet', '--bare', `--initial-branch=${options.defaultBranch ?? 'main'}`, dir]);
      for (const [key, value] of SERVE_CONFIG) await runGitOk([`--git-dir=${dir}`, 'config', key, value]);
      // git daemon serves only repositories marked so (the harness also passes --export-all).
      await writeFile(join(dir, 'git-daemon-export-ok'), '');
      return dir;
    },
    async commit(name, files, message, options = {}) {
      const branch = options.branch ?? (await defaultBranch(name));
      let parent = await tryResolve(name, `refs/heads/${branch}`);
      if (parent === undefined && options.from !== null) {
        const from = options.from ?? `refs/heads/${await defaultBranch(name)}`;
        parent = await tryResolve(name, from);
        if (parent === undefined && options.from !== undefined) throw new Error(`no revision ${from} in ${name}`);
      }
      const date = nextDate();
      const chunks: Buffer[] = [
        Buffer.from(`commit refs/heads/${branch}\n`),
        Buffer.from(`author ${identity(date)}\ncommitter ${identity(date)}\n`),
        ...dataBlock(message.endsWith('\n') ? message : `${message}\n`),
      ];
      if (parent !== undefined) chunks.push(Buffer.from(`from ${parent}\n`));
      for (const [file, content] of Object.entries(files)) {
        if (content === null) {
          chunks.push(Buffer.from(`D ${quotePath(file)}\n`));
        } else if (typeof content === 'string' || content instanceof Uint8Array) {
          chunks.push(Buffer.from(`M 100644 inline ${quotePath(file)}\n`), ...dataBlock(content));
        } else if ('symlink' in content) {
          chunks.push(Buffer.from(`M 120000 inline ${quotePath(file)}\n`), ...dataBlock(content.symlink));
        } else {
          chunks.push(Buffer.from(`M 100755 inline ${quotePath(file)}\n`), ...dataBlock(content.content));
        }
      }
      chunks.push(Buffer.from('\ndone\n'));
      await runGitOk([`--git-dir=${path(name)}`, 'fast-import', '--quiet', '--done'], {
        input: Buffer.concat(chunks),
      });
      return git(name, ['rev-parse', '--verify', `refs/heads/${branch}`]);
    },
    async lightweightTag(name, tag, revision = 'HEAD') {
      const commit = await fixtures.resolve(name, `${revision}^{commit}`);
      await git(name, ['update-ref', `refs/tags/${tag}`, commit]);
      return { commit };
    },
    async annotatedTag(name, tag, revision = 'HEAD', message = `Tag ${tag}`) {
      const commit = await fixtures.resolve(name, `${revision}^{commit}`);
      await git(name, ['tag', '--force', '--annotate', '--message', message, tag, commit], undefined, nextDate());
      return { commit, object: await fixtures.resolve(name, `refs/tags/${tag}`) };
    },
    async branch(name, branch, revision = 'HEAD') {
      const commit = await fixtures.resolve(name, `${revision}^{commit}`);
      await git(name, ['update-ref', `refs/heads/${branch}`, commit]);
      return commit;
    },
    async renameBranch(name, from, to) {
      await git(name, ['branch', '--move', from, to]);
    },
    async deleteRef(name, ref) {
      await git(name, ['update-ref', '-d', ref.startsWith('refs/') ? ref : `refs/heads/${ref}`]);
    },
    async setRef(name, ref, revision) {
      const commit = await fixtures.resolve(name, `${revision}^{commit}`);
      await git(name, ['update-ref', ref.startsWith('refs/') ? ref : `refs/heads/${ref}`, commit]);
    },
    async renameRepo(from, to) {
      await mkdir(dirname(path(to)), { recursive: true });
      await moveDir(path(from), path(to));
    },
    async deleteRepo(name) {
      await rm(path(name), { recursive: true, force: true });
    },
    resolve: (name, revision) => git(name, ['rev-parse', '--verify', revision]),
    git,
  };
  return fixtures;
}

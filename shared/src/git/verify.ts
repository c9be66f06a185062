import * as fs from 'node:fs';
import git from 'isomorphic-git';
import { GitError } from './errors.js';
import { fetchTip, type RefSelector, type RefState } from './operations.js';
import {
  type SignatureFailure,
  type SignedParts,
  splitCommit,
  splitTag,
  type TrustedKeys,
  verifySigned,
} from './signatures.js';
import type { GitRemote } from './transport.js';

// Signature checks of what a reference names, on objects fetched into a git directory: the check's
// cache (the controller) or the clone (the cloner). Both run the same rules, so what the controller
// accepts is what the cloner accepts.

/** What must be signed: the commit (HEAD), or also the annotated tag of a tag reference (TagAndHEAD). */
export type VerifyMode = 'HEAD' | 'TagAndHEAD';

/** The keys and the rule a source's `verify` setting names. */
export interface SignaturePolicy {
  readonly keys: TrustedKeys;
  readonly mode: VerifyMode;
  /** The clock for key expiry and allowed_signers validity; default now. */
  readonly now?: () => Date;
}

/** A commit or tag refused by a signature policy: the code is SignatureRefused, `failure` says why. */
export class SignatureError extends GitError {
  readonly failure: SignatureFailure;
  readonly object: 'commit' | 'tag';
  readonly oid: string;

  constructor(repository: string, failure: SignatureFailure, object: 'commit' | 'tag', oid: string, detail: string) {
    super('SignatureRefused', repository, `${object} ${oid} refused (${failure}): ${detail}`);
    this.failure = failure;
    this.object = object;
    this.oid = oid;
  }
}

/** Who signed what an accepted reference names. */
export interface VerifiedRef {
  readonly commit: string;
  readonly signers: readonly string[];
}

async function raw(gitdir: string, oid: string): Promise<{ type: string; text: string } | undefined> {
  try {
    const { type, object } = await git.readObject({ fs, gitdir, oid, format: 'content' });
    if (!(object instanceof Uint8Array)) return undefined;
    return { type, text: Buffer.from(object).toString('utf8') };
  } catch {
    return undefined;
  }
}

function header(text: string, name: string): string | undefined {
  const end = text.indexOf('\n\n');
  for (const line of (end === -1 ? text : text.slice(0, end)).split('\n'))
    if (line.startsWith(`${name} `)) return line.slice(name.length + 1);
  return undefined;
}

async function check(
  uri: string,
  object: 'commit' | 'tag',
  oid: string,
  parts: SignedParts,
  policy: SignaturePolicy,
): Promise<string> {
  const verdict = await verifySigned(parts, policy.keys, policy.now?.() ?? new Date());
  if (!verdict.ok) throw new SignatureError(uri, verdict.reason, object, oid, verdict.message);
  return verdict.signer;
}

/**
 * Verifies the objects of a fetched reference in `gitdir` (`tip` is the object the ref names: a tag
 * object for an annotated tag, else the commit). With mode TagAndHEAD and a tag reference (`tag` is its
 * name), the tip must be an annotated tag of that name, signed, pointing at the commit; the commit must
 * be signed in either mode.
 * @throws SignatureError when a signature is missing or refused; GitError Protocol when an object is not there.
 */
export async function verifyFetched(
  uri: string,
  gitdir: string,
  fetched: { readonly commit: string; readonly tip: string },
  policy: SignaturePolicy,
  tag?: string,
): Promise<VerifiedRef> {
  const signers: string[] = [];
  if (policy.mode === 'TagAndHEAD' && tag !== undefined) {
    if (fetched.tip === fetched.commit) {
      throw new SignatureError(
        uri,
        'Unsigned',
        'tag',
        fetched.tip,
        `tag ${tag} is a lightweight tag, which carries no signature (verify.mode TagAndHEAD wants a signed annotated tag)`,
      );
    }
    const object = await raw(gitdir, fetched.tip);
    if (object?.type !== 'tag') throw new GitError('Protocol', uri, `tag object ${fetched.tip} was not fetched`);
    // A signed tag of another name moved here (an old release replayed under a new name) is refused.
    const named = header(object.text, 'tag');
    if (named !== tag) {
      throw new SignatureError(
        uri,
        'BadSignature',
        'tag',
        fetched.tip,
        `the tag object is named ${named ?? '(none)'}, not ${tag}`,
      );
    }
    signers.push(await check(uri, 'tag', fetched.tip, splitTag(object.text), policy));
  }
  const commit = await raw(gitdir, fetched.commit);
  if (commit?.type !== 'commit') throw new GitError('Protocol', uri, `commit ${fetched.commit} was not fetched`);
  signers.push(await check(uri, 'commit', fetched.commit, splitCommit(commit.text), policy));
  return { commit: fetched.commit, signers };
}

/**
 * Verifies what `ref` names on `remote`, as ls-refs advertised it (`advertised`): the objects are read
 * from `gitdir` (a cache of the repository), fetched into it first (depth 1) when missing. When the ref
 * moved between the ls-refs and the fetch, what was fetched is verified and returned.
 */
export async function verifyRef(
  remote: GitRemote,
  gitdir: string,
  ref: RefSelector,
  advertised: Pick<RefState, 'commit' | 'tip'>,
  policy: SignaturePolicy,
): Promise<VerifiedRef> {
  const present =
    (await raw(gitdir, advertised.commit)) !== undefined &&
    (advertised.tip === advertised.commit || (await raw(gitdir, advertised.tip)) !== undefined);
  const fetched = present ? advertised : await fetchTip(remote, gitdir, ref);
  return verifyFetched(remote.uri, gitdir, fetched, policy, ref.tag);
}

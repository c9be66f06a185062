import { GitError } from './errors.js';

/** Transport of a repository URI. */
export type GitScheme = 'https' | 'http' | 'ssh' | 'git';

/** A repository URI taken apart. */
export interface ParsedRepoUri {
  readonly scheme: GitScheme;
  readonly host: string;
  /** Explicit port, else the scheme's default (443, 80, 22, 9418). */
  readonly port: number;
  /** SSH login; `git` when the URI names none. */
  readonly user: string;
  /** Path on the server as the server expects it: absolute for URLs, as written for scp-like URIs. */
  readonly path: string;
}

const DEFAULT_PORT: Record<GitScheme, number> = { https: 443, http: 80, ssh: 22, git: 9418 };
const SCP_LIKE = /^(?:([^@/:]+)@)?([^@/:[\]]+|\[[^\]]+\]):(?!\/\/)(.+)$/;

/**
 * Parses the URI schemes a GitRepo accepts.
 * @throws GitError `Config` naming the URI and what is wrong with it.
 */
export function parseRepoUri(uri: string): ParsedRepoUri {
  const scp = /^[a-z][a-z0-9+.-]*:\/\//i.test(uri) ? null : SCP_LIKE.exec(uri);
  if (scp !== null) {
    const [, user = 'git', host = '', path = ''] = scp;
    return { scheme: 'ssh', host: host.replace(/^\[|\]$/g, ''), port: 22, user, path };
  }
  let url: URL;
  try {
    url = new URL(uri);
  } catch (err: unknown) {
    throw new GitError(
      'Config',
      uri,
      'unsupported repository URI (use https://, http://, ssh://, git:// or git@host:path)',
      {
        cause: err,
      },
    );
  }
  const scheme = url.protocol.slice(0, -1);
  if (scheme !== 'https' && scheme !== 'http' && scheme !== 'ssh' && scheme !== 'git') {
    throw new GitError(
      'Config',
      uri,
      `unsupported repository URI scheme ${JSON.stringify(url.protocol)} (use https, http, ssh, git or git@host:path)`,
    );
  }
  if (url.hostname === '') throw new GitError('Config', uri, 'repository URI has no host');
  // The URL parser takes port 0, which no server listens on.
  if (url.port === '0') throw new GitError('Config', uri, 'repository URI has port 0');
  return {
    scheme,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port === '' ? DEFAULT_PORT[scheme] : Number(url.port),
    user: url.username === '' ? 'git' : decodePart(uri, url.username),
    path: decodePart(uri, url.pathname),
  };
}

// The CRD admits `%` in http(s) paths, so a stray `%zz` must be refused by name, not escape as a URIError.
function decodePart(uri: string, part: string): string {
  try {
    return decodeURIComponent(part);
  } catch (err: unknown) {
    throw new GitError('Config', uri, 'repository URI has an invalid %-escape', { cause: err });
  }
}

import { createHash } from 'node:crypto';
import ignore from 'ignore';

/** A file of a commit's tree. */
export interface TreeFile {
  readonly path: string;
  /** git mode, e.g. 100644, 100755, 120000. */
  readonly mode: string;
  /** Blob id. */
  readonly oid: string;
}

/** The file hash when no file of the commit matches the patterns; never equal to a real hash. */
export const NO_MATCHING_FILES = 'no-matching-files';

/**
 * Selects the files matching gitignore-style patterns, with gitignore's semantics: patterns are relative
 * to the repository root, the last matching pattern wins, `!` negates, a pattern without `/` (other than
 * a trailing one) matches at any depth, a trailing `/` matches directories (everything below them),
 * and a file below an excluded directory cannot be re-included. `.git` is never part of a tree.
 */
export function selectFiles(patterns: readonly string[], files: readonly TreeFile[]): TreeFile[] {
  const matcher = ignore({ allowRelativePaths: false }).add([...patterns]);
  return files.filter((f) => matcher.ignores(f.path));
}

/**
 * Hash of the selected files: SHA-256 over the sorted `(path, mode, blob id)` triples, so a change of
 * content, a rename, an added or removed file and a mode change all change it. Returns NO_MATCHING_FILES
 * when nothing matches.
 */
export function hashFiles(patterns: readonly string[], files: readonly TreeFile[]): string {
  const selected = selectFiles(patterns, files);
  if (selected.length === 0) return NO_MATCHING_FILES;
  const sorted = [...selected].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  const hash = createHash('sha256');
  for (const f of sorted) hash.update(`${f.mode} ${f.oid}\t${f.path}\n`);
  return hash.digest('hex');
}

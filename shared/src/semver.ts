import semver from 'semver';

// `watchOn.reference.semver`: the newest tag whose name is a semantic version within a range (npm's
// range syntax, e.g. ">=1.2.0 <2.0.0", "^1.4", "~2.1.x"). Tag names may carry a leading "v" ("v1.2.3");
// names that are no version are ignored, and so are pre-releases unless the range names one (npm's rule).

/** Whether `range` is a semver range the selection understands. */
export function isSemverRange(range: string): boolean {
  return range.trim() !== '' && semver.validRange(range) !== null;
}

/**
 * The version a tag name stands for, or undefined: `1.2.3` and `v1.2.3` are versions, `release-1`,
 * `1.2` and `latest` are not (strict parsing: a tag must name a whole version to count).
 */
export function tagVersion(tag: string): string | undefined {
  // semver.valid alone would also take "=1.2.3", "vv1.2.3" and surrounding spaces.
  if (!STRICT_TAG.test(tag)) return undefined;
  return semver.valid(tag.startsWith('v') ? tag.slice(1) : tag) ?? undefined;
}

const STRICT_TAG = /^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

/**
 * The newest of `tags` (names without `refs/tags/`) within `range`, or undefined when none is. Two tags
 * of the same version (`1.2.3` and `v1.2.3`) resolve to the same version: the one sorting first by name
 * wins, so every replica picks the same tag whatever order the server lists them in.
 */
export function newestInRange(tags: Iterable<string>, range: string): string | undefined {
  if (!isSemverRange(range)) return undefined;
  let best: { tag: string; version: string } | undefined;
  for (const tag of tags) {
    const version = tagVersion(tag);
    if (version === undefined || !semver.satisfies(version, range)) continue;
    if (
      best === undefined ||
      semver.gt(version, best.version) ||
      (semver.eq(version, best.version) && tag < best.tag)
    ) {
      best = { tag, version };
    }
  }
  return best?.tag;
}

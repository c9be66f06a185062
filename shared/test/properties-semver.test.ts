import { isSemverRange, newestInRange, tagVersion } from '@git-events-runner/shared';
import { propertySeed } from '@git-events-runner/shared/testing';
import fc from 'fast-check';
import semver from 'semver';
import t from 'tap';

// watchOn.reference.semver: which tag a range resolves to. Examples first, then properties over random
// tag lists (names a server may list in any order, with and without a leading v, non-versions among
// them) and random ranges: the choice is a satisfying version, none newer satisfies, the order of the
// list does not matter, and hostile strings neither throw nor resolve.

const { seed: SEED, runs } = propertySeed(0x5e3);
t.comment(`fast-check seed ${SEED} (set FC_SEED to replay another)`);

t.test('examples', async (t) => {
  const tags = ['v1.2.0', 'v1.3.0', '1.3.1', 'v2.0.0', 'v1.4.0-rc.1', 'release-1.9', 'latest', 'v1.2'];
  t.equal(newestInRange(tags, '>=1.2.0 <2.0.0'), '1.3.1');
  t.equal(newestInRange(tags, '^1.2'), '1.3.1');
  t.equal(newestInRange(tags, '~1.2'), 'v1.2.0');
  t.equal(newestInRange(tags, '>=2'), 'v2.0.0');
  t.equal(newestInRange(tags, '>=3'), undefined, 'none in range');
  t.equal(newestInRange(tags, '>=1.4.0-rc.0 <1.5.0'), 'v1.4.0-rc.1', 'a pre-release when the range names one');
  t.equal(newestInRange(tags, '>=1.3.2 <2.0.0'), undefined, 'pre-releases of other versions do not count');
  t.equal(newestInRange(['1.0.0', 'v1.0.0'], '*'), '1.0.0', 'the same version twice: the first by name');
  t.equal(newestInRange(['v1.0.0', '1.0.0'], '*'), '1.0.0', 'in any order');
  t.equal(newestInRange(tags, 'not a range'), undefined);
  t.equal(tagVersion('v1.2.3'), '1.2.3');
  t.equal(tagVersion('1.2'), undefined, 'a tag must name a whole version');
  t.equal(tagVersion('vv1.2.3'), undefined);
  t.ok(isSemverRange('>=1.2.0 <2.0.0'));
  t.ok(isSemverRange('^1.4 || ~2.1.x'));
  t.notOk(isSemverRange(''));
  t.notOk(isSemverRange('   '));
  t.notOk(isSemverRange('>=banana'));
});

const version = fc
  .tuple(fc.nat(5), fc.nat(5), fc.nat(5), fc.option(fc.constantFrom('rc.1', 'beta.2', 'alpha'), { nil: undefined }))
  .map(([a, b, c, pre]) => `${a}.${b}.${c}${pre === undefined ? '' : `-${pre}`}`);
const tag = fc.oneof(
  version,
  version.map((v) => `v${v}`),
  fc.constantFrom('latest', 'release-1', 'v1', '1.2', 'nightly'),
);
const range = fc.oneof(
  fc.tuple(fc.constantFrom('>=', '>', '<', '<=', '^', '~', '='), version).map(([op, v]) => `${op}${v}`),
  fc.tuple(version, version).map(([a, b]) => `>=${a} <${b}`),
  fc.constantFrom('*', '1.x', '>=1.2.0 <2.0.0', '^0.3 || ^4'),
);

t.test('the chosen tag satisfies the range and none newer does', async (t) => {
  fc.assert(
    fc.property(fc.array(tag, { maxLength: 30 }), range, (tags, r) => {
      const chosen = newestInRange(tags, r);
      const satisfying = tags.flatMap((x) => {
        const v = tagVersion(x);
        return v !== undefined && semver.satisfies(v, r) ? [v] : [];
      });
      if (chosen === undefined) return satisfying.length === 0;
      const v = tagVersion(chosen);
      return (
        tags.includes(chosen) && v !== undefined && semver.satisfies(v, r) && satisfying.every((s) => semver.lte(s, v))
      );
    }),
    runs(500),
  );
  t.pass('held');
});

t.test('the order in which the server lists tags does not matter', async (t) => {
  fc.assert(
    fc.property(
      fc
        .array(tag, { maxLength: 30 })
        .chain((tags) => fc.tuple(fc.constant(tags), fc.shuffledSubarray(tags, { minLength: tags.length }))),
      range,
      ([tags, shuffled], r) => newestInRange(tags, r) === newestInRange(shuffled, r),
    ),
    runs(500),
  );
  t.pass('held');
});

t.test('hostile strings as ranges and tags: no throw, no match from a non-range', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.string({ maxLength: 40 }), { maxLength: 20 }), fc.string({ maxLength: 60 }), (tags, r) => {
      const chosen = newestInRange(tags, r);
      return chosen === undefined || (isSemverRange(r) && tags.includes(chosen));
    }),
    runs(500),
  );
  t.pass('held');
});

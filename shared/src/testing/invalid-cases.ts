import type { KindName } from '../schema/resources.js';

/** An invalid spec, the field kube-apiserver and the runtime validator must name, and words of the message. */
export interface InvalidCase {
  readonly name: string;
  readonly kind: KindName;
  readonly spec: Record<string, unknown>;
  readonly field: string;
  readonly message: RegExp;
}

const sources = { kind: 'GitRepo', names: ['repo'] };
const action = { kind: 'Action', name: 'act' };

/**
 * One case per cross-field rule and per pattern. Shared by the unit tests (runtime validator) and the
 * e2e tests (kube-apiserver), so both are held to the same verdict and the same field.
 */
export const INVALID_CASES: readonly InvalidCase[] = [
  {
    name: 'reference with branch and tag',
    kind: 'ScheduleTrigger',
    spec: {
      sources: { ...sources, watchOn: { onChangeOnly: true, reference: { branch: 'main', tag: 'v1' } } },
      schedule: { interval: '5m' },
      action,
    },
    field: 'spec.sources.watchOn.reference',
    message: /exactly one of branch, tag, commit or semver must be set/,
  },
  {
    name: 'empty reference',
    kind: 'WebhookTrigger',
    spec: {
      sources: { ...sources, watchOn: { onChangeOnly: false, reference: {} } },
      webhook: { multiSource: false },
      action,
    },
    field: 'spec.sources.watchOn.reference',
    message: /exactly one of branch, tag, commit or semver must be set/,
  },
  {
    name: 'reference with semver and tag',
    kind: 'ScheduleTrigger',
    spec: {
      sources: { ...sources, watchOn: { onChangeOnly: true, reference: { semver: '^1.2', tag: 'v1' } } },
      schedule: { interval: '5m' },
      action,
    },
    field: 'spec.sources.watchOn.reference',
    message: /exactly one of branch, tag, commit or semver must be set/,
  },
  {
    name: 'schedule with interval and cron',
    kind: 'ScheduleTrigger',
    spec: { sources, schedule: { interval: '5m', cron: '0 * * * *' }, action },
    field: 'spec.schedule',
    message: /exactly one of interval or cron must be set/,
  },
  {
    name: 'schedule with neither interval nor cron',
    kind: 'ScheduleTrigger',
    spec: { sources, schedule: {}, action },
    field: 'spec.schedule',
    message: /exactly one of interval or cron must be set/,
  },
  {
    name: 'sourceOverride reference with tag and commit',
    kind: 'Action',
    spec: { sourceOverride: { kind: 'GitRepo', name: 'repo', reference: { tag: 'v1', commit: 'abcdef0' } } },
    field: 'spec.sourceOverride.reference',
    message: /exactly one of branch, tag or commit must be set/,
  },
  {
    name: 'ClusterAction sourceOverride with commit and branch',
    kind: 'ClusterAction',
    spec: {
      sourceOverride: { kind: 'ClusterGitRepo', name: 'repo', reference: { branch: 'main', commit: 'abcdef0' } },
    },
    field: 'spec.sourceOverride.reference',
    message: /exactly one of branch, tag or commit must be set/,
  },
  {
    name: 'ssh auth on an https URI',
    kind: 'GitRepo',
    spec: { repoUri: 'https://git.example.com/a/b.git', authConfig: { type: 'ssh', secretRef: { name: 's' } } },
    field: 'spec',
    message: /authConfig.type does not fit repoUri/,
  },
  {
    name: 'basic auth on an ssh URI',
    kind: 'ClusterGitRepo',
    spec: { repoUri: 'ssh://git@git.example.com/a/b.git', authConfig: { type: 'basic', secretRef: { name: 's' } } },
    field: 'spec',
    message: /authConfig.type does not fit repoUri/,
  },
  {
    name: 'token auth on a git:// URI',
    kind: 'GitRepo',
    spec: { repoUri: 'git://git.example.com/a/b.git', authConfig: { type: 'token', secretRef: { name: 's' } } },
    field: 'spec',
    message: /authConfig.type does not fit repoUri/,
  },
  {
    name: 'unsupported URI scheme',
    kind: 'GitRepo',
    spec: { repoUri: 'ftp://git.example.com/a/b.git' },
    field: 'spec.repoUri',
    message: /should match|Expected string to match/,
  },
  {
    name: 'interval without unit',
    kind: 'ScheduleTrigger',
    spec: { sources, schedule: { interval: '300' }, action },
    field: 'spec.schedule.interval',
    message: /should match|Expected string to match/,
  },
  {
    name: 'verify Secret name that is not a DNS subdomain',
    kind: 'GitRepo',
    spec: { repoUri: 'https://git.example.com/a/b.git', verify: { secretRef: { name: 'Signing_Keys' } } },
    field: 'spec.verify.secretRef.name',
    message: /should match|Expected string to match/,
  },
  {
    name: 'verify without a Secret reference',
    kind: 'ClusterGitRepo',
    spec: { repoUri: 'https://git.example.com/a/b.git', verify: { mode: 'HEAD' } },
    field: 'spec.verify.secretRef',
    message: /Required value|Expected required property/,
  },
  {
    name: 'verify Secret namespace that is not a DNS label',
    kind: 'ClusterGitRepo',
    spec: {
      repoUri: 'https://git.example.com/a/b.git',
      verify: { secretRef: { name: 'keys', namespace: 'Team.A' } },
    },
    field: 'spec.verify.secretRef.namespace',
    message: /should match|Expected string to match/,
  },
  {
    name: 'unknown verify mode',
    kind: 'GitRepo',
    spec: { repoUri: 'https://git.example.com/a/b.git', verify: { mode: 'Tag', secretRef: { name: 'keys' } } },
    field: 'spec.verify.mode',
    message: /HEAD|Unsupported value|Expected union value/,
  },
  {
    name: 'unknown auth type',
    kind: 'GitRepo',
    spec: { repoUri: 'https://git.example.com/a/b.git', authConfig: { type: 'oauth', secretRef: { name: 's' } } },
    field: 'spec.authConfig.type',
    message: /basic|Unsupported value|Expected union value/,
  },
  {
    name: 'ClusterAction sourceOverride kind GitRepo',
    kind: 'ClusterAction',
    spec: { sourceOverride: { kind: 'GitRepo', name: 'repo', reference: { branch: 'main' } } },
    field: 'spec.sourceOverride.kind',
    message: /ClusterGitRepo|Expected union value/,
  },
  {
    name: 'duplicate source names',
    kind: 'ScheduleTrigger',
    spec: { sources: { names: ['a', 'a'] }, schedule: { interval: '5m' }, action },
    field: 'spec.sources.names',
    message: /Duplicate|duplicate|unique/,
  },
];

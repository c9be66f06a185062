import { type Static, type TLiteral, type TSchema, Type } from '@sinclair/typebox';
import { authTypeFitsScheme, exactlyOneOf, type Rule } from './rules.js';

/** API group of every custom resource. */
export const GROUP = 'git-events-runner.rs';
/** The one served and stored version. */
export const VERSION = 'v1alpha1';
/** `apiVersion` of every custom resource. */
export const API_VERSION = `${GROUP}/${VERSION}`;
/** Category that lists every kind at once: `kubectl get git-events`. */
export const CATEGORY = 'git-events';

function cel(...rules: Rule[]): {
  'x-kubernetes-validations': { rule: string; message: string }[];
} {
  return {
    'x-kubernetes-validations': rules.map(({ rule, message }) => ({
      rule,
      message,
    })),
  };
}

/** A string enum: a TypeScript union, and `enum` in the CRD. */
function StringEnum<const T extends readonly string[]>(
  values: T,
  options: { description?: string; default?: T[number] } = {},
) {
  // The cast keeps each literal's type, so Static<> is the union of the values rather than string.
  return Type.Union(values.map((v) => Type.Literal(v)) as TLiteral<T[number]>[], options);
}

const NonEmpty = (description: string) => Type.String({ minLength: 1, description });

// ---------------------------------------------------------------- sources

/**
 * `repoUri` pattern: the original's (scp-like `git@`, `ssh://`, `http(s)://`) plus `git://`.
 * `\w` is written out because CEL/RE2 and ECMAScript agree on character classes only when spelled.
 */
export const REPO_URI_PATTERN =
  '^git@[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+/[/A-Za-z0-9_.-]+$' +
  '|^ssh://([A-Za-z0-9_.-]+@)?[A-Za-z0-9_.-]+(:[0-9]{1,5})?(/([/A-Za-z0-9_.-]+)?)?$' +
  '|^git://[A-Za-z0-9_.-]+(:[0-9]{1,5})?(/([/A-Za-z0-9_.-]+)?)?$' +
  '|^https?://[A-Za-z0-9_.-]+(:[0-9]{1,5})?(/([/%&=?A-Za-z0-9_.-]+)?)?$';

/** A Secret's name: a DNS-1123 subdomain, as the API server requires of every Secret. */
export const SECRET_NAME_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** A namespace: a DNS-1123 label. */
export const NAMESPACE_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

const SecretRef = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: 253,
      pattern: SECRET_NAME_PATTERN,
      description: 'Name of the Secret.',
    }),
    namespace: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 63,
        pattern: NAMESPACE_PATTERN,
        description:
          'Namespace of the Secret. Only a ClusterGitRepo may name another namespace; a GitRepo always reads Secrets in its own namespace.',
      }),
    ),
  },
  { description: 'Reference to a Secret.' },
);

const TlsConfig = Type.Object(
  {
    noVerifySsl: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'Skip verification of the server certificate (unsafe).',
      }),
    ),
    caCert: Type.Optional(
      Type.Object(
        {
          secretRef: SecretRef,
          key: Type.Optional(
            Type.String({
              minLength: 1,
              default: 'ca.crt',
              description: 'Key of the CA bundle (PEM) in the Secret.',
            }),
          ),
        },
        {
          description: 'CA certificate(s) trusted in addition to the system roots.',
        },
      ),
    ),
  },
  { description: 'TLS settings for https:// repositories.' },
);

const AuthKeys = Type.Object(
  {
    username: Type.Optional(
      Type.String({
        minLength: 1,
        default: 'username',
        description: 'Key of the user name (type basic).',
      }),
    ),
    password: Type.Optional(
      Type.String({
        minLength: 1,
        default: 'password',
        description: 'Key of the password (type basic).',
      }),
    ),
    token: Type.Optional(
      Type.String({
        minLength: 1,
        default: 'token',
        description: 'Key of the token (type token): the whole value of the Authorization header.',
      }),
    ),
    privateKey: Type.Optional(
      Type.String({
        minLength: 1,
        default: 'ssh-privatekey',
        description: 'Key of the SSH private key (type ssh).',
      }),
    ),
    passphrase: Type.Optional(
      Type.String({
        minLength: 1,
        default: 'passphrase',
        description:
          'Key of the passphrase of an encrypted SSH private key (type ssh); used when present in the Secret.',
      }),
    ),
    knownHosts: Type.Optional(
      Type.String({
        minLength: 1,
        default: 'known_hosts',
        description: 'Key of the known_hosts lines that SSH host keys are verified against (type ssh).',
      }),
    ),
  },
  {
    description: 'Names of the keys in the Secret; each defaults independently.',
    default: {
      username: 'username',
      password: 'password',
      token: 'token',
      privateKey: 'ssh-privatekey',
      passphrase: 'passphrase',
      knownHosts: 'known_hosts',
    },
  },
);

const AuthConfig = Type.Object(
  {
    type: StringEnum(['basic', 'token', 'ssh'] as const, {
      description: 'Authentication method.',
    }),
    secretRef: SecretRef,
    keys: Type.Optional(AuthKeys),
    insecureIgnoreHostKey: Type.Optional(
      Type.Boolean({
        description:
          'Accept any SSH host key (type ssh). Unsafe: anyone on the network path can then serve code to the cluster. Prefer known_hosts in the Secret.',
      }),
    ),
  },
  { description: 'Credentials used to reach the repository.' },
);

/** What `verify.mode` checks. */
export const VERIFY_MODES = ['HEAD', 'TagAndHEAD'] as const;

const Verify = Type.Object(
  {
    secretRef: Type.Object(SecretRef.properties, {
      description:
        'Secret holding the trusted keys: the entry allowed_signers holds SSH signing keys in OpenSSH allowed_signers format; every other entry holds armored OpenPGP public keys (as Flux reads them).',
    }),
    mode: Type.Optional(
      StringEnum(VERIFY_MODES, {
        default: 'TagAndHEAD',
        description:
          'HEAD: the watched commit must be signed by a trusted key. TagAndHEAD (default): as HEAD, and when the reference is a tag (or a semver range) the tag must be an annotated tag signed by a trusted key too.',
      }),
    ),
  },
  {
    description:
      'Require signatures: a commit (or tag) not signed by a key of the Secret runs no Job; the trigger reports it (condition Ready, reason SignatureRefused, and an Event) and the cloner verifies again what it checks out.',
  },
);

const GitRepoSpec = Type.Object(
  {
    repoUri: Type.String({
      pattern: REPO_URI_PATTERN,
      maxLength: 2048,
      description: 'URI of the repository: https://, http://, ssh://, git:// or scp-like git@host:path.',
    }),
    tlsConfig: Type.Optional(TlsConfig),
    authConfig: Type.Optional(AuthConfig),
    verify: Type.Optional(Verify),
  },
  cel(authTypeFitsScheme),
);

// ---------------------------------------------------------------- triggers

const refRule = exactlyOneOf(['branch', 'tag', 'commit']);

const refFields = {
  branch: Type.Optional(NonEmpty('Branch name.')),
  tag: Type.Optional(NonEmpty('Tag name.')),
  commit: Type.Optional(
    Type.String({
      pattern: '^[0-9a-fA-F]{4,64}$',
      description: 'Commit hash.',
    }),
  ),
};

const gitRef = (options: { default?: { branch: string } } = {}) =>
  Type.Object(
    { ...refFields },
    {
      description: 'Exactly one of branch, tag or commit.',
      ...cel(refRule),
      ...options,
    },
  );
const GitRef = gitRef();

// What a trigger watches: a branch, a tag, a commit, or the newest tag within a semver range.
const watchRefRule = exactlyOneOf(['branch', 'tag', 'commit', 'semver']);
const WatchRef = Type.Object(
  {
    ...refFields,
    semver: Type.Optional(
      NonEmpty(
        'Semantic version range (npm syntax, e.g. ">=1.2.0 <2.0.0", "^1.4"): the newest tag named by a version in the range (a leading v allowed: v1.2.3), read with the same one ls-refs exchange; pre-releases only when the range names one.',
      ),
    ),
  },
  {
    description: 'Exactly one of branch, tag, commit or semver.',
    ...cel(watchRefRule),
    default: { branch: 'main' },
  },
);

const WatchOn = Type.Object(
  {
    onChangeOnly: Type.Optional(
      Type.Boolean({
        default: true,
        description: 'Run the action only when the watched content changed (true) or on every trigger run (false).',
      }),
    ),
    reference: Type.Optional(WatchRef),
    files: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        description: 'gitignore-style patterns: only changes to matching files count.',
      }),
    ),
  },
  {
    description: 'What to watch in each source.',
    default: { onChangeOnly: true, reference: { branch: 'main' } },
  },
);

const TriggerSources = Type.Object(
  {
    kind: Type.Optional(
      StringEnum(['GitRepo', 'ClusterGitRepo'] as const, {
        default: 'GitRepo',
        description: 'Kind of every source.',
      }),
    ),
    names: Type.Array(Type.String({ minLength: 1 }), {
      'x-kubernetes-list-type': 'set',
      description: 'Names of the sources (GitRepo in the trigger namespace, or ClusterGitRepo).',
    }),
    watchOn: Type.Optional(WatchOn),
  },
  { description: 'Sources to check.' },
);

const ActionRef = Type.Object(
  {
    kind: StringEnum(['Action', 'ClusterAction'] as const, {
      description: 'Kind of the action.',
    }),
    name: NonEmpty('Name of the action.'),
  },
  { description: 'The action to run when the trigger fires.' },
);

/** Units accepted in intervals (humantime's). */
export const INTERVAL_UNITS = [
  'nsec',
  'ns',
  'usec',
  'us',
  'µs',
  'msec',
  'ms',
  'seconds',
  'second',
  'sec',
  's',
  'minutes',
  'minute',
  'min',
  'm',
  'hours',
  'hour',
  'hr',
  'h',
  'days',
  'day',
  'd',
  'weeks',
  'week',
  'w',
  'months',
  'month',
  'M',
  'years',
  'year',
  'y',
] as const;

/** Syntactic shape of an interval: one or more `<number><unit>` groups. */
export const INTERVAL_PATTERN = `^ *([0-9]+ *(${INTERVAL_UNITS.join('|')}) *)+$`;

const Schedule = Type.Object(
  {
    interval: Type.Optional(
      Type.String({
        pattern: INTERVAL_PATTERN,
        description: 'Time between the end of one check and the start of the next, e.g. 30s, 5m, 1h30m.',
      }),
    ),
    cron: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Cron expression (5, 6 or 7 fields, optionally prefixed with TZ=<zone>).',
      }),
    ),
    timeZone: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: 'IANA time zone of the cron expression (default: UTC); a TZ= prefix in cron wins.',
      }),
    ),
  },
  {
    description: 'Exactly one of interval or cron.',
    ...cel(exactlyOneOf(['interval', 'cron'])),
  },
);

const WebhookAuth = Type.Object(
  {
    secretRef: Type.Object(
      { name: NonEmpty('Name of the Secret (in the trigger namespace).') },
      { description: 'Secret holding the token.' },
    ),
    key: NonEmpty('Key of the token in the Secret.'),
    header: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Request header carrying the token (default from the runtime config: x-trigger-auth).',
      }),
    ),
    provider: Type.Optional(
      StringEnum(['token', 'github', 'gitlab', 'gitea', 'bitbucket'] as const, {
        description:
          'How requests prove they know the secret (default token): token (the header equals it, as the original), github (X-Hub-Signature-256 HMAC-SHA256 of the body), gitlab (X-Gitlab-Token), gitea (X-Gitea-Signature HMAC-SHA256), bitbucket (Bitbucket Server X-Hub-Signature sha256=). Provider payloads then only hint which ref changed.',
      }),
    ),
  },
  { description: 'Authentication of webhook requests.' },
);

const Webhook = Type.Object(
  {
    multiSource: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'Allow POST /{namespace}/{trigger} to check every source at once.',
      }),
    ),
    authConfig: Type.Optional(WebhookAuth),
  },
  { description: 'Webhook settings.' },
);

const LastError = Type.Object(
  {
    reason: Type.String({ description: 'Stable reason, e.g. AuthFailed, Timeout, RefNotFound.' }),
    message: Type.String({ maxLength: 2048, description: 'What went wrong (never contains a secret).' }),
    time: Type.String({ description: 'When it happened (RFC 3339).' }),
  },
  { description: 'The last failed check of this source; absent after a successful one.' },
);

const LastJob = Type.Object(
  {
    name: Type.String({ description: 'Name of the Job.' }),
    commit: Type.Optional(Type.String({ description: 'Commit the Job runs.' })),
    phase: StringEnum(['Queued', 'Running', 'Succeeded', 'Failed', 'Expired', 'Deleted'] as const, {
      description: 'Phase of the Job.',
    }),
    startTime: Type.Optional(Type.String({ description: 'When the Job started.' })),
    completionTime: Type.Optional(Type.String({ description: 'When the Job ended.' })),
  },
  { description: 'The last Job started for this source.' },
);

const CheckedSource = Type.Object({
  commitHash: Type.Optional(Type.String({ description: 'Last commit seen.' })),
  resolvedTag: Type.Optional(Type.String({ description: 'With a semver reference: the tag that commit came from.' })),
  fileHash: Type.Optional(Type.String({ description: 'Hash of the watched files at that commit.' })),
  changed: Type.Optional(
    Type.String({
      description: 'When an action was last started for this source.',
    }),
  ),
  lastError: Type.Optional(LastError),
  lastJob: Type.Optional(LastJob),
});

const Condition = Type.Object(
  {
    type: Type.String({
      minLength: 1,
      maxLength: 316,
      description: 'Type of the condition, e.g. Ready.',
    }),
    status: StringEnum(['True', 'False', 'Unknown'] as const),
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
    lastTransitionTime: Type.String({ format: 'date-time' }),
    reason: Type.String({
      minLength: 1,
      maxLength: 1024,
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
    }),
    message: Type.String({ maxLength: 32768 }),
  },
  { description: 'Standard Kubernetes condition.' },
);

const TriggerStatus = Type.Object(
  {
    state: Type.Optional(
      StringEnum(['Idle', 'Running', 'WrongConfig'] as const, {
        description: 'Current trigger state.',
      }),
    ),
    lastRun: Type.Optional(
      Type.String({
        description: 'Time of the last run (RFC 3339), or Never.',
      }),
    ),
    checkedSources: Type.Optional(
      Type.Record(Type.String(), CheckedSource, {
        description: 'Per source: what was seen.',
      }),
    ),
    observedGeneration: Type.Optional(
      Type.Integer({
        minimum: 0,
        format: 'int64',
        description: 'Generation the status reflects.',
      }),
    ),
    conditions: Type.Optional(
      Type.Array(Condition, {
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['type'],
        maxItems: 16,
      }),
    ),
  },
  { description: 'Observed state of the trigger.' },
);

/**
 * A webhook request answered 202 whose check has not ended, as the replica that accepted it lists it in
 * the webhook journal (a ConfigMap in the controller's namespace, one key per task) until the check ends.
 * Not part of any CRD: the leader checks again the requests of replicas that stopped.
 */
export const WebhookJournalEntry = Type.Object(
  {
    task: Type.String({
      minLength: 1,
      maxLength: 64,
      pattern: '^[-._a-zA-Z0-9]+$',
      description: 'The task_id the request was answered with (also its key in the journal).',
    }),
    namespace: Type.String({ minLength: 1, maxLength: 63, description: "The trigger's namespace." }),
    trigger: Type.String({ minLength: 1, maxLength: 253, description: 'The WebhookTrigger.' }),
    source: Type.Optional(
      Type.String({ maxLength: 253, description: 'The source the request named; absent: every source.' }),
    ),
    runKey: Type.String({
      minLength: 1,
      maxLength: 256,
      description: 'Names the Job of the run (with onChangeOnly: false); a replay creates the same Job.',
    }),
    acceptedAt: Type.String({ format: 'date-time', description: 'When the request was accepted (RFC 3339).' }),
    replica: Type.String({ maxLength: 253, description: 'Identity of the controller replica that accepted it.' }),
  },
  { additionalProperties: false, description: 'A webhook request answered 202 whose check has not ended yet.' },
);

const triggerControls = {
  suspend: Type.Optional(
    Type.Boolean({
      default: false,
      description: 'Stop scheduled checks (webhooks are refused) until set back to false.',
    }),
  ),
  concurrencyPolicy: Type.Optional(
    StringEnum(['Allow', 'Forbid', 'Replace'] as const, {
      default: 'Allow',
      description:
        'What to do when a Job for the same trigger and source is still active: Allow another, Forbid a new one (the change stays pending), or Replace the active one.',
    }),
  ),
};

const ScheduleTriggerSpec = Type.Object({
  sources: TriggerSources,
  schedule: Schedule,
  action: ActionRef,
  ...triggerControls,
  startingDeadlineSeconds: Type.Optional(
    Type.Integer({
      minimum: 0,
      format: 'int64',
      description:
        'A run missed while no controller was leading still runs if it is at most this late; without it a missed run always runs (once).',
    }),
  ),
});

const WebhookTriggerSpec = Type.Object({
  sources: TriggerSources,
  action: ActionRef,
  webhook: Webhook,
  ...triggerControls,
});

// ---------------------------------------------------------------- actions

const Toleration = Type.Object({
  key: Type.Optional(Type.String()),
  operator: Type.Optional(Type.String()),
  value: Type.Optional(Type.String()),
  effect: Type.Optional(Type.String()),
  tolerationSeconds: Type.Optional(Type.Integer({ format: 'int64' })),
});

/** Free-form core/v1 object; kube-apiserver validates it when the Job is created. */
const Embedded = (description: string) =>
  Type.Record(Type.String(), Type.Unknown(), {
    'x-kubernetes-preserve-unknown-fields': true,
    description,
  });

const StringMap = (description: string) => Type.Record(Type.String(), Type.String(), { description });

const ActionJob = Type.Object(
  {
    workdir: Type.Optional(
      Type.String({
        description:
          'Absolute path where the repository is cloned and the worker starts (default from the runtime config: /action_workdir).',
      }),
    ),
    clonerImage: Type.Optional(Type.String({ description: 'Image of the cloner init container.' })),
    actionImage: Type.Optional(Type.String({ description: 'Image of the worker container.' })),
    args: Type.Optional(
      Type.Array(Type.String(), {
        description: 'Arguments of the worker container.',
      }),
    ),
    command: Type.Optional(
      Type.Array(Type.String(), {
        description: 'Entrypoint of the worker container.',
      }),
    ),
    serviceAccount: Type.Optional(Type.String({ description: 'Service account the Job runs as.' })),
    annotations: Type.Optional(StringMap('Annotations added to the Job and its Pod.')),
    labels: Type.Optional(StringMap('Labels added to the Job and its Pod.')),
    tolerations: Type.Optional(Type.Array(Toleration, { description: 'Pod tolerations.' })),
    affinity: Type.Optional(Embedded('Pod affinity (core/v1 Affinity).')),
    nodeSelector: Type.Optional(StringMap('Pod node selector.')),
    ttlSecondsAfterFinished: Type.Optional(
      Type.Integer({
        minimum: 0,
        format: 'int32',
        description: 'Job TTL after it finished.',
      }),
    ),
    activeDeadlineSeconds: Type.Optional(
      Type.Integer({
        minimum: 1,
        format: 'int64',
        description: 'Job active deadline.',
      }),
    ),
    jobWaitingTimeoutSeconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        format: 'int64',
        description: 'How long the Job may wait in the queue.',
      }),
    ),
    enableClonerDebug: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'Verbose logs in the cloner.',
      }),
    ),
    preserveGitFolder: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'Keep the .git folder in the worker workdir.',
      }),
    ),
  },
  {
    description: 'How the Job is built.',
    default: { enableClonerDebug: false, preserveGitFolder: false },
  },
);

function sourceOverride<const K extends readonly string[]>(kinds: K) {
  return Type.Object(
    {
      kind: StringEnum(kinds, {
        description: 'Kind of the source to clone instead of the trigger source.',
      }),
      name: NonEmpty('Name of the source.'),
      reference: GitRef,
    },
    { description: 'Clone this source instead of the one that fired.' },
  );
}

const ActionSpec = Type.Object({
  sourceOverride: Type.Optional(sourceOverride(['GitRepo', 'ClusterGitRepo'] as const)),
  actionJob: Type.Optional(ActionJob),
});

const ClusterActionSpec = Type.Object({
  sourceOverride: Type.Optional(sourceOverride(['ClusterGitRepo'] as const)),
  actionJob: Type.Optional(ActionJob),
});

// ---------------------------------------------------------------- kinds

/** Printer column of a CRD. */
export interface PrinterColumn {
  readonly name: string;
  readonly type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  readonly jsonPath: string;
  readonly description?: string;
  readonly priority?: number;
}

/** Everything needed to generate one CRD and to validate its objects. */
export interface KindDefinition {
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  readonly scope: 'Namespaced' | 'Cluster';
  readonly spec: TSchema;
  readonly status?: TSchema;
  readonly printerColumns: readonly PrinterColumn[];
}

const age: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
};
const sourceColumns: PrinterColumn[] = [
  {
    name: 'URI',
    type: 'string',
    jsonPath: '.spec.repoUri',
    description: 'Repository URI',
  },
  {
    name: 'Auth',
    type: 'string',
    jsonPath: '.spec.authConfig.type',
    description: 'Authentication type',
  },
  age,
];
const triggerColumns: PrinterColumn[] = [
  {
    name: 'State',
    type: 'string',
    jsonPath: '.status.state',
    description: 'Current trigger state',
  },
  {
    name: 'Ready',
    type: 'string',
    jsonPath: '.status.conditions[?(@.type=="Ready")].status',
    description: 'Ready condition',
  },
  {
    name: 'Last Run',
    type: 'date',
    jsonPath: '.status.lastRun',
    description: 'Time of the last trigger run',
  },
  {
    name: 'Action',
    type: 'string',
    jsonPath: '.spec.action.name',
    description: 'Action run by the trigger',
    priority: 1,
  },
  {
    name: 'Reason',
    type: 'string',
    jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
    priority: 1,
  },
  age,
];
const scheduleTriggerColumns: PrinterColumn[] = [
  ...triggerColumns.slice(0, 3),
  {
    name: 'Interval',
    type: 'string',
    jsonPath: '.spec.schedule.interval',
    description: 'Check interval',
    priority: 1,
  },
  {
    name: 'Cron',
    type: 'string',
    jsonPath: '.spec.schedule.cron',
    description: 'Cron schedule',
    priority: 1,
  },
  ...triggerColumns.slice(3),
];
const actionColumns: PrinterColumn[] = [
  {
    name: 'Image',
    type: 'string',
    jsonPath: '.spec.actionJob.actionImage',
    description: 'Worker image (empty: default)',
  },
  {
    name: 'Service Account',
    type: 'string',
    jsonPath: '.spec.actionJob.serviceAccount',
  },
  age,
];

/** The six kinds, in the order `git-events-runner crds` prints them. */
export const KINDS = [
  {
    kind: 'GitRepo',
    plural: 'gitrepos',
    singular: 'gitrepo',
    shortNames: ['grepo'],
    scope: 'Namespaced',
    spec: GitRepoSpec,
    printerColumns: sourceColumns,
  },
  {
    kind: 'ClusterGitRepo',
    plural: 'clustergitrepos',
    singular: 'clustergitrepo',
    shortNames: ['cgrepo'],
    scope: 'Cluster',
    spec: GitRepoSpec,
    printerColumns: sourceColumns,
  },
  {
    kind: 'ScheduleTrigger',
    plural: 'scheduletriggers',
    singular: 'scheduletrigger',
    shortNames: ['strig'],
    scope: 'Namespaced',
    spec: ScheduleTriggerSpec,
    status: TriggerStatus,
    printerColumns: scheduleTriggerColumns,
  },
  {
    kind: 'WebhookTrigger',
    plural: 'webhooktriggers',
    singular: 'webhooktrigger',
    shortNames: ['wtrig'],
    scope: 'Namespaced',
    spec: WebhookTriggerSpec,
    status: TriggerStatus,
    printerColumns: triggerColumns,
  },
  {
    kind: 'Action',
    plural: 'actions',
    singular: 'action',
    shortNames: ['gact'],
    scope: 'Namespaced',
    spec: ActionSpec,
    printerColumns: actionColumns,
  },
  {
    kind: 'ClusterAction',
    plural: 'clusteractions',
    singular: 'clusteraction',
    shortNames: ['cgact'],
    scope: 'Cluster',
    spec: ClusterActionSpec,
    printerColumns: actionColumns,
  },
] as const satisfies readonly KindDefinition[];

/** Name of one of the six kinds. */
export type KindName = (typeof KINDS)[number]['kind'];

/** Spec types, derived from the schema. */
export type GitRepoSpec = Static<typeof GitRepoSpec>;
/** A source's `verify` setting. */
export type VerifySpec = Static<typeof Verify>;
export type ScheduleTriggerSpec = Static<typeof ScheduleTriggerSpec>;
export type WebhookTriggerSpec = Static<typeof WebhookTriggerSpec>;
export type ActionSpec = Static<typeof ActionSpec>;
export type ClusterActionSpec = Static<typeof ClusterActionSpec>;
export type TriggerStatus = Static<typeof TriggerStatus>;
export type WebhookJournalEntry = Static<typeof WebhookJournalEntry>;
export type GitRef = Static<typeof GitRef>;
/** What a trigger watches: a GitRef, or the newest tag within a semver range. */
export type WatchRef = Static<typeof WatchRef>;
export type TriggerCondition = Static<typeof Condition>;
export type CheckedSource = Static<typeof CheckedSource>;
export type LastJob = Static<typeof LastJob>;
export type LastError = Static<typeof LastError>;

/**
 * Cross-field rules of the custom resources. Each rule is written once, as a CEL expression that
 * kube-apiserver enforces (`x-kubernetes-validations`) and as a TypeScript predicate with the same
 * meaning, so that objects validated outside the API server (admission, tests, the kubectl plugin)
 * get the same verdict and the same message.
 */
export interface Rule {
  /** CEL expression evaluated by kube-apiserver with `self` bound to the object carrying the rule. */
  readonly rule: string;
  /** Message shown by kube-apiserver and by the runtime validator; it names the fields involved. */
  readonly message: string;
  /** Same meaning as `rule`, for validation outside the API server. */
  readonly check: (self: Record<string, unknown>) => boolean;
}

/** The CEL part of a rule, as it appears in a CRD. */
export type CelRule = Omit<Rule, 'check'>;

const registry = new Map<string, Rule>();

function define(rule: Rule): Rule {
  registry.set(rule.rule, rule);
  return rule;
}

/** Looks up the TypeScript predicate of a CEL rule found in a schema. */
export function ruleFor(cel: string): Rule | undefined {
  return registry.get(cel);
}

/** A rule that exactly one of `fields` is set on the object. */
export function exactlyOneOf(fields: readonly string[]): Rule {
  const list =
    fields.length === 2 ? `${fields[0]} or ${fields[1]}` : `${fields.slice(0, -1).join(', ')} or ${fields.at(-1)}`;
  return define({
    rule: `${fields.map((f) => `(has(self.${f}) ? 1 : 0)`).join(' + ')} == 1`,
    message: `exactly one of ${list} must be set`,
    check: (self) => fields.filter((f) => self[f] !== undefined && self[f] !== null).length === 1,
  });
}

const sshPrefixes = ['ssh://', 'git@'] as const;
const httpPrefixes = ['https://', 'http://'] as const;

function startsWithAny(value: unknown, prefixes: readonly string[]): boolean {
  return typeof value === 'string' && prefixes.some((p) => value.startsWith(p));
}

/** authConfig.type must fit the scheme of repoUri: ssh keys for ssh, basic/token for http(s). */
export const authTypeFitsScheme: Rule = define({
  rule: "!has(self.authConfig) || (self.authConfig.type == 'ssh' ? (self.repoUri.startsWith('ssh://') || self.repoUri.startsWith('git@')) : (self.repoUri.startsWith('https://') || self.repoUri.startsWith('http://')))",
  message:
    'authConfig.type does not fit repoUri: type ssh needs an ssh:// or git@ URI, types basic and token need an http:// or https:// URI (git:// is anonymous only)',
  check: (self) => {
    const auth = self.authConfig as { type?: unknown } | undefined;
    if (auth === undefined || auth === null) return true;
    return auth.type === 'ssh' ? startsWithAny(self.repoUri, sshPrefixes) : startsWithAny(self.repoUri, httpPrefixes);
  },
});

import { GROUP } from '@git-events-runner/shared';
import { PluginError } from '../errors.js';
import { TRIGGER_KINDS, type TriggerKind } from './types.js';

const ALIASES: Readonly<Record<TriggerKind, readonly string[]>> = {
  ScheduleTrigger: ['scheduletrigger', 'scheduletriggers', 'strig', 'schedule'],
  WebhookTrigger: ['webhooktrigger', 'webhooktriggers', 'wtrig', 'webhook'],
};

/** A TRIGGER argument: `NAME`, or `KIND/NAME` with a kind as kubectl spells it (`wtrig/deploy`). */
export interface TriggerName {
  /** The kinds the name may be (both when no kind is given). */
  readonly kinds: readonly TriggerKind[];
  readonly name: string;
}

/**
 * Parses a TRIGGER argument.
 * @throws PluginError `Usage` naming the value.
 */
export function parseTriggerName(text: string): TriggerName {
  const slash = text.indexOf('/');
  const kindText = slash < 0 ? undefined : text.slice(0, slash).toLowerCase();
  const name = slash < 0 ? text : text.slice(slash + 1);
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name) || name.length > 253)
    throw new PluginError('Usage', `invalid trigger name "${text}": expected NAME or KIND/NAME, e.g. wtrig/deploy`);
  if (kindText === undefined) return { kinds: TRIGGER_KINDS, name };
  const bare = kindText.endsWith(`.${GROUP}`) ? kindText.slice(0, -GROUP.length - 1) : kindText;
  const kind = TRIGGER_KINDS.find((k) => ALIASES[k].includes(bare));
  if (kind === undefined)
    throw new PluginError(
      'Usage',
      `unknown trigger kind "${kindText}" in "${text}": use scheduletrigger (strig) or webhooktrigger (wtrig)`,
    );
  return { kinds: [kind], name };
}

/** `scheduletrigger.git-events-runner.rs/NAME`, as kubectl names objects in its messages. */
export function qualifiedName(kind: TriggerKind, name: string): string {
  return `${kind.toLowerCase()}.${GROUP}/${name}`;
}

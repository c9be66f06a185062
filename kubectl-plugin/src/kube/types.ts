import type { ScheduleTriggerSpec, TriggerStatus, WebhookTriggerSpec } from '@git-events-runner/shared';

/** The two trigger kinds the plugin shows and fires. */
export const TRIGGER_KINDS = ['ScheduleTrigger', 'WebhookTrigger'] as const;
/** One of TRIGGER_KINDS. */
export type TriggerKind = (typeof TRIGGER_KINDS)[number];

/** Plural resource names, as the API server serves them. */
export const PLURALS: Readonly<Record<TriggerKind, string>> = {
  ScheduleTrigger: 'scheduletriggers',
  WebhookTrigger: 'webhooktriggers',
};

/** The metadata fields the plugin reads. */
export interface Meta {
  readonly name: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly generation?: number;
  readonly creationTimestamp?: string;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly labels?: Readonly<Record<string, string>>;
}

/** A ScheduleTrigger as read from the API server. */
export interface ScheduleTriggerObject {
  readonly kind: 'ScheduleTrigger';
  readonly metadata: Meta;
  readonly spec: ScheduleTriggerSpec;
  readonly status?: TriggerStatus;
}

/** A WebhookTrigger as read from the API server. */
export interface WebhookTriggerObject {
  readonly kind: 'WebhookTrigger';
  readonly metadata: Meta;
  readonly spec: WebhookTriggerSpec;
  readonly status?: TriggerStatus;
}

/** Either trigger. */
export type TriggerObject = ScheduleTriggerObject | WebhookTriggerObject;

/** Phases of an action Job, the controller's words (`Deleted`: gone before it finished). */
export type JobPhase = 'Queued' | 'Running' | 'Succeeded' | 'Failed' | 'Expired' | 'Deleted';

/** What the plugin shows of an action Job. */
export interface JobInfo {
  readonly name: string;
  readonly namespace: string;
  readonly phase: JobPhase;
  readonly triggerUid?: string;
  readonly source?: string;
  readonly commit?: string;
  readonly created?: string;
  readonly startTime?: string;
  readonly completionTime?: string;
  /** Why it failed, from its Failed condition. */
  readonly message?: string;
}

/** What the plugin shows of an Event. */
export interface EventInfo {
  readonly type: string;
  readonly reason: string;
  readonly message: string;
  readonly count: number;
  /** When it was last seen (RFC 3339), if known. */
  readonly lastSeen?: string;
}

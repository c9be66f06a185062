// Reading kube-apiserver's JSON audit log (pure): when objects were created, to the microsecond the log
// gives, as wall-clock milliseconds a benchmark can compare with its own clock.

/** An audit timestamp (RFC 3339 with up to nanoseconds, UTC) in wall-clock milliseconds; NaN otherwise. */
export function auditMillis(stamp: string): number {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d{1,9})?Z$/.exec(stamp);
  if (m === null || m[1] === undefined) return Number.NaN;
  return Date.parse(`${m[1]}Z`) + Number(`0${m[2] ?? ''}`) * 1000;
}

/** When the API server received a create and when it completed it (wall-clock ms). */
export interface Creation {
  readonly received: number;
  readonly completed: number;
}

/**
 * Name -> when its create was received and completed, for every successful create (201, stage
 * ResponseComplete) in `log` that names the object: `objectRef.name` (the API server fills it from the
 * created object at audit level Metadata and above), else the request body's name (level Request). Lines
 * that are not audit events are skipped: the log may end in a line still being written.
 */
export function createdAt(log: string): Map<string, Creation> {
  const out = new Map<string, Creation>();
  for (const line of log.split('\n')) {
    let e: {
      verb?: string;
      stage?: string;
      stageTimestamp?: string;
      requestReceivedTimestamp?: string;
      responseStatus?: { code?: number };
      objectRef?: { name?: string };
      requestObject?: { metadata?: { name?: string } };
    };
    try {
      e = JSON.parse(line) as typeof e;
    } catch {
      continue;
    }
    const name = e?.objectRef?.name || e?.requestObject?.metadata?.name;
    if (e?.verb !== 'create' || e.stage !== 'ResponseComplete' || e.responseStatus?.code !== 201) continue;
    if (name === undefined || e.stageTimestamp === undefined) continue;
    const completed = auditMillis(e.stageTimestamp);
    const received = auditMillis(e.requestReceivedTimestamp ?? '');
    if (Number.isFinite(completed) && Number.isFinite(received)) out.set(name, { received, completed });
  }
  return out;
}

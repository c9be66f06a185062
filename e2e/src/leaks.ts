import { GROUP, VERSION } from '@git-events-runner/shared';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';

/** Text to search for secret values, and where it came from. */
export interface Haystack {
  readonly where: string;
  readonly text: string;
}

const responses: Haystack[] = [];
const MAX_RESPONSES = 5000;
const MAX_RESPONSE_CHARS = 64 * 1024;

/**
 * Records the bodies of the HTTP responses this test process receives through the global fetch (the
 * tests talk to the webhook server, the admission server and probes with it), for the secret-leak
 * check. The most recent 5,000 responses are kept, each up to 64 KiB. Idempotent.
 */
export function recordHttpResponses(): void {
  const g = globalThis as { fetch: typeof fetch; __gerFetchRecorded?: boolean };
  if (g.__gerFetchRecorded === true) return;
  g.__gerFetchRecorded = true;
  const original = g.fetch;
  g.fetch = async (input, init) => {
    const res = await original(input, init);
    const url = input instanceof Request ? input.url : String(input);
    res
      .clone()
      .text()
      .then(
        (text) => {
          responses.push({
            where: `HTTP response of ${init?.method ?? 'GET'} ${url}`,
            text: text.slice(0, MAX_RESPONSE_CHARS),
          });
          if (responses.length > MAX_RESPONSES) responses.splice(0, responses.length - MAX_RESPONSES);
        },
        () => undefined,
      );
    return res;
  };
}

/** The HTTP responses recorded by recordHttpResponses(). */
export function httpResponses(): readonly Haystack[] {
  return responses;
}

/** A secret value found where it must not be: names the Secret and key, never the value. */
export interface Leak {
  readonly secret: string;
  readonly where: string;
}

// Keys of public material (host keys, certificates) and of names that are not secret.
const PUBLIC_KEYS = /^(known_hosts|ca\.crt|tls\.crt|ca-bundle\.crt|username|.*\.pub)$/;
// Short values (a user name, "true") would match by chance.
const MIN_LENGTH = 8;

/** Secret values (decoded) of every Secret in the cluster, except public material and short values. */
export async function secretValues(kc: KubeConfig): Promise<Map<string, string>> {
  const values = new Map<string, string>();
  const list = await kc.makeApiClient(CoreV1Api).listSecretForAllNamespaces();
  for (const secret of list.items) {
    for (const [key, encoded] of Object.entries(secret.data ?? {})) {
      if (PUBLIC_KEYS.test(key)) continue;
      const value = Buffer.from(encoded, 'base64').toString('utf8').trim();
      if (value.length < MIN_LENGTH) continue;
      values.set(value, `${secret.metadata?.namespace}/${secret.metadata?.name} key ${key}`);
      // A PEM private key leaks as soon as one of its base64 lines does.
      for (const line of value.split('\n'))
        if (line.length >= 40 && !line.startsWith('-----'))
          values.set(line, `${secret.metadata?.namespace}/${secret.metadata?.name} key ${key}`);
    }
  }
  return values;
}

/** The Events and the status of every git-events-runner object in the cluster, as text. */
export async function clusterHaystacks(kc: KubeConfig): Promise<Haystack[]> {
  const out: Haystack[] = [];
  const events = await kc.makeApiClient(CoreV1Api).listEventForAllNamespaces();
  out.push({ where: 'Events', text: JSON.stringify(events.items.map((e) => [e.reason, e.message])) });
  const custom = kc.makeApiClient(CustomObjectsApi);
  for (const plural of [
    'scheduletriggers',
    'webhooktriggers',
    'gitrepos',
    'clustergitrepos',
    'actions',
    'clusteractions',
  ]) {
    let list: { items: { status?: unknown }[] };
    try {
      list = await listWithRetry(() => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural }));
    } catch (err: unknown) {
      // A test that removed the CRDs (a Helm uninstall test) leaves no such objects to check.
      if ((err as { code?: unknown }).code === 404) continue;
      throw new Error(
        `cannot list ${plural} for the secret-leak check: ${String((err as { code?: unknown }).code)} ${(err as Error).message?.split('\n')[0]}`,
        { cause: err },
      );
    }
    out.push({ where: `status of ${plural}`, text: JSON.stringify(list.items.map((i) => i.status ?? null)) });
  }
  return out;
}

// A CRD whose storage is (re)initializing (just created or updated by a test) answers 429 for a moment.
async function listWithRetry<T>(list: () => Promise<unknown>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return (await list()) as T;
    } catch (err: unknown) {
      if ((err as { code?: unknown }).code !== 429 || attempt >= 50) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Where each secret value appears in the haystacks. */
export function findLeaks(values: ReadonlyMap<string, string>, haystacks: readonly Haystack[]): Leak[] {
  const leaks: Leak[] = [];
  for (const h of haystacks) {
    for (const [value, secret] of values) if (h.text.includes(value)) leaks.push({ secret, where: h.where });
  }
  return leaks;
}

import { API_VERSION } from '@git-events-runner/shared';
import type { V1Job } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import type { AppCluster } from './app-cluster.js';
import { eventually } from './harness.js';

/** The concurrencyPolicy tests' triggers, and how they fire them and count their Jobs. */
export interface PolicyTriggers {
  /** One delivery to each of `bases` (a replica's webhook base URL; repeat one for several) at once; resolves when every check ended. */
  burst(trigger: 'forbid' | 'replace', bases: readonly string[]): Promise<void>;
  /** The trigger's Jobs in the API server, those being deleted left out. */
  jobsOf(trigger: 'forbid' | 'replace'): Promise<V1Job[]>;
}

/**
 * In namespace `ns` of an app cluster: a GitRepo on `app`, an Action, and the WebhookTriggers `forbid`
 * and `replace` with those policies, each delivery a run of its own (onChangeOnly false).
 */
export async function policyTriggers(plane: AppCluster, ns: string): Promise<PolicyTriggers> {
  const { core, kubectl, batch, servers } = plane;
  await core.createNamespace({ body: { metadata: { name: ns } } });
  const obj = (kind: string, name: string, spec: unknown) =>
    stringify({ apiVersion: API_VERSION, kind, metadata: { name, namespace: ns }, spec });
  const trigger = (policy: 'Forbid' | 'Replace') => ({
    concurrencyPolicy: policy,
    sources: { names: ['app'], watchOn: { onChangeOnly: false, reference: { branch: 'main' } } },
    action: { kind: 'Action', name: 'act' },
    webhook: { multiSource: false },
  });
  await kubectl(
    ['apply', '-f', '-'],
    [
      obj('GitRepo', 'app', { repoUri: servers.urls.http('app') }),
      obj('Action', 'act', {}),
      obj('WebhookTrigger', 'forbid', trigger('Forbid')),
      obj('WebhookTrigger', 'replace', trigger('Replace')),
    ].join('---\n'),
  );
  return {
    async burst(name, bases) {
      const sent = await Promise.all(
        bases.map(async (base) => {
          const res = await fetch(`${base}/${ns}/${name}/app`, { method: 'POST' });
          const body = (await res.json()) as { task_id?: string };
          if (res.status !== 202 || body.task_id === undefined) throw new Error(`webhook answered ${res.status}`);
          return { base, id: body.task_id };
        }),
      );
      for (const { base, id } of sent) {
        const end = await eventually(
          () => fetch(`${base}/tasks/${id}`).then((r) => r.json() as Promise<{ state?: string }>),
          (s) => s.state === 'Succeeded' || s.state === 'Failed',
          30_000,
          // Checks end within milliseconds here; a thousand rounds should not wait 100 ms each.
          5,
        );
        if (end.state !== 'Succeeded') throw new Error(`a check did not succeed: ${JSON.stringify(end)}`);
      }
    },
    async jobsOf(name) {
      return (await batch.listNamespacedJob({ namespace: ns })).items.filter(
        (j) =>
          j.metadata?.labels?.['git-events-runner.rs/trigger-name'] === name &&
          j.metadata.deletionTimestamp === undefined,
      );
    },
  };
}

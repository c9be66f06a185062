import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { JOB_ANNOTATIONS, JOB_LABELS } from '@git-events-runner/shared';
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import type { NodeCluster } from './node-cluster.js';
import { run } from './tools.js';

// What the real-node tests ask of the action Jobs a controller made: find a trigger's Jobs, wait for one
// to finish, read its Pod and its containers' logs.

/** Whether a Job has ended (Complete or Failed). */
export function finished(job: V1Job): boolean {
  return (job.status?.conditions ?? []).some(
    (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
  );
}

/** Whether a Job's one Pod succeeded. */
export function succeeded(job: V1Job): boolean {
  return (job.status?.succeeded ?? 0) === 1;
}

/** The Jobs of one trigger, and what ran in them. */
export interface NodeJobs {
  /** The Jobs of a trigger in `namespace`, oldest first. */
  jobsOf(namespace: string, trigger: string): Promise<V1Job[]>;
  /**
   * Waits for the trigger's first finished Job (of `commit`, when given: the annotation of the commit the
   * check saw) and returns it; throws with the node's diagnostics after `timeoutMs`.
   */
  jobFor(namespace: string, trigger: string, commit?: string, timeoutMs?: number): Promise<V1Job>;
  /** The Job's Pod (the first, as the Jobs run one Pod and never retry). */
  podOf(job: V1Job): Promise<V1Pod>;
  /** The standard output of `kubectl logs` for one container of the Job's Pod. */
  logsOf(job: V1Job, container: string): Promise<string>;
  /** Both containers' logs (or why kubectl has none), for a failed assertion to show. */
  podLogs(job: V1Job): Promise<string>;
}

/** Helpers over the Jobs of `cluster`. */
export function nodeJobs(
  cluster: Pick<NodeCluster, 'batch' | 'core' | 'binDir' | 'kubeconfig' | 'diagnostics'>,
): NodeJobs {
  const jobsOf = async (namespace: string, trigger: string): Promise<V1Job[]> => {
    const list = await cluster.batch.listNamespacedJob({ namespace });
    return list.items
      .filter((j) => j.metadata?.labels?.[JOB_LABELS.triggerName] === trigger)
      .sort((a, b) => String(a.metadata?.creationTimestamp).localeCompare(String(b.metadata?.creationTimestamp)));
  };
  const kubectlLogs = (job: V1Job, container: string) =>
    run(join(cluster.binDir, 'kubectl'), [
      '--kubeconfig',
      cluster.kubeconfig,
      'logs',
      '-n',
      job.metadata?.namespace ?? '',
      `job/${job.metadata?.name}`,
      '-c',
      container,
    ]);
  return {
    jobsOf,
    async jobFor(namespace, trigger, commit, timeoutMs = 180_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const job = (await jobsOf(namespace, trigger)).find(
          (j) => (commit === undefined || j.metadata?.annotations?.[JOB_ANNOTATIONS.commit] === commit) && finished(j),
        );
        if (job !== undefined) return job;
        if (Date.now() > deadline) {
          throw new Error(
            `no finished Job of ${namespace}/${trigger}${commit === undefined ? '' : ` for ${commit}`}\n${await cluster.diagnostics()}`,
          );
        }
        await sleep(1000);
      }
    },
    async podOf(job) {
      const namespace = job.metadata?.namespace ?? '';
      const pods = await cluster.core.listNamespacedPod({ namespace, labelSelector: `job-name=${job.metadata?.name}` });
      const pod = pods.items[0];
      if (pod === undefined) throw new Error(`Job ${namespace}/${job.metadata?.name} has no Pod`);
      return pod;
    },
    logsOf: async (job, container) => (await kubectlLogs(job, container)).stdout,
    async podLogs(job) {
      const parts: string[] = [];
      for (const container of ['action-cloner', 'action-worker']) {
        const r = await kubectlLogs(job, container);
        parts.push(`${container}:\n${r.stdout}${r.code === 0 ? '' : `(kubectl logs: ${r.stderr.trim()})\n`}`);
      }
      return parts.join('');
    },
  };
}

import { chmod, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { API_VERSION } from '@git-events-runner/shared';
import { stringify } from 'yaml';
import { type AdmissionProcess, mintAdmissionKubeconfig, startAdmissionProcess } from './admission-process.js';
import { startControlPlane } from './control-plane.js';
import { type ControllerProcess, startControllerProcess } from './controller-process.js';
import { createGitFixtures, runGitOk } from './git-fixtures.js';
import { startGitHttpServer } from './git-http.js';
import { ensureImages } from './images.js';
import { installCrds, kubectlOk } from './kube.js';
import { createNodeNetwork, nodeSupport, startNode } from './node.js';
import { ensureTools, repoRoot } from './tools.js';
import { addLoopbackAddress, exposeWebhookService, WEBHOOK_SERVICE } from './webhook-service.js';

/** What `npm run dev` started, for its printout and for tests. */
export interface DevEnvironment {
  readonly kubeconfig: string;
  /** Directory with `kubectl` and `kubectl-git_events`, to put first on PATH. */
  readonly binDir: string;
  /** A clone of the demo repository: commit and `git push` there to make a change. */
  readonly workTree: string;
  readonly webhookUrl: string;
  readonly webhookToken: string;
  /**
   * Whether `kubectl git-events fire` works without --url: the chart's webhook Service leads to the
   * controller process (it needs an address on lo, so root).
   */
  readonly webhookService: boolean;
  readonly utilityUrl: string;
  /** Whether a real node runs the Jobs (`--no-node` turns it off). */
  readonly node: boolean;
  /** Stops everything (controller, admission server, git server, control plane), in that order. */
  stop(): Promise<void>;
}

const NAMESPACE = 'demo';
const TOKEN = 'demo-webhook-token';

/**
 * The main job on the embedded local control plane: kube-apiserver + etcd, the CRDs, the admission
 * server with its webhooks, the controller, a demo repository served by git http-backend, and the seed's
 * example resources adapted to it (a ScheduleTrigger with a short interval, a WebhookTrigger with a token).
 */
export async function startDev(
  stateDir: string,
  log: (m: string) => void,
  options: { readonly node?: boolean } = {},
): Promise<DevEnvironment> {
  const withNode = options.node !== false;
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => undefined);
  };
  try {
    await rm(stateDir, { recursive: true, force: true });
    await mkdir(stateDir, { recursive: true });
    const toolsBin = await ensureTools();
    if (withNode) {
      const why = nodeSupport(toolsBin);
      if (why !== undefined) {
        throw new Error(
          `no real node can run here: ${why}.\nRun "npm run dev -- --no-node" for the control plane without a node (Jobs are then created but never run).`,
        );
      }
    }
    const network = withNode ? await createNodeNetwork() : undefined;
    if (network !== undefined) stops.push(() => network.remove());
    const plane = await startControlPlane({
      binDir: toolsBin,
      dir: join(stateDir, 'cluster'),
      log,
      ...(network && { network }),
    });
    stops.push(() => plane.stop());
    if (network !== undefined) {
      log('building the images (cached by content; the first build takes about a minute)');
      const images = await ensureImages(toolsBin);
      const node = await startNode(plane, network, { binDir: toolsBin, images: images.values(), log });
      stops.push(() => node.stop());
    }
    await installCrds(toolsBin, plane.kubeconfig);
    log('CRDs installed');

    // The demo repository and a clone to change it from.
    const reposDir = join(stateDir, 'repos');
    const fixtures = createGitFixtures(reposDir);
    await fixtures.create('demo');
    await fixtures.commit(
      'demo',
      {
        'deploy.sh': {
          content: '#!/bin/sh\necho "deploying $TRIGGER_SOURCE_COMMIT of $TRIGGER_SOURCE_NAME from $1"\nls -l "$1"\n',
          executable: true,
        },
        'chart/values.yaml': 'replicas: 1\n',
      },
      'demo: first commit',
    );
    const workTree = join(stateDir, 'work');
    await runGitOk(['clone', '--quiet', fixtures.path('demo'), workTree]);
    // So the printed `git commit` works on a machine without a git identity.
    await runGitOk(['-C', workTree, 'config', 'user.name', 'Demo User']);
    await runGitOk(['-C', workTree, 'config', 'user.email', 'demo@git-events-runner.local']);
    // On the node's link when there is one: the Jobs' cloner reaches this host there.
    const git = await startGitHttpServer({ root: reposDir, ...(network && { host: network.hostIp }) });
    stops.push(() => git.stop());
    log(`demo repository served at ${git.url('demo')}`);

    // Admission first: every resource below goes through it.
    const teardowns: (() => Promise<void>)[] = [];
    const admission: AdmissionProcess = await startAdmissionProcess(
      { teardown: (fn) => teardowns.push(fn) },
      { kubeconfig: await mintAdmissionKubeconfig({ binDir: toolsBin, kubeconfig: plane.kubeconfig }) },
    );
    stops.push(async () => {
      await admission.stop();
      for (const fn of teardowns.reverse()) await fn();
    });
    await admission.register({ binDir: toolsBin, kubeconfig: plane.kubeconfig });
    log(`admission server at ${admission.url}, webhooks registered`);

    const kubectl = (args: string[], input?: string) => kubectlOk(toolsBin, plane.kubeconfig, args, input);
    await kubectl(['create', 'namespace', 'ger-system']);
    // The controller runs as a process, not in a Pod: on an address the API server's service proxy accepts,
    // behind the chart's webhook Service, so that `kubectl git-events fire` works as it does on a cluster.
    const address = await addLoopbackAddress();
    if (address !== undefined) stops.push(() => address.remove());
    const controller: ControllerProcess = await startControllerProcess({
      kubeconfig: plane.kubeconfig,
      namespace: 'ger-system',
      args: ['--log-format', 'json', '--log-level', 'info'],
      ...(address && { host: address.ip }),
    });
    stops.push(async () => {
      await controller.stop('SIGTERM');
    });
    log(`controller ready (webhooks on ${controller.host}:${controller.webhooksPort})`);
    if (address !== undefined) {
      await exposeWebhookService(toolsBin, plane.kubeconfig, { ip: address.ip, port: controller.webhooksPort });
      log(`webhook Service ${WEBHOOK_SERVICE.namespace}/${WEBHOOK_SERVICE.name} leads to the controller`);
    } else {
      log('cannot add an address to lo (needs root and iproute2): kubectl git-events fire needs --url here');
    }

    const obj = (kind: string, name: string, spec: unknown) =>
      stringify({ apiVersion: API_VERSION, kind, metadata: { name, namespace: NAMESPACE }, spec });
    await kubectl(['create', 'namespace', NAMESPACE]);
    await kubectl(['-n', NAMESPACE, 'create', 'secret', 'generic', 'webhook-auth', `--from-literal=token=${TOKEN}`]);
    await kubectl(['-n', NAMESPACE, 'create', 'serviceaccount', 'git-events-runner-jobs']);
    await kubectl([
      '-n',
      NAMESPACE,
      'create',
      'role',
      'git-events-runner-cloner',
      '--verb=get',
      '--resource=gitrepos.git-events-runner.rs',
    ]);
    await kubectl([
      '-n',
      NAMESPACE,
      'create',
      'rolebinding',
      'git-events-runner-cloner',
      '--role=git-events-runner-cloner',
      `--serviceaccount=${NAMESPACE}:git-events-runner-jobs`,
    ]);
    // The seed's examples (examples/seed), pointed at the demo repository: no credentials (it is local),
    // a 30 s interval instead of 5 m. The Jobs' service account reads the GitRepo (the cloner does).
    await kubectl(
      ['apply', '-f', '-'],
      [
        obj('GitRepo', 'cool-project-repo', { repoUri: git.url('demo') }),
        obj('Action', 'run-deploy-sh', {
          actionJob: { args: ['./deploy.sh', './chart/'], serviceAccount: 'git-events-runner-jobs' },
        }),
        obj('ScheduleTrigger', 'cool-trigger', {
          sources: {
            kind: 'GitRepo',
            names: ['cool-project-repo'],
            watchOn: { onChangeOnly: true, reference: { branch: 'main' } },
          },
          schedule: { interval: '30s' },
          action: { kind: 'Action', name: 'run-deploy-sh' },
        }),
        obj('WebhookTrigger', 'coll-trigger', {
          sources: {
            kind: 'GitRepo',
            names: ['cool-project-repo'],
            watchOn: { onChangeOnly: false, reference: { branch: 'main' } },
          },
          action: { kind: 'Action', name: 'run-deploy-sh' },
          webhook: { multiSource: true, authConfig: { secretRef: { name: 'webhook-auth' }, key: 'token' } },
        }),
      ].join('---\n'),
    );

    // kubectl and the plugin, run by this Node (the system one may be older).
    const binDir = join(stateDir, 'bin');
    await mkdir(binDir, { recursive: true });
    await symlink(join(toolsBin, 'kubectl'), join(binDir, 'kubectl'));
    const plugin = join(repoRoot(), 'kubectl-plugin', 'dist', 'src', 'cli.js');
    await writeFile(join(binDir, 'kubectl-git_events'), `#!/bin/sh\nexec '${process.execPath}' '${plugin}' "$@"\n`);
    await chmod(join(binDir, 'kubectl-git_events'), 0o755);

    return {
      kubeconfig: plane.kubeconfig,
      binDir,
      workTree,
      webhookUrl: `http://${controller.host}:${controller.webhooksPort}`,
      webhookToken: TOKEN,
      webhookService: address !== undefined,
      utilityUrl: `http://${controller.host}:${controller.utilityPort}`,
      node: network !== undefined,
      stop,
    };
  } catch (err: unknown) {
    await stop();
    throw err;
  }
}

/** What to try next, printed by `npm run dev`. */
export function devInstructions(env: DevEnvironment): string {
  // Through the API server to the webhook Service, as on a cluster; straight to the process otherwise.
  const url = env.webhookService ? '' : ` --url ${env.webhookUrl}`;
  return `
git-events-runner is running on a local control plane. In another shell:

  export KUBECONFIG=${env.kubeconfig}
  export PATH=${env.binDir}:$PATH

  kubectl get git-events -n ${NAMESPACE}               # the demo's resources
  kubectl git-events status -n ${NAMESPACE}            # triggers, last runs, Jobs
  kubectl get jobs -n ${NAMESPACE} -w                  # Jobs as they are created

${
  env.node
    ? `  # Fire the webhook trigger (the token comes from its Secret) and wait for its Job:
  kubectl git-events fire coll-trigger -n ${NAMESPACE}${url} --wait`
    : `  # Fire the webhook trigger (the token comes from its Secret); it prints the task and its Jobs
  # (with no node, Jobs never finish, so --wait would wait for its timeout):
  kubectl git-events fire coll-trigger -n ${NAMESPACE}${url}`
}
  # or with curl:
  curl -X POST -H 'x-trigger-auth: ${env.webhookToken}' ${env.webhookUrl}/${NAMESPACE}/coll-trigger

  # Make a change: the ScheduleTrigger (every 30 s) sees it and creates a Job.
  cd ${env.workTree} && echo "replicas: 2" > chart/values.yaml && git commit -qam "scale up" && git push -q
${
  env.node
    ? `
  # A Job's output (its worker runs deploy.sh; its init container cloned the commit):
  kubectl logs -n ${NAMESPACE} job/$(kubectl get jobs -n ${NAMESPACE} --sort-by=.metadata.creationTimestamp -o jsonpath='{.items[-1:].metadata.name}')
  kubectl logs -n ${NAMESPACE} job/$(kubectl get jobs -n ${NAMESPACE} --sort-by=.metadata.creationTimestamp -o jsonpath='{.items[-1:].metadata.name}') -c action-cloner
  kubectl get pods -n ${NAMESPACE} -o wide                  # the Jobs' Pods on the node
`
    : ''
}
  # Metrics and health of the controller:
  curl ${env.utilityUrl}/metrics

${
  env.node
    ? 'A real node (kubelet + containerd, the images built here) runs the Jobs.'
    : 'There is no node (--no-node): Jobs are created (and admitted from the queue) but never get Pods.'
}
Ctrl-C stops everything.
`;
}

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { FileContent } from './git-fixtures.js';
import { repoRoot } from './tools.js';

// The design document's typical flow, as the real-node tests run it: the repository `cool-project` with
// the document's deploy.sh (verbatim), a chart and its values, and the document's resources from
// examples/seed.

/** The seed document's deploy.sh, verbatim. */
export const SEED_DEPLOY_SH = `#!/bin/bash

# 1st argument is path to the folder with Helm chart

helm upgrade \${TRIGGER_SOURCE_NAME} \${1} -f configs/values.yaml --install --wait && \\
    (echo "Has been successfully deployed"; exit 0) || \\
    (echo "Something went wrong"; exit 1)
`;

/**
 * The files of `cool-project`: deploy.sh, a chart whose ConfigMap `<release>-config` carries
 * `revision` from configs/values.yaml, so the deployed content names the commit it came from.
 */
export function seedProjectFiles(revision: string): Record<string, FileContent> {
  return {
    'deploy.sh': { content: SEED_DEPLOY_SH, executable: true },
    'chart/Chart.yaml': 'apiVersion: v2\nname: cool-project\nversion: 0.1.0\n',
    'chart/templates/configmap.yaml':
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata:\n  revision: {{ .Values.revision | quote }}\n',
    'configs/values.yaml': `revision: ${revision}\n`,
  };
}

/** A file that makes the chart fail to render: helm fails and deploy.sh reports "Something went wrong". */
export const BROKEN_TEMPLATE = { 'chart/templates/broken.yaml': '{{ fail "broken on purpose" }}\n' } as const;

/** One of the seed document's examples (examples/seed/<file>), parsed as written. */
export async function seedExample(
  file: string,
): Promise<{ metadata: { name: string }; spec: Record<string, unknown> }> {
  return parse(await readFile(join(repoRoot(), 'examples', 'seed', file), 'utf8')) as {
    metadata: { name: string };
    spec: Record<string, unknown>;
  };
}

/**
 * What the seed leaves to the platform team, in `namespace`: the GitRepo's credentials and CA, the
 * webhook token, and (unless the chart made it) the Jobs' service account `git-events-runner-jobs` with
 * read access to the source and its Secrets (the cloner); always the `admin` role for it in the
 * namespace, so deploy.sh's `helm upgrade` may manage the release.
 */
export function seedPrerequisites(options: {
  namespace: string;
  username: string;
  password: string;
  caCert: string;
  webhookToken: string;
  serviceAccount: boolean;
}): unknown[] {
  const ns = options.namespace;
  const sa = 'git-events-runner-jobs';
  const binding = (role: string, kind: 'Role' | 'ClusterRole') => ({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: `jobs-${role}`, namespace: ns },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind, name: role },
    subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
  });
  const secret = (name: string, stringData: Record<string, string>) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: ns },
    stringData,
  });
  return [
    secret('cool-project-auth', { username: options.username, password: options.password }),
    secret('cool-project-ca', { 'ca.crt': options.caCert }),
    secret('webhook-auth', { token: options.webhookToken }),
    ...(options.serviceAccount
      ? [
          { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: ns } },
          {
            apiVersion: 'rbac.authorization.k8s.io/v1',
            kind: 'Role',
            metadata: { name: 'git-events-runner-cloner', namespace: ns },
            rules: [
              { apiGroups: ['git-events-runner.rs'], resources: ['gitrepos'], verbs: ['get'] },
              { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
            ],
          },
          binding('git-events-runner-cloner', 'Role'),
        ]
      : []),
    binding('admin', 'ClusterRole'),
  ];
}

/** The seed's GitRepo, pointed at `repoUri` and trusting the CA in Secret `cool-project-ca`. */
export async function seedGitRepo(repoUri: string): Promise<unknown> {
  const gitRepo = await seedExample('gitrepo.yaml');
  return {
    ...gitRepo,
    spec: { ...gitRepo.spec, repoUri, tlsConfig: { caCert: { secretRef: { name: 'cool-project-ca' } } } },
  };
}

import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { eventually, repoRoot, run, testCluster } from '../src/index.js';
import { nodeUnavailable } from '../src/node-cluster.js';

// A process that started a node and its control plane dies by SIGKILL mid-run: nothing of the node
// stays behind (processes in its network namespace or cgroups, mounts under its directory, its cgroups,
// the namespace and its link), as after a test that crashes.

const why = nodeUnavailable();
if (why !== undefined) {
  t.test('a SIGKILLed run leaves no node behind', { skip: `no real node here: ${why}` }, async () => {});
} else {
  t.setTimeout(6 * 60_000);
  t.test('a SIGKILLed run leaves no node behind', async (t) => {
    const { binDir } = testCluster();
    const dist = (f: string) => pathToFileURL(join(repoRoot(), 'e2e', 'dist', 'src', f)).href;
    // The child starts a node with the pause image only (enough for a Pod), runs a Pod, prints what it
    // made, and waits to be killed.
    const script = `
      import { startControlPlane } from ${JSON.stringify(dist('control-plane.js'))};
      import { createNodeNetwork, startNode } from ${JSON.stringify(dist('node.js'))};
      import { kubectlOk } from ${JSON.stringify(dist('kube.js'))};
      const images = JSON.parse(process.env.GER_NODE_IMAGES).filter((a) => a.includes('pause'));
      const network = await createNodeNetwork();
      const plane = await startControlPlane({ binDir: ${JSON.stringify(binDir)}, network });
      const node = await startNode(plane, network, { binDir: ${JSON.stringify(binDir)}, images });
      await kubectlOk(${JSON.stringify(binDir)}, plane.kubeconfig, ['run', 'p', '--image=registry.k8s.io/pause:3.10.1', '--restart=Never']);
      await kubectlOk(${JSON.stringify(binDir)}, plane.kubeconfig, ['wait', '--for=condition=Ready', 'pod/p', '--timeout=120s']);
      process.stdout.write(JSON.stringify({ netns: network.netns, link: network.hostLink, dir: node.dir }) + '\\n');
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    t.teardown(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    await eventually(
      async () => out,
      (o) => o.includes('\n') || child.exitCode !== null,
      240_000,
    );
    const made = JSON.parse(out.split('\n')[0] || '{}') as { netns?: string; link?: string; dir?: string };
    t.ok(
      made.netns !== undefined,
      `the child started a node${made.netns === undefined ? `: ${err.slice(-2000)}` : ''}`,
    );
    if (made.netns === undefined || made.dir === undefined || made.link === undefined) return;
    const cgroup = made.netns; // the node's cgroup root is named like its namespace
    const pidsCgroup = `/sys/fs/cgroup/pids/${cgroup}`;
    const procsUnder = (dir: string): number => {
      if (!existsSync(dir)) return 0;
      let n = readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).length;
      for (const e of readdirSync(dir, { withFileTypes: true }))
        if (e.isDirectory()) n += procsUnder(join(dir, e.name));
      return n;
    };
    const mountsUnder = (dir: string) =>
      readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .filter((l) => l.split(' ')[4]?.startsWith(dir) === true).length;
    t.ok(procsUnder(pidsCgroup) > 0, 'while it runs, the Pod has processes in the node cgroups');
    t.ok(mountsUnder(made.dir) > 0, 'and mounts under the node directory');
    const netnsPids = async () => (await run('ip', ['netns', 'pids', made.netns ?? ''])).stdout.trim();
    t.not(await netnsPids(), '', 'and containerd and the kubelet run in its network namespace');

    // Only the process itself, as when a test crashes: its guards and watchers must notice.
    child.kill('SIGKILL');
    const gone = await eventually(
      async () => ({
        netns:
          (await run('ip', ['netns', 'list'])).stdout.includes(`${made.netns} `) ||
          existsSync(`/run/netns/${made.netns}`),
        link: (await run('ip', ['link', 'show', made.link ?? ''])).code === 0,
        cgroup: existsSync(pidsCgroup),
        mounts: mountsUnder(made.dir ?? ''),
        dir: existsSync(made.dir ?? ''),
      }),
      (s) => !s.netns && !s.link && !s.cgroup && s.mounts === 0 && !s.dir,
      60_000,
    );
    t.same(gone, { netns: false, link: false, cgroup: false, mounts: 0, dir: false }, 'all of it is gone');
  });
}

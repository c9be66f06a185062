import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import {
  alive,
  eventually,
  kubectl,
  kubectlOk,
  run,
  startControlPlane,
  testCluster,
  testNamespace,
} from '../src/index.js';

const cluster = testCluster();

// The etcd and kube-apiserver processes under a guard (which also runs short `sleep`s).
async function serversUnder(pid: number): Promise<number[]> {
  const r = await run('ps', ['-o', 'pid=,comm=', '--ppid', String(pid)]);
  return r.stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([, comm]) => comm === 'etcd' || comm === 'kube-apiserver')
    .map(([p]) => Number.parseInt(p ?? '', 10));
}

async function gone(pids: readonly number[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!pids.some(alive)) return true;
    await sleep(200);
  }
  return false;
}

t.test('RBAC is on: a minted user has only the rights bound to its name or groups', async (t) => {
  const ns = await testNamespace(cluster, 'rbac');
  const alice = await cluster.mintKubeconfig('alice', ['team-a']);
  const denied = await kubectl(cluster.binDir, alice, ['-n', ns, 'get', 'gitrepos']);
  t.not(denied.code, 0);
  t.match(denied.stderr, /User "alice" cannot list resource "gitrepos"/);

  await cluster.kubectlOk(['-n', ns, 'create', 'rolebinding', 'team-a-view', '--clusterrole=view', '--group=team-a']);
  await cluster.kubectlOk([
    '-n',
    ns,
    'create',
    'role',
    'read-git-events',
    '--verb=get,list',
    '--resource=gitrepos.git-events-runner.rs',
  ]);
  await cluster.kubectlOk([
    '-n',
    ns,
    'create',
    'rolebinding',
    'team-a-git',
    '--role=read-git-events',
    '--group=team-a',
  ]);
  // RBAC bindings take effect at once, but the authorizer cache is eventually consistent: poll briefly.
  const allowed = await eventually(
    () => kubectl(cluster.binDir, alice, ['-n', ns, 'get', 'gitrepos']),
    (r) => r.code === 0,
  );
  t.equal(allowed.code, 0, allowed.stderr);
  const whoami = JSON.parse((await kubectl(cluster.binDir, alice, ['auth', 'whoami', '-o', 'json'])).stdout) as {
    status: { userInfo: { username: string; groups: string[] } };
  };
  t.equal(whoami.status.userInfo.username, 'alice');
  t.ok(whoami.status.userInfo.groups.includes('team-a'));
  const create = await kubectl(cluster.binDir, alice, ['-n', ns, 'create', 'configmap', 'x']);
  t.not(create.code, 0, 'view does not allow create');
});

t.test('a control plane stops cleanly: processes gone, data removed', async (t) => {
  const plane = await startControlPlane({ binDir: cluster.binDir });
  const servers = (await Promise.all(plane.pids.map(serversUnder))).flat();
  t.equal(servers.length, 2, 'etcd and kube-apiserver run under their guards');
  const version = JSON.parse(await kubectlOk(plane.binDir, plane.kubeconfig, ['version', '-o', 'json'])) as {
    serverVersion: { gitVersion: string };
  };
  t.match(version.serverVersion.gitVersion, /^v1\.\d+\.\d+$/, 'the server reports its stamped version');
  await plane.stop();
  t.ok(await gone([...plane.pids, ...servers], 15_000), 'no process is left');
  t.notOk(existsSync(plane.dir), 'state directory removed');
});

t.test('servers die with a test process that is killed with SIGKILL', async (t) => {
  const entry = pathToFileURL(new URL('../src/index.js', import.meta.url).pathname).href;
  const script = `
    const { startControlPlane } = await import(${JSON.stringify(entry)});
    const plane = await startControlPlane({ binDir: process.argv[1] });
    process.stdout.write(JSON.stringify({ dir: plane.dir, pids: plane.pids }) + '\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, cluster.binDir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      if (buf.includes('\n')) resolve(buf.split('\n')[0] ?? '');
    });
    child.once('exit', (code) => reject(new Error(`child exited early with ${code}`)));
  });
  const state = JSON.parse(line) as { dir: string; pids: number[] };
  const servers = (await Promise.all(state.pids.map(serversUnder))).flat();
  t.equal(servers.length, 2);
  child.kill('SIGKILL');
  t.ok(
    await gone([...state.pids, ...servers], 20_000),
    'guards stop etcd and kube-apiserver when the test process dies',
  );
  await rm(state.dir, { recursive: true, force: true });
});

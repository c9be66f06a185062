#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { attachControlPlane, startControlPlane } from './control-plane.js';
import { devInstructions, startDev } from './dev.js';
import { installCrds } from './kube.js';
import { alive } from './processes.js';
import { ensureTools, repoRoot } from './tools.js';

// Command-line face of the local control plane: `npm run cluster:up`, `npm run cluster:down`, `npm run demo`.

const log = (m: string) => process.stderr.write(`[cluster] ${m}\n`);

async function up(dir: string): Promise<{ kubeconfig: string; binDir: string }> {
  if (existsSync(join(dir, 'state.json'))) {
    const existing = await attachControlPlane(dir);
    if (existing.pids.every(alive)) {
      log(`already running at ${existing.server}`);
      return existing;
    }
    log('a stopped control plane was left behind; removing it');
    await existing.stop();
  }
  const binDir = await ensureTools();
  const plane = await startControlPlane({ binDir, dir, detached: true, log });
  await installCrds(binDir, plane.kubeconfig);
  log('CRDs installed');
  return plane;
}

const program = new Command('ger-cluster')
  .description('A local kube-apiserver + etcd for developing and testing git-events-runner.')
  .option('--dir <dir>', 'state directory of the control plane', join(repoRoot(), '.cluster'));

program
  .command('up')
  .description('Start the control plane in the background, install the CRDs and print KUBECONFIG=<path>.')
  .action(async () => {
    const { kubeconfig } = await up(program.opts<{ dir: string }>().dir);
    process.stdout.write(`KUBECONFIG=${kubeconfig}\n`);
  });

program
  .command('down')
  .description('Stop the control plane and remove its data.')
  .action(async () => {
    const dir = program.opts<{ dir: string }>().dir;
    if (!existsSync(join(dir, 'state.json'))) {
      log('no control plane is running');
      return;
    }
    await (await attachControlPlane(dir)).stop();
    log('stopped');
  });

program
  .command('dev')
  .alias('demo')
  .description(
    'The main job on an embedded control plane: kube-apiserver + etcd, the admission server, the controller, a demo git repository and the example resources; prints what to try next. Ctrl-C stops everything.',
  )
  .option(
    '--state-dir <dir>',
    'where the demo keeps its control plane, repositories and tools',
    join(repoRoot(), '.dev'),
  )
  .option('--no-node', 'no kubelet and containerd: Jobs are created but never run (where a node cannot run)')
  .action(async (opts: { stateDir: string; node: boolean }) => {
    const env = await startDev(opts.stateDir, log, { node: opts.node });
    process.stdout.write(devInstructions(env));
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    log('stopping...');
    await env.stop();
    log('stopped');
  });

try {
  await program.parseAsync(process.argv);
} catch (err: unknown) {
  log(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
}

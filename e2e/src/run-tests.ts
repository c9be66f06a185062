import { spawn } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Parser } from 'tap-parser';
import { type ControlPlane, startControlPlane } from './control-plane.js';
import { ENV } from './harness.js';
import { ensureImages } from './images.js';
import { installCrds } from './kube.js';
import { nodeSupport } from './node.js';
import { ensureTools, repoRoot } from './tools.js';

// The test runner behind `npm test`: builds or finds the control-plane binaries, starts one control plane
// for the whole run, installs the CRDs, runs every compiled test file with tap, stops the control plane
// (also on SIGINT/SIGTERM), and closes with the line "N passed, N failed" that CI reads.

interface Totals {
  pass: number;
  fail: number;
  skip: number;
}

async function resultFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile() && e.name.endsWith('.tap')).map((e) => join(e.parentPath, e.name));
}

// tap skips dist/ folders when it searches for tests, so the compiled test files of every workspace are listed here.
async function testFiles(root: string): Promise<string[]> {
  const { workspaces } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { workspaces: string[] };
  const files: string[] = [];
  for (const pkg of workspaces) {
    const dir = join(root, pkg, 'dist', 'test');
    const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isFile() && e.name.endsWith('.test.js')) files.push(join(e.parentPath, e.name));
  }
  return files.sort();
}

/**
 * Totals over the per-file result files, counting top-level test points. A file that tap's own stream
 * reports as failed (`failedFiles`: it crashed, or exited non-zero after its plan) counts at least one
 * failure even when its own results show none or it left no result file: a crash before any test point
 * leaves a plan of `1..0`, which parses as a pass.
 */
async function count(dir: string, failedFiles: ReadonlySet<string>): Promise<Totals> {
  const totals: Totals = { pass: 0, fail: 0, skip: 0 };
  const counted = new Set<string>();
  for (const file of await resultFiles(dir)) {
    const text = await readFile(file, 'utf8');
    const name = relative(dir, file).replace(/\.tap$/, '');
    counted.add(name);
    await new Promise<void>((resolve) => {
      const parser = new Parser((results) => {
        totals.pass += results.pass - results.skip - results.todo;
        totals.skip += results.skip + results.todo;
        const failed = !results.ok || failedFiles.has(name);
        totals.fail += results.fail > 0 ? results.fail : failed ? 1 : 0;
        resolve();
      });
      parser.end(text);
    });
  }
  for (const name of failedFiles) if (!counted.has(name)) totals.fail += 1;
  return totals;
}

/**
 * Whether the tests get a real node: the machine can run one (root, containerd, cgroups) and the images
 * build. Decided once for the run; each node test file then starts a node of its own with these images,
 * or skips with the reason.
 */
async function nodeEnvironment(binDir: string, log: (m: string) => void): Promise<Record<string, string>> {
  const why = nodeSupport(binDir);
  if (why !== undefined) {
    log(`no real node in this run: ${why}`);
    return { [ENV.nodeUnavailable]: why };
  }
  const images = await ensureImages(binDir);
  log(`images for the real node: ${[...images.keys()].join(', ')}`);
  return { [ENV.nodeImages]: JSON.stringify([...images.values()]) };
}

async function main(): Promise<number> {
  const root = repoRoot();
  const log = (m: string) => process.stderr.write(`[test] ${m}\n`);
  const binDir = await ensureTools();
  const node = await nodeEnvironment(binDir, log);
  let plane: ControlPlane | undefined;
  const stop = async () => {
    const p = plane;
    plane = undefined;
    if (p !== undefined) await p.stop();
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      stop().finally(() => process.exit(130));
    });
  }
  try {
    plane = await startControlPlane({ binDir, log });
    await installCrds(binDir, plane.kubeconfig);
    log('CRDs installed');
    // A results folder of this run's own (tap also writes .tap/test-results), so runs in one checkout
    // at the same time each count their own files.
    const resultsDir = join(root, '.tap', `run-${process.pid}`);
    await rm(resultsDir, { recursive: true, force: true });
    // Arguments select test files or pass options to tap; without files, every compiled test runs.
    const given = process.argv.slice(2);
    const selected = given.some((a) => !a.startsWith('-')) ? given : [...given, ...(await testFiles(root))];
    const args = ['--output-dir', resultsDir, ...selected];
    // tap's own entry point, run by this very Node (24), so test processes use it too.
    const tapEntry = join(root, 'node_modules', 'tap', 'dist', 'esm', 'run.mjs');
    const failedFiles = new Set<string>();
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn(process.execPath, [tapEntry, ...args], {
        cwd: root,
        stdio: ['inherit', 'pipe', 'inherit'],
        env: {
          ...process.env,
          [ENV.dir]: plane?.dir,
          [ENV.bin]: binDir,
          [ENV.kubeconfig]: plane?.kubeconfig,
          ...node,
          PATH: `${binDir}:${process.env.PATH ?? ''}`,
        },
      });
      // tap's own stream names every file that failed as a whole (one top-level point per file).
      const top = new Parser();
      top.on('assert', (point: { ok: boolean; name: string; skip?: unknown; todo?: unknown }) => {
        if (!point.ok && !point.skip && !point.todo) failedFiles.add(point.name);
      });
      child.stdout?.on('data', (chunk: Buffer) => {
        process.stdout.write(chunk);
        top.write(chunk);
      });
      child.stdout?.once('end', () => top.end());
      child.once('error', reject);
      // 'close' comes after stdout ended, so every point has been parsed.
      child.once('close', (c, sig) => resolve(c ?? (sig === null ? 1 : 128)));
    });
    const totals = await count(resultsDir, failedFiles);
    await rm(resultsDir, { recursive: true, force: true });
    if (code !== 0 && totals.fail === 0) totals.fail = 1;
    process.stdout.write(
      `\n${totals.pass} passed, ${totals.fail} failed${totals.skip > 0 ? `, ${totals.skip} skipped` : ''}\n`,
    );
    return totals.fail > 0 ? 1 : code;
  } finally {
    await stop();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`[test] ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.stdout.write('\n0 passed, 1 failed\n');
    process.exitCode = 1;
  },
);

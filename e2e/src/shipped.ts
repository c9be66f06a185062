import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { repoRoot } from './tools.js';

const execFileAsync = promisify(execFile);

/** How the controller runs in its image: the esbuild bundle, with the chart's NODE_OPTIONS. */
export interface ShippedController {
  /** The bundled CLI (git-events-runner.mjs). */
  readonly entry: string;
  /** `controller.nodeOptions` of the chart's values.yaml, as Node arguments. */
  readonly nodeArgs: readonly string[];
}

/** `controller.nodeOptions` of the chart's values.yaml, as Node arguments (V8 heap limits). */
export async function chartNodeArgs(): Promise<string[]> {
  const values = parse(await readFile(join(repoRoot(), 'charts', 'git-events-runner', 'values.yaml'), 'utf8')) as {
    controller?: { nodeOptions?: string };
  };
  return (values.controller?.nodeOptions ?? '').split(/\s+/).filter((a) => a.length > 0);
}

/**
 * Bundles the controller into `outDir` (scripts/bundle.mjs, after `tsc -b`) and reads the chart's default
 * NODE_OPTIONS, so benchmarks measure what the image and chart ship rather than the development build.
 */
export async function shippedController(outDir: string): Promise<ShippedController> {
  const root = repoRoot();
  await execFileAsync(process.execPath, [join(root, 'scripts', 'bundle.mjs'), '--out', outDir], { cwd: root });
  return { entry: join(outDir, 'git-events-runner.mjs'), nodeArgs: await chartNodeArgs() };
}

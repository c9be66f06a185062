import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { repoRoot } from './tools.js';

const execFileAsync = promisify(execFile);

/** How the controller runs in its image: the esbuild bundle, with the chart's NODE_OPTIONS and environment. */
export interface ShippedController {
  /** The bundled CLI (git-events-runner.mjs). */
  readonly entry: string;
  /** `controller.nodeOptions` of the chart's values.yaml, as Node arguments. */
  readonly nodeArgs: readonly string[];
  /** The environment the chart sets for the process itself (`controller.mallocArenaMax`). */
  readonly env: Readonly<Record<string, string>>;
  /** One line for a report: what runs, with which settings. */
  readonly description: string;
}

interface ControllerValues {
  readonly nodeOptions?: string;
  readonly mallocArenaMax?: number | null;
}

async function controllerValues(): Promise<ControllerValues> {
  const values = parse(await readFile(join(repoRoot(), 'charts', 'git-events-runner', 'values.yaml'), 'utf8')) as {
    controller?: ControllerValues;
  };
  return values.controller ?? {};
}

/** `controller.nodeOptions` of the chart's values, as Node arguments (V8 heap limits). */
function nodeArgsOf(values: ControllerValues): string[] {
  return (values.nodeOptions ?? '').split(/\s+/).filter((a) => a.length > 0);
}

/** The process environment the chart gives the controller besides its configuration (glibc malloc). */
function processEnvOf(values: ControllerValues): Record<string, string> {
  const arenas = values.mallocArenaMax;
  return arenas === undefined || arenas === null ? {} : { MALLOC_ARENA_MAX: String(arenas) };
}

/**
 * Bundles the controller into `outDir` (scripts/bundle.mjs, after `tsc -b`) and reads the chart's default
 * NODE_OPTIONS and process environment, so benchmarks measure what the image and chart ship rather than the
 * development build.
 */
export async function shippedController(outDir: string): Promise<ShippedController> {
  const root = repoRoot();
  await execFileAsync(process.execPath, [join(root, 'scripts', 'bundle.mjs'), '--out', outDir], { cwd: root });
  const values = await controllerValues();
  const nodeArgs = nodeArgsOf(values);
  const env = processEnvOf(values);
  const settings = [...nodeArgs, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)];
  return {
    entry: join(outDir, 'git-events-runner.mjs'),
    nodeArgs,
    env,
    description: `the bundle, ${settings.join(' ')} (charts/git-events-runner/values.yaml)`,
  };
}

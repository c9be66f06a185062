#!/usr/bin/env node
// Generates the parts of the user documentation that the code defines, so they cannot drift from it:
// each template under scripts/docs-src/ becomes the page of the same path under docs/, with every
// directive line (`<!-- @name args -->`) replaced by what the code says:
//
//   @kind-summary K, @fields K spec|status, @printer-columns K, @validation-rules K
//                            the resources, from the TypeBox schema (shared/src/schema/resources.ts)
//   @run-flags, @clone-flags  the options of `git-events-runner run` / `clone` (commander definitions)
//   @runtime-config           the runtime ConfigMap fields (controller/src/config/runtime.ts)
//   @runtime-config-default   the default runtime configuration, as `git-events-runner config` prints it
//   @metrics                  the controller's metrics (controller/src/runtime/metrics.ts)
//   @include <path> [lang]    a file of the repository (e.g. examples/seed/*.yaml) as a code block
//
// Run it after `tsc -b` (`npm run docs:generate` does both): it reads the compiled modules, including
// internals that no package exports. Usage: node scripts/gen-docs.mjs [--check] [--out <dir>]
//   --check      write nothing; exit 1 naming every page that differs from what would be generated
//   --out <dir>  write (or check) the pages under <dir> instead of docs/

import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { renderRuntimeConfig, runtimeConfigSchema } from '../controller/dist/src/config/index.js';
import { buildProgram } from '../controller/dist/src/program.js';
import { Metrics } from '../controller/dist/src/runtime/metrics.js';
import { toOpenApi } from '../shared/dist/src/crd.js';
import {
  DocsError,
  generatedNotice,
  RESOURCE_DIRECTIVES,
  renderFieldTable,
  renderMetricsTable,
  renderOptionsTable,
  renderTemplate,
} from '../shared/dist/src/docs.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TEMPLATES = 'scripts/docs-src';
// Default images carry the controller's version; the docs name it instead, so a release changes no page.
const VERSION = '<version>';
const METRICS_PREFIX = 'git_events_runner';

/** The options of one `git-events-runner` subcommand, as commander holds them. */
function commandOptions(name) {
  const command = buildProgram({ stdout: () => {}, stderr: () => {} }).commands.find((c) => c.name() === name);
  if (command === undefined) throw new Error(`git-events-runner has no ${name} command`);
  return command.options;
}

/** The controller's own metrics (process metrics left out), as registered. */
async function controllerMetrics() {
  const { registry } = new Metrics(METRICS_PREFIX);
  const registered = await registry.getMetricsAsJSON();
  return registered
    .filter((m) => m.name.startsWith(`${METRICS_PREFIX}_`))
    .map((m) => {
      // prom-client keeps a metric's label names and histogram bounds on the instance; its typings
      // expose neither, and an empty metric reports no labels through getMetricsAsJSON.
      const metric = registry.getSingleMetric(m.name);
      return {
        name: m.name,
        type: String(m.type),
        help: m.help,
        labelNames: [...(metric?.labelNames ?? [])],
        ...(Array.isArray(metric?.upperBounds) ? { buckets: [...metric.upperBounds] } : {}),
      };
    });
}

function inside(path) {
  const full = resolve(root, path);
  if (full !== root && !full.startsWith(root + sep))
    throw new DocsError('InvalidDirective', `${path} is outside the repository`);
  return full;
}

async function directives() {
  const metrics = await controllerMetrics();
  const includes = new Map();
  return {
    directives: {
      ...RESOURCE_DIRECTIVES,
      'run-flags': () => renderOptionsTable(commandOptions('run')),
      'clone-flags': () => renderOptionsTable(commandOptions('clone')),
      'runtime-config': () => renderFieldTable(toOpenApi(runtimeConfigSchema(VERSION)), '', { required: false }),
      'runtime-config-default': () =>
        `\`\`\`yaml\n${renderRuntimeConfig({ helmTemplate: false, version: VERSION }).trimEnd()}\n\`\`\``,
      metrics: () => renderMetricsTable(metrics),
      include: ([path, lang]) => {
        if (path === undefined) throw new DocsError('InvalidDirective', 'missing argument: include <path> [language]');
        const text = includes.get(path);
        // preload() reads every file a template includes before it is rendered.
        if (text === undefined) throw new DocsError('InvalidDirective', `${path} was not read`);
        return `\`\`\`${lang ?? extname(path).slice(1)}\n${text.trimEnd()}\n\`\`\``;
      },
    },
    // Files named by @include are read before rendering (rendering itself is synchronous).
    async preload(template) {
      for (const m of template.matchAll(/^\s*<!--\s*@include\s+(\S+)/gm)) {
        const path = m[1];
        if (!includes.has(path)) includes.set(path, await readFile(inside(path), 'utf8'));
      }
    },
  };
}

async function templates(dir) {
  const out = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await templates(full)));
    else if (entry.name.endsWith('.md')) out.push(full);
  }
  return out.sort();
}

/** Every generated page: path relative to the output directory, and its text. */
async function renderDocs() {
  const { directives: table, preload } = await directives();
  const pages = [];
  for (const file of await templates(join(root, TEMPLATES))) {
    const rel = relative(join(root, TEMPLATES), file);
    const template = await readFile(file, 'utf8');
    let body;
    try {
      await preload(template);
      body = renderTemplate(template, table);
    } catch (err) {
      throw new Error(`${TEMPLATES}/${rel}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    pages.push({ path: rel, text: `${generatedNotice(`${TEMPLATES}/${rel}`)}\n\n${body.trimEnd()}\n` });
  }
  return pages;
}

async function main() {
  const { values } = parseArgs({
    options: { check: { type: 'boolean', default: false }, out: { type: 'string' } },
    allowPositionals: false,
  });
  const outDir = resolve(values.out ?? join(root, 'docs'));
  const pages = await renderDocs();
  const stale = [];
  for (const page of pages) {
    const target = join(outDir, page.path);
    const current = await readFile(target, 'utf8').catch(() => undefined);
    if (current === page.text) continue;
    stale.push(relative(process.cwd(), target) || target);
    if (!values.check) {
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, page.text);
    }
  }
  if (values.check) {
    if (stale.length > 0) {
      process.stderr.write(
        `${stale.map((p) => `${p} is stale`).join('\n')}\nrun npm run docs:generate (templates in ${TEMPLATES}/)\n`,
      );
      process.exitCode = 1;
    } else process.stdout.write(`${pages.length} generated pages are up to date\n`);
  } else {
    process.stdout.write(
      stale.length === 0
        ? `${pages.length} generated pages were up to date\n`
        : `${stale.map((p) => `wrote ${p}`).join('\n')}\n`,
    );
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    await main();
  } catch (err) {
    process.stderr.write(`gen-docs: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  }
}

#!/usr/bin/env node
// Bundles the shipped command lines into single ES module files for the container images:
//   dist/bundle/git-events-runner.mjs     (controller/dist/src/cli.js: run, clone, crds, config)
//   dist/bundle/git-events-admission.mjs  (admission/dist/src/cli.js, once that package is built)
// Run it after `tsc -b` (`npm run bundle` does both). Usage: node scripts/bundle.mjs [--out <dir>]
//
// What the bundles need that a plain esbuild call does not give:
// - CommonJS dependencies call require(), __dirname and __filename: the banner defines them for ESM.
// - ssh2 loads two optional native add-ons (its sshcrypto.node binding and cpu-features) inside
//   try/catch and falls back to pure JavaScript: both stay external, so the bundle runs without them.
// - A package reading its own package.json relative to import.meta.url (the controller's version)
//   would look next to the bundle: that read is replaced by the package.json's name and version.

import { readFile, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The command lines bundled: source entry point (built by tsc) and output file name. */
export const ENTRIES = [
  { name: 'git-events-runner', entry: 'controller/dist/src/cli.js', required: true },
  { name: 'git-events-admission', entry: 'admission/dist/src/cli.js', required: false },
];

const BANNER = [
  "import { createRequire as __gerCreateRequire } from 'node:module';",
  "import { fileURLToPath as __gerFileURLToPath } from 'node:url';",
  "import { dirname as __gerDirname } from 'node:path';",
  'const require = __gerCreateRequire(import.meta.url);',
  'const __filename = __gerFileURLToPath(import.meta.url);',
  'const __dirname = __gerDirname(__filename);',
].join(' ');

// `readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')` and the like.
const PACKAGE_JSON_READ =
  /readFileSync\(\s*new URL\(\s*(['"])((?:\.\.?\/)+)package\.json\1\s*,\s*import\.meta\.url\s*\)\s*,\s*(['"])utf-?8\3\s*\)/g;

/** Inlines reads of a package's own package.json (name and version only): the bundle has no package.json beside it. */
const inlinePackageJson = {
  name: 'inline-package-json',
  setup(b) {
    b.onLoad({ filter: /[\\/]dist[\\/]src[\\/].*\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      if (!source.includes('package.json')) return undefined;
      let replaced = 0;
      const contents = await replaceAsync(source, PACKAGE_JSON_READ, async (_match, _q, up) => {
        const file = resolve(dirname(args.path), up, 'package.json');
        const { name, version } = JSON.parse(await readFile(file, 'utf8'));
        replaced += 1;
        return JSON.stringify(JSON.stringify({ name, version }));
      });
      if (replaced === 0 && /package\.json['"]\s*,\s*import\.meta\.url/.test(source)) {
        throw new Error(
          `${relative(root, args.path)} reads a package.json in a form this script does not inline; extend PACKAGE_JSON_READ`,
        );
      }
      return { contents, loader: 'js' };
    });
  },
};

async function replaceAsync(text, pattern, replacer) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    parts.push(text.slice(last, match.index), await replacer(...match));
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  return parts.join('');
}

async function exists(path) {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Bundles every entry whose source is built; returns what was written and what was skipped (and why).
 * @param {string} outDir
 */
export async function bundle(outDir) {
  const written = [];
  const skipped = [];
  for (const { name, entry, required } of ENTRIES) {
    const source = join(root, entry);
    const outfile = join(outDir, `${name}.mjs`);
    if (!(await exists(source))) {
      if (required) throw new Error(`${entry} does not exist: run "npx tsc -b" (or "npm run bundle") first`);
      // A stale bundle of a package that is no longer built would be shipped by mistake.
      await rm(outfile, { force: true });
      skipped.push({ name, reason: `${entry} does not exist (package not built yet)` });
      continue;
    }
    const result = await build({
      entryPoints: [source],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node24',
      // The entry point's own #! line is kept by esbuild, above the banner.
      banner: { js: BANNER },
      external: ['cpu-features', '*.node'],
      plugins: [inlinePackageJson],
      // Whitespace and syntax only: identifiers stay readable in stack traces.
      minifyWhitespace: true,
      minifySyntax: true,
      legalComments: 'eof',
      logLevel: 'warning',
      metafile: true,
    });
    const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
    written.push({ name, outfile, bytes });
  }
  return { written, skipped };
}

async function main() {
  const { values } = parseArgs({ options: { out: { type: 'string', default: join(root, 'dist', 'bundle') } } });
  const outDir = resolve(values.out);
  const { written, skipped } = await bundle(outDir);
  for (const w of written) {
    process.stdout.write(
      `bundled ${w.name}: ${relative(root, w.outfile)} (${(w.bytes / 1024 / 1024).toFixed(1)} MiB)\n`,
    );
  }
  for (const s of skipped) process.stdout.write(`skipped ${s.name}: ${s.reason}\n`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    process.stderr.write(`bundle: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}

#!/usr/bin/env node
// Committed, not built: npm links a workspace's command into node_modules/.bin only when the file exists at
// install time, and dist/ does not exist until `npm run build`.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/src/cli.js', import.meta.url);
if (existsSync(cli)) {
  await import(cli.href);
} else {
  process.stderr.write('kubectl-git_events: not built yet: run `npm run build` first (in the repository root)\n');
  process.exitCode = 1;
}

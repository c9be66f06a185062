#!/usr/bin/env node
// The executable kubectl finds on PATH as `kubectl-git_events` and runs for `kubectl git-events ...`.
import module from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';

// Node's compile cache (in the OS temporary directory) roughly halves the start-up of later runs; the
// Kubernetes client alone is thousands of modules.
module.enableCompileCache?.();
const { main } = await import('./program.js');

const code = await main(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  stdoutIsTTY: process.stdout.isTTY === true,
  now: Date.now,
  sleep: (ms) => sleep(ms),
});
// Writes to pipes and files are synchronous on Linux and macOS, so nothing is lost; idle keep-alive
// connections of the API client must not keep a finished command alive.
process.exit(code);

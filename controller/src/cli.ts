#!/usr/bin/env node
import { CommanderError } from 'commander';
import { buildProgram } from './program.js';

try {
  await buildProgram().parseAsync(process.argv);
} catch (err: unknown) {
  // commander has already printed its own message (help, unknown option); keep its exit code.
  if (err instanceof CommanderError) process.exitCode = err.exitCode;
  else {
    process.stderr.write(`git-events-runner: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}

#!/usr/bin/env node
import { CommanderError } from 'commander';
import { buildProgram, CliError } from './program.js';

// Exit codes: 0 success, 1 cannot run (one line on stderr naming the file or field), 2 usage error.
try {
  await buildProgram().parseAsync(process.argv);
} catch (err: unknown) {
  if (err instanceof CommanderError) {
    // commander has printed its message already; help and version are not failures.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`git-events-admission: ${message.split('\n')[0]}\n`);
    process.exitCode = err instanceof CliError ? err.exitCode : 1;
  }
}

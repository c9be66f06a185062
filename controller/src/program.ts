import { renderCrdsYaml } from '@git-events-runner/shared';
import { Command } from 'commander';

/** Where the CLI writes; injectable so tests capture output without spawning a process. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

const defaultIo: CliIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

/** Builds the `git-events-runner` command line. Nothing runs until `parseAsync` is called. */
export function buildProgram(io: CliIo = defaultIo): Command {
  const program = new Command('git-events-runner')
    .description('Kubernetes operator: runs Jobs with a Git repository content on changes, schedules and webhooks.')
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .exitOverride();

  program
    .command('crds')
    .description('Print the six CustomResourceDefinitions as multi-document YAML (kubectl apply -f -).')
    .action(() => {
      io.stdout(renderCrdsYaml());
    });

  return program;
}

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { repoRoot, run, testCluster } from '../src/index.js';

// What a new user gets from `npm ci` on a fresh clone, before and after `npm run build`: the workspaces'
// commands are in node_modules/.bin at once (npm links a bin only if its file exists at install time), say
// what to do while nothing is built, and kubectl finds the plugin with the README's PATH line. The clone is
// the working tree's tracked and unignored files (what a commit of it would hold); npm ci runs offline from
// the cache that the repository's own `npm ci` filled.

const execFileP = promisify(execFile);
const { binDir } = testCluster();
const root = repoRoot();
const clone = join(await mkdtemp(join(tmpdir(), 'fresh-clone-')), 'git-events-runner');
t.teardown(() => rm(dirname(clone), { recursive: true, force: true }));

const COMMANDS = {
  'git-events-runner': 'controller',
  'git-events-admission': 'admission',
  'kubectl-git_events': 'kubectl-plugin',
  'ger-cluster': 'e2e',
} as const;

const listed = await execFileP('git', ['-C', root, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
  maxBuffer: 64 * 1024 * 1024,
});
for (const file of listed.stdout.split('\0')) {
  // A tracked file deleted in the working tree is not part of what would be committed.
  if (file === '' || !existsSync(join(root, file))) continue;
  await mkdir(dirname(join(clone, file)), { recursive: true });
  await cp(join(root, file), join(clone, file), { verbatimSymlinks: true });
}

// The clone's own commands first, then this test's Node 24 for `#!/usr/bin/env node`, then kubectl.
const PATH = [join(clone, 'node_modules', '.bin'), dirname(process.execPath), binDir, '/usr/bin', '/bin'].join(':');
// HOME is the clone's parent (no user config leaks in); the packages come from the user's npm cache.
const env = {
  PATH,
  HOME: dirname(clone),
  npm_config_cache: process.env.npm_config_cache ?? join(homedir(), '.npm'),
  npm_config_offline: 'true',
  npm_config_update_notifier: 'false',
};

t.test('npm ci on a fresh clone: the commands are on PATH and say to build first', async (t) => {
  t.setTimeout(5 * 60_000);
  t.notOk(existsSync(join(clone, 'controller', 'dist')), 'nothing is built in the clone');
  const ci = await run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], { cwd: clone, env });
  t.equal(ci.code, 0, `npm ci: ${ci.stderr.slice(-2000)}`);
  for (const command of Object.keys(COMMANDS)) {
    const r = await run(command, ['--help'], { cwd: clone, env }).catch((err: unknown) => ({
      code: -1,
      stdout: '',
      stderr: String(err),
    }));
    t.equal(r.code, 1, `${command} runs from node_modules/.bin and fails: ${r.stderr}`);
    t.equal(
      r.stderr,
      `${command}: not built yet: run \`npm run build\` first (in the repository root)\n`,
      `${command} says what to do`,
    );
  }
});

t.test('after the build: the commands run, and kubectl finds the plugin with the README PATH line', async (t) => {
  // The repository's build output stands in for `npm run build` in the clone (same sources, minutes saved).
  for (const pkg of ['shared', ...Object.values(COMMANDS)]) {
    await cp(join(root, pkg, 'dist'), join(clone, pkg, 'dist'), { recursive: true });
  }
  const crds = await run('git-events-runner', ['crds'], { cwd: clone, env });
  t.equal(crds.code, 0, crds.stderr);
  t.equal(
    crds.stdout,
    await readFile(join(root, 'charts', 'git-events-runner', 'crds', 'crds.yaml'), 'utf8'),
    'git-events-runner crds prints the chart CRDs',
  );
  const admission = await run('git-events-admission', ['--help'], { cwd: clone, env });
  t.equal(admission.code, 0, admission.stderr);
  t.match(admission.stdout, /^Usage: git-events-admission/m);

  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const line = 'export PATH="$PWD/node_modules/.bin:$PATH"';
  t.ok(readme.includes(line), 'the README gives the PATH line for the plugin');
  // The README's line, run in the clone's root, then kubectl's plugin discovery.
  const sh = (script: string) =>
    run('sh', ['-c', `${line} && ${script}`], {
      cwd: clone,
      env: { ...env, PATH: [dirname(process.execPath), binDir, '/usr/bin', '/bin'].join(':') },
    });
  const list = await sh('kubectl plugin list');
  t.equal(list.code, 0, list.stderr);
  t.match(list.stdout, join(clone, 'node_modules', '.bin', 'kubectl-git_events'), 'kubectl plugin list shows it');
  const help = await sh('kubectl git-events --help');
  t.equal(help.code, 0, help.stderr);
  t.match(help.stdout, /^Usage: kubectl git-events/m, 'kubectl git-events runs the plugin');
});

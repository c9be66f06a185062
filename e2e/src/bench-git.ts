import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkFiles, fetchRef, resolveRef, type TransferStats } from '@git-events-runner/shared/git';
import { startGitHttpServer } from './git-http.js';

// `npm run bench:git`: the cost of change detection against a large repository served by git http-backend.
// Prints, per operation, the requests made, the bytes transferred (both directions, as the server counted
// them) and the median time of repeated runs.

const FILES = 5000;
const COMMITS = 1000;
const RUNS = 15;

async function generate(repo: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const init = spawn('git', ['init', '-q', '--bare', '-b', 'main', repo], { stdio: 'inherit' });
    init.once('exit', (c) => (c === 0 ? resolve() : reject(new Error(`git init: ${c}`))));
  });
  // One fast-import stream: a first commit with every file, then commits each changing one file.
  const parts: string[] = [];
  const blob = (text: string) => `data ${Buffer.byteLength(text)}\n${text}\n`;
  const when = (i: number) => `${1_700_000_000 + i * 60} +0000`;
  for (let c = 0; c < COMMITS; c++) {
    parts.push(`commit refs/heads/main\ncommitter Bench <bench@example.invalid> ${when(c)}\n${blob(`commit ${c}`)}`);
    if (c === 0) {
      for (let f = 0; f < FILES; f++) {
        const dir = `dir${String(f % 50).padStart(2, '0')}`;
        parts.push(`M 100644 inline ${dir}/file${f}.txt\n${blob(`file ${f}\n${'x'.repeat(200 + (f % 300))}\n`)}`);
      }
    } else {
      const f = (c * 7919) % FILES;
      const dir = `dir${String(f % 50).padStart(2, '0')}`;
      parts.push(`M 100644 inline ${dir}/file${f}.txt\n${blob(`file ${f} changed in commit ${c}\n`)}`);
    }
    parts.push('\n');
  }
  await new Promise<void>((resolve, reject) => {
    const fi = spawn('git', ['--git-dir', repo, 'fast-import', '--quiet'], { stdio: ['pipe', 'inherit', 'inherit'] });
    fi.once('exit', (c) => (c === 0 ? resolve() : reject(new Error(`git fast-import: ${c}`))));
    fi.stdin.end(parts.join(''));
  });
}

interface Figure {
  readonly name: string;
  readonly requests: number;
  readonly bytes: number;
  readonly medianMs: number;
}

async function measure(
  name: string,
  server: { stats: { requests: number; bytesSent: number; bytesReceived: number }; resetStats(): void },
  op: () => Promise<unknown>,
): Promise<Figure> {
  const times: number[] = [];
  let requests = 0;
  let bytes = 0;
  for (let i = 0; i < RUNS; i++) {
    server.resetStats();
    const start = performance.now();
    await op();
    times.push(performance.now() - start);
    requests = server.stats.requests;
    bytes = server.stats.bytesSent + server.stats.bytesReceived;
  }
  times.sort((a, b) => a - b);
  return { name, requests, bytes, medianMs: times[Math.floor(times.length / 2)] ?? 0 };
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ger-bench-'));
  try {
    const repo = join(dir, 'repos', 'big.git');
    process.stderr.write(`generating ${FILES} files and ${COMMITS} commits...\n`);
    await generate(repo);
    const server = await startGitHttpServer({ root: join(dir, 'repos') });
    try {
      const stats: TransferStats = { requests: 0, bytesSent: 0, bytesReceived: 0 };
      const remote = { uri: server.url('big'), stats };
      const cache = join(dir, 'cache');
      await checkFiles(remote, cache, { branch: 'main' }, ['dir07/']); // warm the cache once
      const figures = [
        await measure('unchanged-branch check (ls-refs)', server, () => resolveRef(remote, { branch: 'main' })),
        await measure('files-glob check, unchanged commit', server, () =>
          checkFiles(remote, cache, { branch: 'main' }, ['dir07/']),
        ),
        await measure('fresh depth-1 fetch of the branch', server, async () => {
          const target = await mkdtemp(join(dir, 'fetch-'));
          await fetchRef(remote, target, { branch: 'main' });
          await rm(target, { recursive: true, force: true });
        }),
      ];
      const lines = [
        `repository: ${FILES} files, ${COMMITS} commits, served by git http-backend on loopback; median of ${RUNS} runs`,
        '| operation | requests | bytes | median ms |',
        '|---|---:|---:|---:|',
        ...figures.map((f) => `| ${f.name} | ${f.requests} | ${f.bytes} | ${f.medianMs.toFixed(1)} |`),
      ];
      const [check, , fetch] = figures;
      if (check !== undefined && fetch !== undefined) {
        lines.push('', `depth-1 fetch / unchanged check bytes: ${(fetch.bytes / check.bytes).toFixed(0)}x`);
      }
      process.stdout.write(`${lines.join('\n')}\n`);
    } finally {
      await server.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:git failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});

import { startGitHttpServer } from './git-http.js';

// `node git-http-main.js <root>`: the smart-HTTP git server of git-http.ts in a process of its own, for
// benchmarks whose own event loop must not spawn git-http-backend (each spawn forks the load generator).
// Prints {"origin": ...} once listening; stops when its stdin closes (the parent ended, however it ended).

const root = process.argv[2];
if (root === undefined) {
  process.stderr.write('usage: git-http-main <root>\n');
  process.exit(2);
}
const server = await startGitHttpServer({ root });
process.stdout.write(`${JSON.stringify({ origin: server.origin })}\n`);
process.stdin.resume();
process.stdin.once('close', () => {
  server.stop().finally(() => process.exit(0));
});

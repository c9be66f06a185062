import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { KINDS } from '@git-events-runner/shared';
import t from 'tap';
import { repoRoot } from '../src/index.js';

// The user documentation: the generated pages are what scripts/gen-docs.mjs renders from the schema,
// the command definitions, the runtime configuration and the metrics (as crds.test.ts does for the
// CRDs), docs/index.md maps every page, and every relative link and anchor leads somewhere.

const root = repoRoot();
const script = join(root, 'scripts', 'gen-docs.mjs');

function genDocs(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [script, ...args], { cwd: root }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      done({ code, stdout, stderr });
    });
  });
}

async function markdownFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await markdownFiles(full)));
    else if (entry.name.endsWith('.md')) out.push(full);
  }
  return out.sort();
}

t.test('the generated pages are up to date (run `npm run docs:generate`)', async (t) => {
  const r = await genDocs(['--check']);
  t.equal(r.stderr, '', 'no page is stale');
  t.equal(r.code, 0);
  t.match(r.stdout, /^\d+ generated pages are up to date\n$/);
});

t.test('a stale or missing page is named, and generating writes exactly the committed pages', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'ger-docs-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  const written = await genDocs(['--out', out]);
  t.equal(written.code, 0, written.stderr);
  const pages = (await markdownFiles(out)).map((f) => relative(out, f));
  t.ok(pages.length > 0);
  for (const def of KINDS)
    t.ok(pages.includes(join('resources', `${def.kind.toLowerCase()}.md`)), `${def.kind} has a page`);
  for (const page of pages) {
    t.equal(await readFile(join(out, page), 'utf8'), await readFile(join(root, 'docs', page), 'utf8'), `docs/${page}`);
  }

  await writeFile(join(out, 'configuration.md'), 'edited by hand\n');
  await rm(join(out, 'resources', 'gitrepo.md'));
  const check = await genDocs(['--check', '--out', out]);
  t.equal(check.code, 1);
  t.match(check.stderr, /configuration\.md is stale\n/);
  t.match(check.stderr, /resources\/gitrepo\.md is stale\n/);
  t.match(check.stderr, 'run npm run docs:generate');
  t.equal(await readFile(join(out, 'configuration.md'), 'utf8'), 'edited by hand\n', '--check writes nothing');
});

t.test('a bad template fails with the file, line and directive', async (t) => {
  // The script renders the templates of the repository it lives in: run a copy with one bad template.
  const copy = await mkdtemp(join(tmpdir(), 'ger-docs-repo-'));
  t.teardown(() => rm(copy, { recursive: true, force: true }));
  await cp(join(root, 'scripts'), join(copy, 'scripts'), { recursive: true });
  for (const pkg of ['shared', 'controller']) {
    await cp(join(root, pkg, 'dist', 'src'), join(copy, pkg, 'dist', 'src'), { recursive: true });
    await cp(join(root, pkg, 'package.json'), join(copy, pkg, 'package.json'));
  }
  await symlink(join(root, 'node_modules'), join(copy, 'node_modules'));
  await cp(join(root, 'examples'), join(copy, 'examples'), { recursive: true });
  await writeFile(join(copy, 'scripts', 'docs-src', 'broken.md'), '# Broken\n\n<!-- @fields GitRepo spek -->\n');
  const r = await new Promise<{ code: number; stderr: string }>((done) => {
    execFile(process.execPath, [join(copy, 'scripts', 'gen-docs.mjs'), '--check'], { cwd: copy }, (err, _o, stderr) =>
      done({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stderr }),
    );
  });
  t.equal(r.code, 2);
  t.match(r.stderr, 'gen-docs: scripts/docs-src/broken.md: line 3: @fields: part must be spec or status, not "spek"');
});

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .replace(/`/g, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const m = fenced ? null : /^#{1,6} (.+?)\s*#*$/.exec(line);
    if (m === null) continue;
    const base = slug(m[1] ?? '');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

function links(markdown: string): string[] {
  const out: string[] = [];
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    if (fenced) continue;
    // Inline code is not a link: drop it first.
    for (const m of line.replace(/`[^`]*`/g, '').matchAll(/\]\(([^)\s]+)\)/g)) out.push(m[1] ?? '');
  }
  return out;
}

t.test('docs/index.md links every page, and relative links and anchors in docs/ and README resolve', async (t) => {
  const docs = await markdownFiles(join(root, 'docs'));
  const index = await readFile(join(root, 'docs', 'index.md'), 'utf8');
  const indexed = new Set(links(index).map((l) => resolve(root, 'docs', l.split('#')[0] ?? '')));
  for (const page of docs) {
    if (page.endsWith(`${join('docs', 'index.md')}`)) continue;
    t.ok(indexed.has(page), `docs/index.md links ${relative(root, page)}`);
  }
  for (const file of [...docs, join(root, 'README.md')]) {
    const text = await readFile(file, 'utf8');
    for (const link of links(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue; // http:, https:, mailto:
      const [path = '', anchor] = link.split('#');
      const target = path === '' ? file : resolve(dirname(file), path);
      const where = `${relative(root, file)}: ${link}`;
      const content = await readFile(target, 'utf8').catch(() => undefined);
      if (content === undefined) {
        // A directory link (e.g. charts/git-events-runner) is fine when the directory exists.
        const isDir = await readdir(target).then(
          () => true,
          () => false,
        );
        t.ok(isDir, `${where} leads to an existing file`);
        continue;
      }
      if (anchor !== undefined && target.endsWith('.md')) t.ok(anchors(content).has(anchor), `${where}: anchor exists`);
    }
  }
});

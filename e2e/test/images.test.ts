import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ensureImages } from '../src/images.js';
import { testCluster } from '../src/index.js';
import { nodeUnavailable } from '../src/node-cluster.js';

// images/build-local.sh: the same inputs give the same image, byte for byte, from two empty caches; a
// second call with nothing changed reuses the cache. Built for the pause image (compiled from
// Kubernetes' pause.c, a layer and an OCI archive of the script's own making), which takes seconds; the
// Debian-based images go through the same layer and archive code (their two cold builds compared equal
// when the script was written, docs/local-node.md).

const why = nodeUnavailable();
const sha = async (file: string) =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

t.test(
  'the pause image is reproducible and cached by content',
  { skip: why && `images need a real node's machine: ${why}` },
  async (t) => {
    const { binDir } = testCluster();
    const caches = [await mkdtemp(join(tmpdir(), 'ger-images-a-')), await mkdtemp(join(tmpdir(), 'ger-images-b-'))];
    t.teardown(() => Promise.all(caches.map((c) => rm(c, { recursive: true, force: true }))).then(() => undefined));
    const build = (cacheDir: string) => ensureImages(binDir, { images: ['pause'], cacheDir, progress: 'pipe' });
    const [a, b] = [await build(caches[0] as string), await build(caches[1] as string)];
    const name = 'registry.k8s.io/pause:3.10.1';
    const [fileA, fileB] = [a.get(name), b.get(name)];
    t.ok(fileA !== undefined && fileB !== undefined, `both builds made ${name}`);
    if (fileA === undefined || fileB === undefined) return;
    t.not(fileA, fileB, 'in two caches');
    t.equal(await sha(fileA), await sha(fileB), 'the same archive, byte for byte');
    const before = (await stat(fileA)).mtimeMs;
    const again = await build(caches[0] as string);
    t.equal(again.get(name), fileA, 'a second build names the cached archive');
    t.equal((await stat(fileA)).mtimeMs, before, 'and does not write it again');
  },
);

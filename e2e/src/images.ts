import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CodedError } from '@git-events-runner/shared';
import { repoRoot, run } from './tools.js';

// The project's container images built on this machine without Docker or a registry
// (images/build-local.sh, see images/README.md "Built here without Docker"), for a real node's
// containerd: OCI archives, cached by content, imported with `ctr images import`.

/** The images build-local.sh builds, by the short names it takes. */
export const IMAGE_NAMES = ['git-events-runner', 'git-events-admission', 'action-worker', 'pause'] as const;
export type ImageName = (typeof IMAGE_NAMES)[number];

/** The codes of {@link ImagesError}. */
export const IMAGES_ERROR_CODES = ['BUNDLE_FAILED', 'BUILD_FAILED', 'IMPORT_FAILED'] as const;

/** Building, bundling or importing an image failed; the message carries the tool's own error output. */
export class ImagesError extends CodedError<(typeof IMAGES_ERROR_CODES)[number]> {
  override readonly name = 'ImagesError';
}

/** What {@link ensureImages} builds and from what. */
export interface EnsureImagesOptions {
  /** Which images; all four by default. */
  readonly images?: readonly ImageName[];
  /**
   * A directory holding git-events-runner.mjs and git-events-admission.mjs, used as they are. By
   * default the compiled programs (controller/dist, admission/dist: `npm run build`) are bundled afresh.
   */
  readonly bundleDir?: string;
  /** The cache directory (GER_IMAGES_CACHE); by default ~/.cache/git-events-runner/images. */
  readonly cacheDir?: string;
  /** Where the build's progress goes: this process's stderr (default) or nowhere but an error's message. */
  readonly progress?: 'inherit' | 'pipe';
}

/**
 * Builds (only what changed) the images through images/build-local.sh and returns each image's name
 * (`ghcr.io/git-events-runner/git-events-runner:v0.1.0`, ...) with the path of its OCI archive. `toolsBin`
 * holds the kubectl and helm copied into the action worker (the directory e2e/tools/build.sh prints).
 *
 * Unless `bundleDir` is given the bundles are made again on every call (about two seconds) into a
 * directory of this call's own: a dist/bundle left by an earlier `npm run bundle` may predate the
 * compiled code, and writing dist/bundle would race with another run doing the same. esbuild's output
 * is the same for the same input, so an unchanged program still hits the image cache.
 * The script needs root (mmdebstrap writes the Debian file systems with their owners).
 */
export async function ensureImages(
  toolsBin: string,
  options: EnsureImagesOptions = {},
): Promise<ReadonlyMap<string, string>> {
  const root = repoRoot();
  const images = options.images ?? IMAGE_NAMES;
  const needsBundles = images.some((i) => i === 'git-events-runner' || i === 'git-events-admission');
  const stderr = options.progress ?? 'inherit';
  const tmp = options.bundleDir === undefined && needsBundles ? await mkdtemp(join(tmpdir(), 'ger-bundle-')) : '';
  try {
    let bundleDir = options.bundleDir ?? join(root, 'dist', 'bundle');
    if (tmp !== '') {
      const bundled = await run(process.execPath, [join(root, 'scripts', 'bundle.mjs'), '--out', tmp], { cwd: root });
      if (bundled.code !== 0) {
        throw new ImagesError(
          'BUNDLE_FAILED',
          `scripts/bundle.mjs failed with exit code ${bundled.code}: ${bundled.stderr.trim()}`,
        );
      }
      // The bundle script skips the admission server while admission/dist is not built; the build
      // script would then ask for `npm run bundle`, which is not what is missing here.
      const skipped = bundled.stdout.split('\n').find((l) => l.startsWith('skipped git-events-admission'));
      if (skipped !== undefined && images.includes('git-events-admission'))
        throw new ImagesError('BUNDLE_FAILED', `${skipped.trim()}: run npm run build first`);
      bundleDir = tmp;
    }
    const env = options.cacheDir === undefined ? process.env : { ...process.env, GER_IMAGES_CACHE: options.cacheDir };
    const script = join(root, 'images', 'build-local.sh');
    const result = await run('bash', [script, '--tools-bin', toolsBin, '--bundle-dir', bundleDir, ...images], {
      env,
      stderr,
      cwd: root,
    });
    if (result.code !== 0) {
      const detail =
        stderr === 'pipe' ? result.stderr.trim().split('\n').slice(-20).join('\n') : '(its output is above)';
      throw new ImagesError('BUILD_FAILED', `images/build-local.sh failed with exit code ${result.code}: ${detail}`);
    }
    const archives = new Map<string, string>();
    for (const line of result.stdout.split('\n')) {
      const [name, archive] = line.split('\t');
      if (name !== undefined && archive !== undefined && name !== '') archives.set(name, archive);
    }
    if (archives.size !== images.length) {
      throw new ImagesError(
        'BUILD_FAILED',
        `images/build-local.sh printed ${archives.size} images for ${images.length} asked: ${result.stdout.trim()}`,
      );
    }
    return archives;
  } finally {
    if (tmp !== '') await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Imports OCI archives into containerd's `k8s.io` namespace (the one the CRI plugin, and so the kubelet,
 * uses), one `ctr images import` each, unpacked for the default snapshotter. An image already there with
 * the same content costs a read of the archive. Rejects with the first failure, ctr's stderr included.
 */
export async function importImages(ctr: string, address: string, archives: Iterable<string>): Promise<void> {
  for (const archive of archives) {
    let result: Awaited<ReturnType<typeof run>>;
    try {
      result = await run(ctr, ['--namespace', 'k8s.io', '--address', address, 'images', 'import', archive]);
    } catch (err) {
      throw new ImagesError('IMPORT_FAILED', `could not run ${ctr}: ${(err as Error).message}`, { cause: err });
    }
    if (result.code !== 0) {
      throw new ImagesError(
        'IMPORT_FAILED',
        `ctr images import ${archive} (containerd at ${address}) failed with exit code ${result.code}: ${result.stderr.trim()}`,
      );
    }
  }
}

// `npm run images`: builds forkpool's three images from their Dockerfiles with buildah (`buildah bud`,
// daemonless, chroot isolation; no Docker engine, no registry) and writes each as an OCI archive that
// `ctr images import` reads:
//
//   .images/oci/worker.oci.tar           ghcr.io/forkpool/worker:VERSION          worker-image/Dockerfile
//   .images/oci/worker-example.oci.tar   ghcr.io/forkpool/worker-example:VERSION  examples/Dockerfile
//   .images/oci/operator.oci.tar         ghcr.io/forkpool/operator:VERSION        operator/Dockerfile
//
// The Dockerfiles' base, node:24-bookworm-slim, is not pulled: it is assembled here under that name from a
// minimal Debian bookworm root filesystem (mmdebstrap, from the Debian mirror) and this machine's Node 24 (the
// `node` package in node_modules), npm and Node headers, with the node image's user 1000. The root filesystem
// is cached in .images/cache, the base and every build step in buildah's storage (.images/storage, `--layers`),
// and an archive is written again only when its image changed: a second run with nothing changed only checks.
//
// npm in the build reads packages from this machine's npm cache, mounted on /root/.npm as an overlay (its
// writes are dropped), with prefer-offline: a package the cache lacks is fetched from the registry. apt-get
// in the build uses the Debian mirror.
//
// Everything runs in a mount namespace of its own (`unshare --mount`) with a tmpfs on buildah's run root: the
// overlay mounts of buildah and mmdebstrap vanish with it, even after a crash, and leave this machine as it was.
// Needs root, and the Debian packages buildah and mmdebstrap (scripts/setup.ts installs them as root).
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { z } from 'zod';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const version = z.object({ version: z.string() }).parse(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))).version;

/** Where everything of the images lives; git-ignored. `rm -rf .images` starts from scratch. */
export const imagesDir = join(root, '.images');
const cacheDir = join(imagesDir, 'cache');
const storageDir = join(imagesDir, 'storage');
const runRoot = join(imagesDir, 'run');
const ociDir = join(imagesDir, 'oci');
const resultFile = join(ociDir, 'images.json');

/** The base every Dockerfile starts FROM, and the full name buildah resolves it to. */
export const baseImage = 'node:24-bookworm-slim';
const baseReference = `docker.io/library/${baseImage}`;
const debianSuite = 'bookworm';
const debianMirror = 'http://deb.debian.org/debian';

export interface ImageSpec {
  /** Short name: the archive is `.images/oci/<key>.oci.tar`. */
  key: string;
  reference: string;
  dockerfile: string;
  /** The build context, relative to the repository root. */
  context: string;
}

/** The images, in build order: the example worker image is built FROM the worker image. */
export const images: ImageSpec[] = [
  { key: 'worker', reference: `ghcr.io/forkpool/worker:${version}`, dockerfile: 'worker-image/Dockerfile', context: '.' },
  { key: 'worker-example', reference: `ghcr.io/forkpool/worker-example:${version}`, dockerfile: 'examples/Dockerfile', context: 'examples' },
  { key: 'operator', reference: `ghcr.io/forkpool/operator:${version}`, dockerfile: 'operator/Dockerfile', context: '.' },
];

const builtImage = z.object({ key: z.string(), reference: z.string(), archive: z.string(), id: z.string(), seconds: z.number(), archived: z.boolean() });
export type BuiltImage = z.infer<typeof builtImage>;

/** Why the images cannot be built on this machine, or undefined when they can. */
export function imagesUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `the images are built with buildah, on Linux; this is ${process.platform}`;
  if (process.getuid?.() !== 0) return 'the images are built as root (buildah with chroot isolation, mmdebstrap for the base): run as root, e.g. in CI';
  const missing = ['buildah', 'mmdebstrap', 'unshare', 'mount', 'npm'].filter((command) => !onPath(command));
  if (missing.length > 0) return `building the images needs ${missing.join(', ')}: \`apt-get install buildah mmdebstrap util-linux\` (scripts/setup.ts does it as root)`;
  if (nodeHeaders() === undefined) return 'the base image needs Node headers (node_api.h, uv.h) as worker-image/native/build.ts finds them: `apt-get install libnode-dev`';
  return undefined;
}

function onPath(command: string): boolean {
  return (process.env['PATH'] ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/bin']).some((dir) => dir !== '' && existsSync(join(dir, command)));
}

/** The Node headers worker-image/native/build.ts would use on this machine. */
function nodeHeaders(): string | undefined {
  const fromEnv = process.env['NODE_API_HEADERS'];
  const dirs = fromEnv !== undefined && fromEnv !== '' ? [fromEnv] : [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node'];
  return dirs.find((dir) => existsSync(join(dir, 'node_api.h')) && existsSync(join(dir, 'uv.h')));
}

/**
 * Builds the images (in a mount namespace of its own, see above) and returns them; an image whose build is
 * cached comes back in a few seconds. Its output goes to `log`, e.g. process.stderr or a file's stream.
 */
export async function buildImages(log: NodeJS.WritableStream = process.stderr): Promise<BuiltImage[]> {
  const unavailable = imagesUnavailable();
  if (unavailable !== undefined) throw new Error(unavailable);
  const unchanged = unchangedImages(await inputStamps());
  if (unchanged !== undefined) {
    log.write(`images: up to date, their inputs unchanged since they were archived (${unchanged.map((b) => b.archive).join(', ')})\n`);
    return unchanged;
  }
  rmSync(resultFile, { force: true });
  const child = spawn('unshare', ['--mount', '--propagation', 'private', '--', process.execPath, fileURLToPath(import.meta.url), '--in-namespace'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`building the images failed (exit ${code}); its output is above`);
  return z.array(builtImage).parse(JSON.parse(readFileSync(resultFile, 'utf8')));
}

function buildah(args: string[]): string[] {
  return ['--root', storageDir, '--runroot', runRoot, '--storage-driver', 'overlay', ...args];
}

async function buildahOutput(args: string[]): Promise<string> {
  return (await run('buildah', buildah(args), { maxBuffer: 64 * 1024 * 1024 })).stdout.trim();
}

/** Runs a command with its output on ours; throws naming it when it fails. */
function step(command: string, args: string[]): void {
  execFileSync(command, args, { stdio: 'inherit', cwd: root });
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function imageLabel(reference: string, label: string): Promise<string | undefined> {
  try {
    const inspected = z
      .object({ OCIv1: z.object({ config: z.object({ Labels: z.record(z.string(), z.string()).nullish() }).nullish() }) })
      .parse(JSON.parse(await buildahOutput(['inspect', '--type', 'image', reference])));
    return inspected.OCIv1.config?.Labels?.[label];
  } catch {
    return undefined;
  }
}

/** mmdebstrap's arguments and sources for the base's root filesystem, and the tar in .images/cache they make. */
function debianRootfsPlan(): { args: string[]; sources: string[]; tar: string } {
  const sources = [
    `deb ${debianMirror} ${debianSuite} main`,
    `deb ${debianMirror} ${debianSuite}-updates main`,
    `deb ${debianMirror}-security ${debianSuite}-security main`,
  ];
  // minbase (Essential packages and apt), without the documentation a slim image drops too.
  const args = [
    '--variant=minbase',
    '--dpkgopt=path-exclude=/usr/share/man/*',
    '--dpkgopt=path-exclude=/usr/share/doc/*',
    '--dpkgopt=path-include=/usr/share/doc/*/copyright',
    '--dpkgopt=path-exclude=/usr/share/info/*',
    '--dpkgopt=path-exclude=/usr/share/locale/*',
    debianSuite,
  ];
  return { args, sources, tar: join(cacheDir, `debian-${debianSuite}-${sha256(JSON.stringify([args, sources])).slice(0, 16)}.tar`) };
}

/** A Debian root filesystem as a tar, made once per argument list and kept in .images/cache. */
function debianRootfs(): string {
  const { args, sources, tar } = debianRootfsPlan();
  if (existsSync(tar)) return tar;
  mkdirSync(cacheDir, { recursive: true });
  const started = Date.now();
  step('mmdebstrap', [...args, `${tar}.partial`, ...sources]);
  renameSync(`${tar}.partial`, tar);
  console.log(`debian ${debianSuite} root filesystem: ${((Date.now() - started) / 1000).toFixed(0)} s (cached in ${tar})`);
  return tar;
}

/** What the base is made of, and the stamp naming them all (its label forkpool.base-stamp). */
async function baseParts(): Promise<{ nodeBinary: string; npmPackage: string; headers: string; nodeVersion: string; npmVersion: string; stamp: string }> {
  const nodeBinary = realpathSync(join(root, 'node_modules', 'node', 'bin', 'node'));
  const npmPackage = dirname(dirname(realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim())));
  const headers = nodeHeaders();
  if (headers === undefined) throw new Error(imagesUnavailable());
  const nodeVersion = execFileSync(nodeBinary, ['--version'], { encoding: 'utf8' }).trim();
  const npmVersion = z.object({ version: z.string() }).parse(JSON.parse(readFileSync(join(npmPackage, 'package.json'), 'utf8'))).version;
  const stamp = sha256(JSON.stringify([debianRootfsPlan().tar, await fileSha256(nodeBinary), npmVersion, readFileSync(join(headers, 'node_version.h'), 'utf8')]));
  return { nodeBinary, npmPackage, headers, nodeVersion, npmVersion, stamp };
}

/**
 * Assembles node:24-bookworm-slim in buildah's storage, as the node image makes it: Debian, node, npm and npx
 * in /usr/local, Node's headers in /usr/local/include/node, the user node (1000:1000). Skipped when the image
 * there was made from the same parts (its label forkpool.base-stamp).
 */
async function assembleBase(): Promise<void> {
  const rootfs = debianRootfs();
  const { nodeBinary, npmPackage, headers, nodeVersion, npmVersion, stamp } = await baseParts();
  if ((await imageLabel(baseReference, 'forkpool.base-stamp')) === stamp) {
    console.log(`${baseImage}: up to date`);
    return;
  }
  const started = Date.now();
  const container = await buildahOutput(['from', '--pull-never', 'scratch']);
  try {
    step('buildah', buildah(['add', container, rootfs, '/']));
    step('buildah', buildah(['copy', container, nodeBinary, '/usr/local/bin/node']));
    step('buildah', buildah(['copy', container, npmPackage, '/usr/local/lib/node_modules/npm']));
    step('buildah', buildah(['copy', container, headers, '/usr/local/include/node']));
    step(
      'buildah',
      buildah([
        'run', '--isolation', 'chroot', container, '--', 'sh', '-c',
        'set -e; ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm; ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx; '
          + 'groupadd --gid 1000 node; useradd --uid 1000 --gid node --shell /bin/bash --create-home node; node --version; npm --version',
      ]),
    );
    step('buildah', buildah(['config', '--env', `NODE_VERSION=${nodeVersion.slice(1)}`, '--cmd', 'node', '--label', `forkpool.base-stamp=${stamp}`, container]));
    step('buildah', buildah(['commit', '--rm', container, baseReference]));
  } catch (err) {
    await buildahOutput(['rm', container]).catch(() => undefined);
    throw err;
  }
  console.log(`${baseImage}: assembled from Debian ${debianSuite} and Node ${nodeVersion}, npm ${npmVersion} (headers ${headers}) in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

/** A Dockerfile's lines, continuations joined. */
function dockerfileLines(text: string): string[] {
  return text.replace(/\\\n/g, ' ').split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
}

/** The files of the build context that a Dockerfile copies (COPY and ADD not --from a stage), less .dockerignore's. */
function contextFiles(image: ImageSpec): string[] {
  const context = join(root, image.context);
  const ignoreFile = join(context, '.dockerignore');
  const ignored = existsSync(ignoreFile) ? readFileSync(ignoreFile, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')) : [];
  // The patterns used here: NAME (at the context's top) and **/NAME (at any depth).
  const isIgnored = (path: string): boolean =>
    ignored.some((pattern) => (pattern.startsWith('**/') ? path.split('/').includes(pattern.slice(3)) : path === pattern || path.startsWith(`${pattern}/`)));
  const files: string[] = [];
  const walk = (path: string): void => {
    if (isIgnored(path)) return;
    const full = join(context, path);
    if (!statSync(full).isDirectory()) {
      files.push(path);
      return;
    }
    for (const entry of readdirSync(full)) walk(path === '.' ? entry : `${path}/${entry}`);
  };
  for (const line of dockerfileLines(readFileSync(join(root, image.dockerfile), 'utf8'))) {
    const [instruction, ...rest] = line.split(/\s+/);
    if (!/^(COPY|ADD)$/i.test(instruction ?? '') || rest.some((arg) => arg.startsWith('--from'))) continue;
    const sources = rest.filter((arg) => !arg.startsWith('--')).slice(0, -1);
    for (const source of sources) {
      if (/[*?[]/.test(source)) throw new Error(`${image.dockerfile}: COPY ${source}: a wildcard, which the images' stamp does not resolve`);
      walk(source.replace(/^\.\/|\/$/g, '') || '.');
    }
  }
  return [...new Set(files)].sort();
}

/**
 * Each image's input stamp: its Dockerfile, the context files it copies, the base's stamp, and the stamp of the
 * image it is built FROM. Archives whose stamp matches are not built again: a warm run does not start buildah.
 */
export async function inputStamps(): Promise<Map<string, string>> {
  const { stamp: base } = await baseParts();
  const stamps = new Map<string, string>();
  for (const image of images) {
    const dockerfile = readFileSync(join(root, image.dockerfile), 'utf8');
    const from = images.filter((other) => stamps.has(other.key) && dockerfile.includes(other.reference)).map((other) => stamps.get(other.key));
    const files = await Promise.all(contextFiles(image).map(async (file) => [file, await fileSha256(join(root, image.context, file))]));
    stamps.set(image.key, sha256(JSON.stringify([image, dockerfile, files, base, from])));
  }
  return stamps;
}

const stampFile = (image: ImageSpec): string => join(ociDir, `${image.key}.oci.tar.stamp`);

/** The images of the last build, if every archive is there and was built from the inputs as they are now. */
function unchangedImages(stamps: Map<string, string>): BuiltImage[] | undefined {
  try {
    const last = z.array(builtImage).parse(JSON.parse(readFileSync(resultFile, 'utf8')));
    const fresh = images.every((image) => {
      const built = last.find((b) => b.key === image.key);
      return built !== undefined && existsSync(built.archive) && readFileSync(stampFile(image), 'utf8') === stamps.get(image.key);
    });
    return fresh ? last.map((b) => ({ ...b, seconds: 0, archived: false })) : undefined;
  } catch {
    return undefined;
  }
}

/** Builds one image from its Dockerfile and writes its archive, unless the archive already holds this image. */
async function buildImage(image: ImageSpec, npmrc: string): Promise<BuiltImage> {
  const started = Date.now();
  const npmCache = execFileSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8' }).trim();
  mkdirSync(npmCache, { recursive: true });
  step('buildah', buildah([
    'bud', '--isolation', 'chroot', '--pull=never', '--layers',
    '--volume', `${npmCache}:/root/.npm:O`, '--volume', `${npmrc}:/root/.npmrc:ro`,
    '-f', image.dockerfile, '-t', image.reference, image.context,
  ]));
  const id = await buildahOutput(['inspect', '--type', 'image', '--format', '{{.FromImageID}}', image.reference]);
  const archive = join(ociDir, `${image.key}.oci.tar`);
  const idFile = `${archive}.id`;
  const archived = !(existsSync(archive) && existsSync(idFile) && readFileSync(idFile, 'utf8') === id);
  if (archived) {
    rmSync(archive, { force: true });
    step('buildah', buildah(['push', '--quiet', image.reference, `oci-archive:${archive}:${image.reference}`]));
    writeFileSync(idFile, id);
  }
  const seconds = (Date.now() - started) / 1000;
  console.log(`${image.reference}: ${archived ? 'built and archived' : 'up to date'} in ${seconds.toFixed(0)} s (${archive})`);
  return { key: image.key, reference: image.reference, archive, id, seconds, archived };
}

/** The build itself, inside the private mount namespace. */
async function buildInNamespace(): Promise<void> {
  mkdirSync(runRoot, { recursive: true });
  mkdirSync(ociDir, { recursive: true });
  step('mount', ['-t', 'tmpfs', '-o', 'mode=0700', 'forkpool-images', runRoot]);
  // Working containers a killed run left: their mounts went with its namespace.
  step('buildah', buildah(['rm', '--all']));
  await assembleBase();
  const npmrc = join(imagesDir, 'npmrc');
  writeFileSync(npmrc, 'prefer-offline=true\naudit=false\nfund=false\nupdate-notifier=false\n');
  const stamps = await inputStamps();
  const built: BuiltImage[] = [];
  for (const image of images) {
    rmSync(stampFile(image), { force: true });
    built.push(await buildImage(image, npmrc));
    writeFileSync(stampFile(image), stamps.get(image.key) ?? '');
  }
  writeFileSync(resultFile, JSON.stringify(built, null, 2));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--in-namespace')) {
    await buildInNamespace();
  } else {
    const started = Date.now();
    await buildImages(process.stdout);
    console.log(`images ready in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
}

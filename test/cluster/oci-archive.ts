// Writes a one-layer OCI image archive (an OCI image layout in a tar), the form that
// `ctr images import` reads, from files of this machine: the real node's pause image and small
// test images, made without a registry or an image builder. GNU tar makes the tars, with fixed
// owners and times so that the same files give the same digests.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** This machine's architecture as image platforms name it. */
const architecture = process.arch === 'x64' ? 'amd64' : process.arch;

/** One entry of the image's file system. */
export type ImageEntry =
  | { path: string; kind: 'file'; source: string; mode?: number }
  | { path: string; kind: 'content'; content: string; mode?: number }
  | { path: string; kind: 'symlink'; target: string }
  | { path: string; kind: 'dir'; mode?: number };

export interface ImageDescription {
  /** The full reference the image is imported as, e.g. `registry.k8s.io/pause:3.10.2`. */
  name: string;
  entries: ImageEntry[];
  entrypoint?: string[];
  cmd?: string[];
  /** `uid` or `uid:gid`; default root. */
  user?: string;
  env?: string[];
  workingDir?: string;
}

const tarFlags = ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '--format=posix', '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime'];

interface Blob {
  digest: string;
  size: number;
}

function writeBlob(layout: string, data: Buffer): Blob {
  const hex = createHash('sha256').update(data).digest('hex');
  writeFileSync(join(layout, 'blobs', 'sha256', hex), data);
  return { digest: `sha256:${hex}`, size: data.length };
}

/** Writes the image as an OCI archive at `archivePath`. */
export async function writeOciArchive(archivePath: string, image: ImageDescription): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'forkpool-oci-'));
  try {
    const rootfs = join(work, 'rootfs');
    mkdirSync(rootfs);
    for (const entry of image.entries) {
      const target = join(rootfs, entry.path);
      mkdirSync(dirname(target), { recursive: true });
      switch (entry.kind) {
        case 'dir':
          mkdirSync(target, { recursive: true });
          chmodSync(target, entry.mode ?? 0o755);
          break;
        case 'file':
          copyFileSync(entry.source, target);
          chmodSync(target, entry.mode ?? 0o755);
          break;
        case 'content':
          writeFileSync(target, entry.content);
          chmodSync(target, entry.mode ?? 0o644);
          break;
        case 'symlink':
          symlinkSync(entry.target, target);
          break;
      }
    }
    const layerPath = join(work, 'layer.tar');
    await run('tar', [...tarFlags, '-C', rootfs, '-cf', layerPath, '.']);
    const layerData = readFileSync(layerPath);

    const layout = join(work, 'layout');
    mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
    const layer = writeBlob(layout, layerData);
    const config = writeBlob(
      layout,
      Buffer.from(
        JSON.stringify({
          architecture,
          os: 'linux',
          config: {
            ...(image.entrypoint !== undefined && { Entrypoint: image.entrypoint }),
            ...(image.cmd !== undefined && { Cmd: image.cmd }),
            ...(image.user !== undefined && { User: image.user }),
            Env: image.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
            ...(image.workingDir !== undefined && { WorkingDir: image.workingDir }),
          },
          rootfs: { type: 'layers', diff_ids: [layer.digest] },
        }),
      ),
    );
    const manifest = writeBlob(
      layout,
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
        }),
      ),
    );
    const tag = image.name.slice(image.name.lastIndexOf(':') + 1);
    writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    writeFileSync(
      join(layout, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            ...manifest,
            platform: { architecture, os: 'linux' },
            annotations: { 'io.containerd.image.name': image.name, 'org.opencontainers.image.ref.name': tag },
          },
        ],
      }),
    );
    mkdirSync(dirname(archivePath), { recursive: true });
    await run('tar', [...tarFlags, '-C', layout, '-cf', archivePath, '.']);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

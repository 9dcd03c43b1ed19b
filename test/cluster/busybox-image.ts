// A tiny image for the real node's tests, from Debian's static busybox: a shell script that
// says its PID, serves HTTP on 8080 from /tmp/www (readiness at /ready), and says when it gets
// SIGTERM.
import { existsSync } from 'node:fs';
import type { V1Pod } from '@kubernetes/client-node';
import { writeOciArchive } from './oci-archive.ts';

export const busyboxImage = 'forkpool.test/busybox:1';

/** Where Debian's busybox-static puts its binary. */
const busybox = '/bin/busybox';

const serve = `#!/bin/sh
trap 'echo "SIGTERM received"; exit 0' TERM
echo "started as pid $$"
mkdir -p /tmp/www
echo ok > /tmp/www/ready
httpd -p 8080 -h /tmp/www
while true; do sleep 1; done
`;

/** Why the image cannot be built here, or undefined. */
export function busyboxUnavailable(): string | undefined {
  return existsSync(busybox) ? undefined : `the real node's test image needs a static ${busybox}: \`apt-get install busybox-static\``;
}

export async function writeBusyboxImage(archivePath: string): Promise<void> {
  await writeOciArchive(archivePath, {
    name: busyboxImage,
    entries: [
      { path: 'bin/busybox', kind: 'file', source: busybox },
      ...['sh', 'httpd', 'sleep', 'echo', 'mkdir', 'rm', 'touch', 'kill', 'id', 'cat'].map((name) => ({ path: `bin/${name}`, kind: 'symlink' as const, target: 'busybox' })),
      { path: 'bin/serve', kind: 'content', content: serve, mode: 0o755 },
      { path: 'tmp', kind: 'dir', mode: 0o1777 },
    ],
    cmd: ['/bin/serve'],
  });
}

/** A pod running the image as a user would harden it: uid 1000, a read-only root, an HTTP readiness probe. */
export function busyboxPod(name: string): V1Pod {
  return {
    metadata: { name },
    spec: {
      terminationGracePeriodSeconds: 20,
      securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000 },
      containers: [
        {
          name: 'serve',
          image: busyboxImage,
          imagePullPolicy: 'Never',
          securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          readinessProbe: { httpGet: { path: '/ready', port: 8080 }, periodSeconds: 1, failureThreshold: 1 },
          volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
        },
      ],
      volumes: [{ name: 'tmp', emptyDir: {} }],
    },
  };
}

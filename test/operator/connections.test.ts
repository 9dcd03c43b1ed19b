// The operator's API requests share their connections: twenty calls in a row go over one connection to
// the API server, not twenty (client-node alone opens a new one for each and keeps it until its keep-alive ends).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { KubeApi } from '../../operator/src/kube.ts';
import { startEnv, type Env } from './harness.ts';

/** This process's established TCP connections to `port` on 127.0.0.1 (their socket inodes), from /proc. */
function connectionsTo(port: number): Set<string> {
  const ours = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m?.[1] !== undefined) ours.add(m[1]);
    } catch {
      // The fd closed while we read the folder.
    }
  }
  const remote = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return new Set(
    readFileSync('/proc/self/net/tcp', 'utf8')
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((f) => f[2] === remote && f[3] === '01' && ours.has(f[9] ?? ''))
      .map((f) => f[9] ?? ''),
  );
}

describe('API connections', { timeout: 120_000 }, () => {
  let env: Env;

  before(async () => {
    env = await startEnv();
  });
  after(async () => {
    await env?.stop();
  });

  it('twenty requests in a row use one connection', async () => {
    const port = Number(new URL(env.cluster.server).port);
    const before = connectionsTo(port);
    const api = new KubeApi(env.kc);
    for (let i = 0; i < 20; i++) {
      assert.equal(await api.readSecretKey('default', 'absent', 'key'), undefined);
    }
    // Connections opened by the set-up may close meanwhile: count only those that were not there before.
    const opened = [...connectionsTo(port)].filter((c) => !before.has(c));
    assert.equal(opened.length, 1, 'new connections to the API server after twenty requests');
  });
});

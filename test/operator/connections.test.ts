// How the operator reaches the API server: its requests share their connections (twenty calls in a row go
// over one connection, not twenty), and a kubeconfig user with an exec plugin works through the binary.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeApi } from '../../operator/src/kube.ts';
import { createNamespace, createPool, operatorLog, poolSpec, replicasOf, spawnOperator, startEnv, until, type Env } from './harness.ts';

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

  const procs: ChildProcess[] = [];

  before(async () => {
    env = await startEnv();
  });
  after(async () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
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

  it('a kubeconfig user with an exec plugin: the operator runs the plugin once and acts', async () => {
    // The plugin prints an ExecCredential holding the admin's token and counts its runs.
    const runs = join(env.cluster.dir, 'exec-plugin.runs');
    const plugin = join(env.cluster.dir, 'exec-plugin.sh');
    writeFileSync(plugin, `#!/bin/sh\necho run >> '${runs}'\nprintf '%s' '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"${env.cluster.adminToken}"}}'\n`);
    chmodSync(plugin, 0o755);
    const kubeconfig = join(env.cluster.dir, 'exec.kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        'current-context': 'exec',
        clusters: [{ name: 'test', cluster: { server: env.cluster.server, 'certificate-authority-data': Buffer.from(env.cluster.caPem).toString('base64') } }],
        users: [{ name: 'plugin', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: plugin, interactiveMode: 'Never' } } }],
        contexts: [{ name: 'exec', context: { cluster: 'test', user: 'plugin' } }],
      }),
    );
    await createNamespace(env, 'exec');
    await createPool(env, 'exec', 'pool', poolSpec(env.redis.url, { scaling: { minReplicas: 2, maxReplicas: 4, jobsPerReplica: 10, pollIntervalSeconds: 1, scaleDownDelaySeconds: 3 } }));
    procs.push(spawnOperator(env, 'exec-op', { KUBECONFIG: kubeconfig, LEADER_ELECTION: 'false' }));
    await until('the Deployment at 2 replicas', async () => (await replicasOf(env, 'exec', 'pool')) === 2, 60_000);
    assert.match(operatorLog(env, 'exec-op'), /user plugin authenticates with an exec plugin: authenticating through @kubernetes\/client-node/);
    assert.ok(existsSync(runs), 'the plugin never ran');
    // Lists, watches, an apply and a status patch, all on the credential of one run (it has no expiry).
    assert.equal(readFileSync(runs, 'utf8'), 'run\n');
  });
});

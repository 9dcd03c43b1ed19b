// An idle pool costs the API server nothing: over a quiet minute the operator writes nothing, although
// the live Deployment differs from the desired one in form only (the API server canonicalizes `1000m`
// to `1` and `1024Mi` to `1Gi`, and leaves out an empty env value). The operator reaches the API server
// through a TLS-terminating proxy that counts its write requests; it re-lists every 5 s, so each pool is
// reconciled a dozen times in the minute.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { startOperator, type RunningOperator } from '../../operator/src/operator.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { condition, createNamespace, createPool, getPool, poolSpec, sleep, startEnv, testConfig, until, type Env } from './harness.ts';

const QUIET_MS = 60_000;

describe('an idle pool', { timeout: 300_000 }, () => {
  let env: Env;
  let proxy: TcpProxy | undefined;
  let operator: RunningOperator | undefined;
  /** Write requests (method and path) with their time. */
  const writes: { at: number; request: string }[] = [];

  before(async () => {
    env = await startEnv();
    const pki = (file: string): string => readFileSync(join(env.cluster.dir, 'pki', file), 'utf8');
    proxy = await startTcpProxy(Number(new URL(env.cluster.server).port), {
      tls: { cert: pki('apiserver.crt'), key: pki('apiserver.key'), ca: env.cluster.caPem },
      onClientData: (_connection, chunk) => {
        // Each request line starts a chunk; a connection may carry several requests.
        const line = /^(POST|PUT|PATCH|DELETE) (\S+) HTTP\/1\.1\r\n/.exec(chunk.toString('latin1'));
        if (line !== null) writes.push({ at: Date.now(), request: `${line[1] ?? ''} ${line[2] ?? ''}` });
      },
    });
    const file = join(env.cluster.dir, 'proxied.kubeconfig');
    writeFileSync(file, readFileSync(env.cluster.kubeconfigPath, 'utf8').replaceAll(env.cluster.server, `https://127.0.0.1:${proxy.port}`));
    const kc = new KubeConfig();
    kc.loadFromFile(file);
    const log = pino({ level: 'debug' }, pino.destination({ dest: join(env.logDir, 'quiet.log'), sync: true }));
    operator = await startOperator({ config: testConfig(), kubeConfig: kc, log, informer: { relistIntervalMs: 5000 } });
  });
  after(async () => {
    await operator?.stop();
    await proxy?.close();
    await env?.stop();
  });

  it('makes no API writes over a quiet minute', async () => {
    await createNamespace(env, 'idle');
    await createPool(env, 'idle', 'pool', poolSpec(env.redis.url, {
      queues: ['idle'],
      scaling: { minReplicas: 1, maxReplicas: 3, jobsPerReplica: 10, pollIntervalSeconds: 1, scaleDownDelaySeconds: 5 },
      template: {
        spec: {
          containers: [{
            name: 'worker',
            image: 'example.com/jobs:1',
            env: [{ name: 'EMPTY', value: '' }],
            resources: { requests: { cpu: '1000m', memory: '1024Mi' }, limits: { cpu: '2000m', memory: '2048Mi' } },
          }],
        },
      },
    }));
    await until('the pool ready with its pod', async () => condition(await getPool(env, 'idle', 'pool'), 'Ready')?.status === 'True', 60_000);
    assert.ok(writes.some((w) => w.request.startsWith('PATCH /apis/apps/v1/namespaces/idle/deployments/pool')), 'the proxy sees the operator\'s writes');
    await sleep(5000);
    const start = Date.now();
    await sleep(QUIET_MS);
    const quiet = writes.filter((w) => w.at >= start).map((w) => w.request);
    assert.deepEqual(quiet, [], `${quiet.length} writes in a quiet minute`);
    const metrics = await (await fetch(`http://127.0.0.1:${operator?.port ?? 0}/metrics`)).text();
    assert.match(metrics, /forkpool_watch_restarts_total\{resource="deployments",reason="relist"\} ([1-9]\d)/, 'the operator re-listed, and so reconciled, all along');
  });
});

// The pod runner on its own: a pool-labelled pod on a fake node becomes a local worker with the pod's
// env (a Secret's value included) and the pod's name as host; a container that dies is restarted; a
// deleted pod's worker gets SIGTERM and, still busy when the grace period ends, SIGKILL.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { startCluster, type Cluster } from '../cluster/cluster.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { createClient, type ForkpoolClient } from '../../queue/src/index.ts';
import { POOL_LABEL } from '../../operator/src/desired-deployment.ts';
import { E2E_JOBS_DIR, readRecords, until } from './env.ts';
import { startPodRunner, type PodRunner } from './pod-runner.ts';
import { startTogether } from '../helpers/start-together.ts';

describe('the pod runner', { timeout: 180_000 }, () => {
  let cluster: Cluster;
  let redis: RedisServer;
  let runner: PodRunner;
  let client: ForkpoolClient;
  let core: CoreV1Api;
  const messages: string[] = [];

  before(async () => {
    [cluster, redis] = await startTogether(startCluster({ log: () => undefined }), startRedis());
    const kc = cluster.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    client = createClient({ url: `${redis.url}/0`, namespace: 'resque' });
    runner = await startPodRunner({
      kubeConfig: kc,
      nodeNames: cluster.nodeNames,
      jobsDir: E2E_JOBS_DIR,
      logDir: join(cluster.dir, 'pods'),
      log: (m) => messages.push(m),
    });
  });
  after(async () => {
    await client?.close();
    await runner?.stop();
    await Promise.all([cluster?.stop(), redis?.stop()]);
  });

  it('runs a pod as a worker, restarts it when it dies, and SIGKILLs it when the grace period ends', async () => {
    await core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 'redis' }, stringData: { url: `${redis.url}/0` } } });
    await core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name: 'direct-0', labels: { [POOL_LABEL]: 'direct' } },
        spec: {
          nodeName: cluster.nodeNames[0] ?? '',
          terminationGracePeriodSeconds: 3,
          containers: [
            {
              name: 'worker',
              image: 'example.com/jobs:1',
              env: [
                { name: 'REDIS_URL', valueFrom: { secretKeyRef: { name: 'redis', key: 'url' } } },
                { name: 'QUEUES', value: 'direct' },
                // Longer than the grace period: the worker would wait for its job, the runner does not.
                { name: 'SHUTDOWN_TIMEOUT_SECONDS', value: '60' },
              ],
            },
          ],
        },
      },
    });

    // Running on the fake node -> a local worker, registered under the pod's name.
    const first = await until('a worker process for the pod', () => runner.running().find((p) => p.pod === 'direct-0'), 60_000);
    const registered = await until('the worker registered in Redis', async () => (await client.workers()).find((w) => w.pid === first.pid), 30_000);
    assert.equal(registered.host, 'direct-0');
    assert.deepEqual(registered.queues, ['direct']);

    // A container that dies is started again while the pod lives.
    first.proc.kill('SIGKILL');
    const second = await until('the container restarted', () => runner.running().find((p) => p.pod === 'direct-0' && p.pid !== first.pid), 30_000);
    await until('the restarted worker registered', async () => (await client.workers()).some((w) => w.pid === second.pid), 30_000);

    // Busy with a long job when the pod is deleted: SIGTERM, then SIGKILL after the 3 s grace.
    const recordFile = join(mkdtempSync(join(tmpdir(), 'forkpool-runner-')), 'records.jsonl');
    await client.enqueue('direct', 'E2eRecord', recordFile, 'long', 60_000);
    await until('the long job started', () => readRecords(recordFile).some((r) => r.id === 'long' && r.event === 'start'), 30_000);
    const deletedAt = Date.now();
    await core.deleteNamespacedPod({ namespace: 'default', name: 'direct-0' });
    await until('the worker process gone', () => second.exit !== undefined, 30_000);
    const tookMs = Date.now() - deletedAt;
    assert.ok(second.terminatingSince !== undefined);
    assert.equal(second.exit?.signal, 'SIGKILL', `exit ${JSON.stringify(second.exit)}`);
    assert.ok(tookMs >= 2500 && tookMs < 15_000, `SIGKILL came ${tookMs} ms after the deletion (grace 3 s)`);
    assert.ok(second.logs.some((l) => typeof l['msg'] === 'string' && /stop|shut/i.test(l['msg'])), 'the worker saw SIGTERM first');
    assert.ok(messages.some((m) => m.includes('SIGTERM')) && messages.some((m) => m.includes('SIGKILL')), messages.join('\n'));

    // Gone for good: not restarted.
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(runner.running().length, 0);
  });
});

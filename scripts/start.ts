// npm start: a local Redis, a forkpool-worker on examples/jobs, and a burst of example jobs, with a progress
// line until the queues are drained. Stops everything it started.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createClient } from '../queue/src/index.ts';
import { startRedis } from '../test/helpers/redis.ts';

const JOBS = 300;
const root = fileURLToPath(new URL('..', import.meta.url));
console.log(`node ${process.version}: starting redis-server on a free port...`);
const server = await startRedis();
const client = createClient({ url: server.url });
const worker = spawn(process.execPath, [`${root}dist/worker-image/src/bin.js`], {
  env: {
    ...process.env, REDIS_URL: server.url, QUEUES: 'critical,mailers,images,reports', JOBS_DIR: `${root}examples/jobs`,
    CONCURRENCY: '2', JOBS_PER_CHILD: '1', PORT: '0', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});
console.log(`worker pid ${worker.pid}: QUEUES=critical,mailers,images,reports CONCURRENCY=2 JOBS_PER_CHILD=1 JOBS_DIR=examples/jobs`);

const stop = async (code: number): Promise<never> => {
  worker.kill('SIGTERM');
  await new Promise((r) => worker.once('exit', r));
  await client.close();
  await server.stop();
  process.exit(code);
};
process.once('SIGINT', () => void stop(130));
process.once('SIGTERM', () => void stop(143));

while ((await client.workers()).length === 0) await new Promise((r) => setTimeout(r, 20));
const t0 = performance.now();
for (let i = 0; i < JOBS; i++) {
  const kind = i % 10;
  if (kind < 5) await client.enqueue('mailers', 'SendWelcomeEmail', i, i % 50 === 3 ? 'no-address' : `user${i}@example.com`);
  else if (kind < 9) await client.enqueue('images', 'ResizeImage', i, [64, 128]);
  else await client.enqueue('reports', 'Reports::Nightly', `2026-11-${String((i % 28) + 1).padStart(2, '0')}`);
}
await client.enqueue('critical', 'SendWelcomeEmail', 0, 'ceo@example.com');
const total = JOBS + 1;
console.log(`enqueued ${total} jobs on ${server.url}`);
for (;;) {
  const s = await client.stats();
  const done = s.processed;
  const secs = (performance.now() - t0) / 1000;
  const line = `  ${secs.toFixed(1).padStart(5)} s  waiting ${String(s.pending).padStart(4)}  running ${s.inFlight}  done ${String(done).padStart(4)}/${total}  failed ${s.failed}  ${(done / secs).toFixed(0)} jobs/s`;
  process.stdout.write(process.stdout.isTTY ? `\r${line}` : `${line}\n`);
  if (done >= total) break;
  await new Promise((r) => setTimeout(r, process.stdout.isTTY ? 200 : 1000));
}
console.log('\nfailures (as resque-web would list them):');
for (const f of await client.failed.list(0, 5)) console.log(`  ${f.record?.exception}: ${f.record?.error}`);
await stop(0);

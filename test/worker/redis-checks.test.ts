// The worker's start-up checks of its Redis: a version too old is refused, a memory policy that may evict
// keys (and jobs with them) is a warning and a metric, and a server that hides its settings (CONFIG renamed
// or denied, as managed Redis does) is read another way or not checked, never a failure.
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import {
  evictionProblem, MIN_REDIS_VERSION, parseInfo, readServerFacts, versionProblem,
} from '../../queue/src/redis-checks.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { sleep } from '../helpers/wait.ts';
import { startWorker, stopWorker, type WorkerProcess } from '../helpers/worker.ts';

describe('Redis checks: pure', () => {
  const versions: [string | undefined, boolean][] = [
    ['2.8.24', false],
    ['3.2.12', false],
    ['4.0.14', false],
    ['4.9.105', false], // a 5.0 release candidate
    ['5.0', true],
    ['5.0.0', true],
    ['5.0.14', true],
    ['6.0.20', true],
    ['6.2.11', true], // Dragonfly's claim
    ['7.2.4', true], // Valkey's claim
    ['10.0.0', true],
    [undefined, true], // unread: not judged
    ['unknown', true],
  ];
  for (const [version, ok] of versions) {
    it(`version ${String(version)}: ${ok ? 'accepted' : 'refused'}`, () => {
      const problem = versionProblem(version);
      if (ok) assert.equal(problem, undefined);
      else assert.match(problem ?? '', new RegExp(`Redis ${version ?? ''} is too old: forkpool needs Redis ${MIN_REDIS_VERSION} or later`));
    });
  }

  it('only noeviction is a safe memory policy; an unknown one is not judged', () => {
    assert.equal(evictionProblem('noeviction'), undefined);
    assert.equal(evictionProblem(undefined), undefined);
    for (const policy of ['allkeys-lru', 'allkeys-lfu', 'allkeys-random', 'volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl']) {
      assert.match(evictionProblem(policy) ?? '', new RegExp(`maxmemory-policy is ${policy}: .* set it to noeviction`));
    }
  });

  it('reads the fields of an INFO reply', () => {
    const info = parseInfo('# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n\r\n# Memory\r\nmaxmemory_policy:noeviction\r\n');
    assert.equal(info.get('redis_version'), '7.0.15');
    assert.equal(info.get('maxmemory_policy'), 'noeviction');
    assert.equal(info.has('# Server'), false);
  });
});

describe('Redis checks: reading a real server', () => {
  it('CONFIG renamed away: the policy is read from INFO memory', async () => {
    const server = await startRedis({ args: ['--maxmemory-policy', 'volatile-lru', '--rename-command', 'CONFIG', ''] });
    try {
      const facts = await readServerFacts(server.connect());
      assert.equal(facts.evictionPolicy, 'volatile-lru');
      assert.match(facts.version ?? '', /^\d+\.\d+\.\d+$/);
      assert.match(facts.unread.join('\n'), /CONFIG GET maxmemory-policy: ERR unknown command/);
    } finally {
      await server.stop();
    }
  });

  it('CONFIG and INFO both denied by an ACL: nothing is known, and nothing fails', async () => {
    const server = await startRedis();
    const admin = server.connect();
    await admin.call('ACL', 'SETUSER', 'app', 'on', '>secret', '~*', '&*', '+@all', '-config', '-info');
    const redis = new Redis({ port: server.port, host: '127.0.0.1', username: 'app', password: 'secret' });
    try {
      const facts = await readServerFacts(redis);
      assert.deepEqual([facts.version, facts.evictionPolicy], [undefined, undefined]);
      assert.equal(facts.unread.length, 3, facts.unread.join('\n'));
      assert.ok(facts.unread.every((why) => /NOPERM/.test(why)), facts.unread.join('\n'));
    } finally {
      redis.disconnect();
      await server.stop();
    }
  });
});

describe('worker: start-up checks of its Redis', () => {
  let lru: RedisServer;
  let plain: RedisServer;
  const workers: WorkerProcess[] = [];
  before(async () => {
    [lru, plain] = await Promise.all([startRedis({ args: ['--maxmemory-policy', 'allkeys-lru'] }), startRedis()]);
  });
  after(async () => {
    await Promise.all(workers.map(stopWorker));
    await Promise.all([lru.stop(), plain.stop()]);
  });

  const metricsOf = async (w: WorkerProcess): Promise<string> => {
    const port = Number((await w.waitForLog((l) => l.msg === 'worker started')).port);
    return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  };

  it('a policy that may evict keys: a warning, and the metric at 0 with the policy', async () => {
    const w = await startWorker({ REDIS_URL: lru.url });
    workers.push(w);
    const warning = await w.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('Redis\'s maxmemory-policy is allkeys-lru'));
    assert.equal(warning.level, 40);
    assert.equal(warning.policy, 'allkeys-lru');
    assert.match(await metricsOf(w), /^forkpool_redis_eviction_policy_ok\{policy="allkeys-lru"\} 0$/m);
  });

  it('noeviction: no warning, and the metric at 1', async () => {
    const w = await startWorker({ REDIS_URL: plain.url });
    workers.push(w);
    assert.match(await metricsOf(w), /^forkpool_redis_eviction_policy_ok\{policy="noeviction"\} 1$/m);
    assert.equal(w.logs.some((l) => typeof l.msg === 'string' && l.msg.includes('maxmemory-policy')), false);
  });

  it('settings hidden by an ACL: said at debug level, and the worker runs', async () => {
    const admin = plain.connect();
    await admin.call('ACL', 'SETUSER', 'app', 'on', '>secret', '~*', '&*', '+@all', '-config', '-info');
    const w = await startWorker({ REDIS_URL: `redis://app:secret@127.0.0.1:${plain.port}`, LOG_LEVEL: 'debug' });
    workers.push(w);
    const line = await w.waitForLog((l) => l.msg === 'could not read all of the Redis server\'s settings; those are not checked');
    assert.equal(line.level, 20);
    assert.doesNotMatch(await metricsOf(w), /^forkpool_redis_eviction_policy_ok\{/m);
  });

  it('a Redis older than the minimum: the worker exits 1, saying which version it needs', async () => {
    const fake = await fakeRedis('4.0.14');
    try {
      const w = await startWorker({ REDIS_URL: `redis://127.0.0.1:${fake.port}` }, { waitStarted: false });
      workers.push(w);
      const exited = await Promise.race([w.exited, sleep(15_000).then(() => undefined)]);
      assert.equal(exited?.code, 1, `the worker exited (${JSON.stringify(exited)}); last logs: ${JSON.stringify(w.logs.slice(-3))}`);
      const fatal = w.logs.find((l) => l.msg === 'worker could not start');
      assert.match(JSON.stringify(fatal?.err), /Redis 4\.0\.14 is too old: forkpool needs Redis 5\.0 or later/);
      assert.equal(w.logs.some((l) => l.msg === 'worker started'), false);
    } finally {
      await fake.close();
    }
  });
});

/**
 * A server that speaks just enough of Redis's protocol to claim a version: INFO answers with it, every
 * other command with OK.
 */
async function fakeRedis(version: string): Promise<{ port: number; close(): Promise<void> }> {
  const info = `# Server\r\nredis_version:${version}\r\nloading:0\r\n`;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    let buffered = Buffer.alloc(0);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const command = readCommand(buffered);
        if (!command) break;
        buffered = buffered.subarray(command.length);
        socket.write(command.name.toUpperCase() === 'INFO' ? `$${Buffer.byteLength(info)}\r\n${info}\r\n` : '+OK\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** The first command of a RESP buffer (an array of bulk strings): its name and byte length, or undefined. */
function readCommand(buf: Buffer): { name: string; length: number } | undefined {
  let at = 0;
  const line = (): string | undefined => {
    const end = buf.indexOf('\r\n', at);
    if (end < 0) return undefined;
    const text = buf.subarray(at, end).toString();
    at = end + 2;
    return text;
  };
  const head = line();
  if (head === undefined || !head.startsWith('*')) return undefined;
  let name = '';
  for (let i = 0; i < Number(head.slice(1)); i++) {
    const len = line();
    if (len === undefined) return undefined;
    const n = Number(len.slice(1));
    if (buf.length < at + n + 2) return undefined;
    if (i === 0) name = buf.subarray(at, at + n).toString();
    at += n + 2;
  }
  return { name, length: at };
}

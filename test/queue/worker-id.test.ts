// Worker ids: forkpool's `host:pid-start:queues`, and Ruby Resque's `host:pid:queues`, read as Resque reads them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatWorkerId, newStartId, parseWorkerId, type WorkerIdParts } from '../../queue/src/worker-id.ts';

describe('worker ids', () => {
  const cases: [string, string, WorkerIdParts][] = [
    ['a forkpool worker', 'pool-7d9f-abcde:1-3f9a2c1b:critical,mailers', { host: 'pool-7d9f-abcde', pid: 1, start: '3f9a2c1b', queues: ['critical', 'mailers'] }],
    ['a Ruby worker', 'vm:11461:slow', { host: 'vm', pid: 11461, start: undefined, queues: ['slow'] }],
    ['every queue', 'h:7-00ff00ff:*', { host: 'h', pid: 7, start: '00ff00ff', queues: ['*'] }],
  ];
  for (const [name, id, parts] of cases) {
    it(`${name}: ${id}`, () => {
      assert.deepEqual(parseWorkerId(id), parts);
      assert.equal(formatWorkerId(parts), id);
    });
  }

  it('the pid part is what Ruby\'s String#to_i reads: the pid', () => {
    // Resque's Worker.find: host, pid, queues_raw = id.split(':', 3); worker.pid = pid.to_i
    const [, pid = ''] = formatWorkerId({ host: 'h', pid: 42, start: newStartId(), queues: ['q'] }).split(':', 3);
    assert.equal(Number(/^\d+/.exec(pid)?.[0]), 42);
  });

  it('each start has an id of its own, without a colon or a comma', () => {
    const starts = new Set(Array.from({ length: 1000 }, () => newStartId()));
    assert.equal(starts.size, 1000);
    for (const s of starts) assert.match(s, /^[0-9a-f]{8}$/);
  });
});

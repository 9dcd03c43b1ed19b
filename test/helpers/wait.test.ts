import assert from 'node:assert/strict';
import { test } from 'node:test';
import { until } from './wait.ts';

test('until returns the first value that is not undefined, null or false', async () => {
  let calls = 0;
  const got = await until('the third call', () => (++calls === 3 ? { calls } : calls === 1 ? null : false), 1000, 1);
  assert.deepEqual(got, { calls: 3 });
});

test('until calls a check that throws again, and returns once it passes', async () => {
  let calls = 0;
  const got = await until('an assertion that passes on the second call', () => {
    calls++;
    assert.equal(calls, 2);
    return true;
  }, 1000, 1);
  assert.equal(got, true);
});

test('on timeout, until names what it waited for and the last value seen', async () => {
  let n = 0;
  await assert.rejects(until('n to reach 1000', () => (++n >= 1000 ? n : false), 30, 5), (err: Error) => {
    assert.match(err.message, /^timed out after 30 ms waiting for n to reach 1000 \(last value: false\)$/);
    return true;
  });
});

test('on timeout, until gives the last error as the message and the cause', async () => {
  await assert.rejects(until('a pod Running', () => assert.equal('Pending', 'Running'), 30, 5), (err: Error) => {
    assert.match(err.message, /waiting for a pod Running \(last error: Expected values to be strictly equal:/);
    assert.ok(err.cause instanceof assert.AssertionError);
    return true;
  });
});

// How every forkpool process connects to Redis: the worker, the operator, the CLI and the dashboard share
// these options. Their one rule is about failover. Managed Redis (ElastiCache, Memorystore, Azure) fails
// over by moving a DNS name, and connections opened before the move still reach the old primary, now a
// replica: its answers say so, and the connection is dropped and opened again, through the name, to the new
// primary.
import type { RedisOptions } from 'ioredis';

/**
 * The answers of a server that cannot take writes now: READONLY (a replica, e.g. a demoted primary),
 * MASTERDOWN (a replica that lost its primary and serves no stale data), LOADING (loading its data set at
 * start); and on Redis Cluster MOVED (the namespace's slot has another owner) and CLUSTERDOWN. A script's error carries the server's own inside its message (after a `-` before Redis 7).
 */
const CANNOT_WRITE = /(?:^|[\s-])(?:READONLY|MASTERDOWN|LOADING|MOVED|CLUSTERDOWN) /;

/** Whether an error is a server's answer that it cannot take writes now (see CANNOT_WRITE). */
export function isFailoverError(err: Error): boolean {
  return CANNOT_WRITE.test(err.message);
}

/**
 * `options` with the failover rule: on a READONLY, MASTERDOWN or LOADING answer the connection is dropped
 * and reconnects (with its retry strategy), and the command that got the answer fails with it. It is not
 * re-sent by ioredis: the commands of a MULTI cannot be re-sent one by one, and every caller already
 * retries a failed command (the worker's job path until it succeeds, the operator on its next tick).
 * `onFailover` is told of each such answer, before the connection is dropped.
 */
export function redisOptions(options: RedisOptions, onFailover?: (err: Error) => void): RedisOptions {
  return {
    ...options,
    reconnectOnError: (err: Error) => {
      if (!isFailoverError(err)) return false;
      onFailover?.(err);
      return 1;
    },
  };
}

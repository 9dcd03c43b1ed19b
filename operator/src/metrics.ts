// The operator's Prometheus metrics, on a registry of its own.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'forkpool_operator_' });
  const pool = ['namespace', 'pool'] as const;
  return {
    registry,
    queueDepth: new Gauge({ name: 'forkpool_pool_queue_depth', help: 'Jobs waiting in the pool\'s queues.', labelNames: pool, registers: [registry] }),
    inFlight: new Gauge({ name: 'forkpool_pool_in_flight', help: 'Jobs of the pool\'s queues held by workers.', labelNames: pool, registers: [registry] }),
    desiredReplicas: new Gauge({ name: 'forkpool_pool_desired_replicas', help: 'Worker pods the operator asks for.', labelNames: pool, registers: [registry] }),
    replicas: new Gauge({ name: 'forkpool_pool_replicas', help: 'Worker pods that exist.', labelNames: pool, registers: [registry] }),
    readyReplicas: new Gauge({ name: 'forkpool_pool_ready_replicas', help: 'Worker pods that are ready.', labelNames: pool, registers: [registry] }),
    scaleEvents: new Counter({ name: 'forkpool_scale_events_total', help: 'Replica changes the operator made.', labelNames: ['direction'], registers: [registry] }),
    reconcileDuration: new Histogram({
      name: 'forkpool_reconcile_duration_seconds',
      help: 'Time to reconcile one pool.',
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    reconcileErrors: new Counter({ name: 'forkpool_reconcile_errors_total', help: 'Reconciles that failed and were retried.', registers: [registry] }),
    watchRestarts: new Counter({ name: 'forkpool_watch_restarts_total', help: 'Restarts of a list-and-watch, by resource and reason (gone, quiet, relist, error).', labelNames: ['resource', 'reason'], registers: [registry] }),
    redisRoundTrip: new Histogram({
      name: 'forkpool_redis_poll_duration_seconds',
      help: 'Duration of one pipelined poll of a Redis server.',
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 2],
      registers: [registry],
    }),
    redisEvictionPolicyOk: new Gauge({
      name: 'forkpool_redis_eviction_policy_ok',
      help: 'Per Redis server, its maxmemory-policy (label): 1 for noeviction, 0 for a policy that may evict jobs. Absent when it cannot be read.',
      labelNames: ['redis', 'policy'],
      registers: [registry],
    }),
    redisPollErrors: new Counter({ name: 'forkpool_redis_poll_errors_total', help: 'Polls of a Redis server that failed.', registers: [registry] }),
    scheduledJobs: new Counter({ name: 'forkpool_scheduled_jobs_enqueued_total', help: 'Jobs enqueued by cron schedules.', registers: [registry] }),
    delayedMoved: new Counter({ name: 'forkpool_delayed_jobs_moved_total', help: 'Due delayed jobs moved to their queues.', registers: [registry] }),
    apiWrites: new Counter({ name: 'forkpool_api_writes_total', help: 'Write requests the operator sent to the Kubernetes API, by resource and verb.', labelNames: ['resource', 'verb'], registers: [registry] }),
    leader: new Gauge({ name: 'forkpool_operator_leader', help: '1 while this replica is the leader.', registers: [registry] }),
  };
}

// Prometheus metrics of one worker master.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface WorkerMetrics {
  readonly registry: Registry;
  readonly processed: Counter<'queue' | 'class'>;
  readonly failed: Counter<'queue' | 'class' | 'exception'>;
  readonly retried: Counter<'queue' | 'class'>;
  readonly duration: Histogram<'queue' | 'class'>;
  readonly childStart: Histogram;
  readonly queueWait: Histogram<'queue'>;
  readonly writtenOff: Counter;
  readonly evictionPolicyOk: Gauge<'policy'>;
  readonly queueNotifications: Gauge;
}

export function createMetrics(): WorkerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'forkpool_worker_' });
  const jobBuckets = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300];
  return {
    registry,
    processed: new Counter({ name: 'forkpool_jobs_processed_total', help: 'Jobs finished (failed ones included, as Resque counts).', labelNames: ['queue', 'class'], registers: [registry] }),
    failed: new Counter({ name: 'forkpool_jobs_failed_total', help: 'Jobs recorded in the failed list, by exception.', labelNames: ['queue', 'class', 'exception'], registers: [registry] }),
    retried: new Counter({ name: 'forkpool_jobs_retried_total', help: 'Failed jobs scheduled for another attempt.', labelNames: ['queue', 'class'], registers: [registry] }),
    duration: new Histogram({ name: 'forkpool_job_duration_seconds', help: 'Time a job ran in its child.', labelNames: ['queue', 'class'], buckets: jobBuckets, registers: [registry] }),
    childStart: new Histogram({ name: 'forkpool_child_start_seconds', help: 'Time from starting a child to it being ready (modules loaded).', buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 5], registers: [registry] }),
    queueWait: new Histogram({ name: 'forkpool_job_queue_wait_seconds', help: 'Time from enqueue to start, for payloads that carry their enqueue time (ActiveJob).', labelNames: ['queue'], buckets: jobBuckets, registers: [registry] }),
    writtenOff: new Counter({ name: 'forkpool_worker_written_off_total', help: 'Heartbeats that found this worker written off as dead (its heartbeat had expired and its jobs were handed back).', registers: [registry] }),
    queueNotifications: new Gauge({ name: 'forkpool_worker_queue_notifications', help: 'How idle slots learn of new jobs: 1 from Redis\'s change notifications (CLIENT TRACKING), 0 by polling every 100 ms (Redis refused them).', registers: [registry] }),
    evictionPolicyOk: new Gauge({ name: 'forkpool_redis_eviction_policy_ok', help: 'Redis\'s maxmemory-policy (label): 1 for noeviction, 0 for a policy that may evict jobs. Absent when it cannot be read.', labelNames: ['policy'], registers: [registry] }),
  };
}

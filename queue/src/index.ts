// forkpool's public API: the Resque-compatible queue client and the protocol it speaks.
export { createClient, itemId } from './client.ts';
export type {
  ClientOptions, ForkpoolClient, FailedItem, FailedFilter, FailedPage, FailedBulkResult, ItemRef, QueuedItem, DelayedItem, WorkerInfo, Stats,
} from './client.ts';
export { RedisTarget, redisTargetFromEnv, type RedisEnv } from './redis-connection.ts';
export { DontPerform, ForkpoolError, PayloadTooLargeError, type ForkpoolErrorKind } from './errors.ts';
export { keys, DEFAULT_NAMESPACE, type Keys } from './keys.ts';
export {
  parseJob, encodePayload, encodeDelayed, encodeFailure, formatFailedAt, formatRunAt, formatStarted, formatHeartbeat,
  JobPayload, FailureRecord, RunningJob, ACTIVE_JOB_WRAPPER, DEFAULT_MAX_PAYLOAD_BYTES,
  type RunnableJob, type FailureInput, type ParseResult, type Unrunnable,
} from './payload.ts';
export { scripts, Script, type Requeued, type ScriptCall, type Transition } from './scripts.ts';
export { formatWorkerId, newStartId, parseWorkerId, type WorkerIdParts } from './worker-id.ts';

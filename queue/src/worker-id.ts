// Worker ids, as Resque names workers (`host:pid:queues`), with each start of a process told apart.
//
// A container restarted in place keeps its host name (the pod's) and, in a fresh PID namespace, gets the
// same PID again: `host:pid:queues` alone would name the dead process and its successor alike, and the
// successor's heartbeats would keep the dead one's in-flight jobs from ever being recovered. So a forkpool
// worker's pid part is `<pid>-<start>`, the start a random id drawn by each process. It goes into the pid
// part because that is where Resque's readers look least closely: Resque's `Worker.find` splits the id as
// `host, pid, queues = id.split(':', 3)` and keeps `pid.to_i`, the digits before the dash; resque-web shows
// the part as it is; `prune_dead_workers` judges only ids whose host is its own host name; the operator maps
// ids to pods by the host part. The start is random rather than a time, so that two starts within one clock
// tick, or across a clock set back, still differ.
import { randomBytes } from 'node:crypto';

/** What a worker id says. */
export interface WorkerIdParts {
  /** the host name, in Kubernetes the pod's name */
  readonly host: string;
  readonly pid: number;
  /** the start of the process, absent in ids of Ruby workers (`host:pid:queues`) */
  readonly start: string | undefined;
  readonly queues: readonly string[];
}

/** A new start id: 8 hex digits. */
export function newStartId(): string {
  return randomBytes(4).toString('hex');
}

/** `host:<pid>-<start>:q1,q2` (`host:pid:q1,q2` without a start, as Resque's). */
export function formatWorkerId(parts: WorkerIdParts): string {
  const pid = parts.start === undefined ? String(parts.pid) : `${parts.pid}-${parts.start}`;
  return `${parts.host}:${pid}:${parts.queues.join(',')}`;
}

/** Reads a worker id as Resque's `Worker.find` does: host, pid (its leading digits), queues. */
export function parseWorkerId(id: string): WorkerIdParts {
  const [host = '', pidPart = '', ...rest] = id.split(':');
  const m = /^(\d*)(?:-(.*))?$/.exec(pidPart);
  return {
    host,
    pid: Number.parseInt(pidPart, 10) || 0,
    start: m?.[2] || undefined,
    queues: rest.join(':').split(',').filter(Boolean),
  };
}

// Scale-down safety: before the operator lowers a pool's replicas, pods running jobs get a higher
// pod-deletion-cost than idle ones, so the ReplicaSet removes idle pods first.
import type { Redis } from 'ioredis';
import { keys } from '../../queue/src/keys.ts';

export const DELETION_COST_ANNOTATION = 'controller.kubernetes.io/pod-deletion-cost';
/** Cost per job a pod holds: a pod with more jobs in flight goes later. */
export const COST_PER_JOB = 100;

/** The pod a worker id (`host:pid-start:queues`, host = the pod's name, POD_NAME) runs in. */
export function podOfWorker(workerId: string): string {
  const i = workerId.indexOf(':');
  return i === -1 ? workerId : workerId.slice(0, i);
}

/**
 * The annotation changes to make: each pod's cost is COST_PER_JOB × the jobs it holds (0 when idle);
 * pods whose annotation already says so are left out, a missing annotation counting as 0.
 */
export function deletionCostPatches(
  pods: { name: string; annotations: Record<string, string> | undefined }[],
  jobsByPod: ReadonlyMap<string, number>,
): Map<string, string> {
  const patches = new Map<string, string>();
  for (const pod of pods) {
    const want = String(Math.min((jobsByPod.get(pod.name) ?? 0) * COST_PER_JOB, 1_000_000));
    const have = pod.annotations?.[DELETION_COST_ANNOTATION] ?? '0';
    if (have !== want) patches.set(pod.name, want);
  }
  return patches;
}

/** Jobs held per pod, from the worker registry and the in-flight hashes (two round trips). */
export async function jobsByPod(redis: Redis, namespace: string): Promise<Map<string, number>> {
  const k = keys(namespace);
  const workers = await redis.smembers(k.workers);
  const result = new Map<string, number>();
  if (workers.length === 0) return result;
  const pipeline = redis.pipeline();
  for (const id of workers) pipeline.hlen(k.inflight(id));
  const replies = (await pipeline.exec()) ?? [];
  workers.forEach((id, i) => {
    const [err, n] = replies[i] ?? [new Error('missing reply'), 0];
    if (err !== null) throw err;
    if (Number(n) > 0) result.set(podOfWorker(id), (result.get(podOfWorker(id)) ?? 0) + Number(n));
  });
  return result;
}

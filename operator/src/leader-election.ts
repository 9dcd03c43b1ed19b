// Leader election on a coordination.k8s.io/v1 Lease, as client-go does it (client-node has none):
// the holder renews every retry period; another candidate takes over once it has seen the same
// record unchanged for a whole lease duration (its own clock only, so clock skew does not matter);
// a leader that could not renew within the renew deadline stops acting.
import type { V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { statusCode, type KubeApi } from './kube.ts';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  onStartedLeading: () => void;
  /** Called once when leadership is lost; the caller must stop acting (the operator exits). */
  onStoppedLeading: () => void;
  log: Logger;
}

/** controller-runtime's timings. */
export const DEFAULT_TIMINGS = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 } as const;

/** Lease times are MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

export class LeaderElector {
  readonly #o: LeaderElectionOptions;
  readonly #api: KubeApi;
  #leading = false;
  #stopped = false;
  /** The record last seen and when (our clock) it was first seen in that form. */
  #observed: { key: string; at: number } | undefined;
  #lastRenew = 0;
  #loop: Promise<void> | undefined;

  constructor(api: KubeApi, options: LeaderElectionOptions) {
    this.#api = api;
    this.#o = options;
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  async #run(): Promise<void> {
    const { retryPeriodMs, renewDeadlineMs } = this.#o;
    while (!this.#stopped) {
      let ok = false;
      try {
        ok = await this.#tryAcquireOrRenew();
      } catch (err) {
        this.#o.log.warn({ err: String(err) }, 'lease: could not read or write the lease');
      }
      if (this.#stopped) break;
      const now = Date.now();
      if (ok) {
        this.#lastRenew = now;
        if (!this.#leading) {
          this.#leading = true;
          this.#o.log.info({ lease: `${this.#o.namespace}/${this.#o.name}`, identity: this.#o.identity }, 'became the leader');
          this.#o.onStartedLeading();
        }
      } else if (this.#leading && now - this.#lastRenew > renewDeadlineMs) {
        this.#leading = false;
        this.#o.log.error({ lease: `${this.#o.namespace}/${this.#o.name}` }, 'lost the lease: could not renew it within the renew deadline');
        this.#o.onStoppedLeading();
        return;
      }
      // Jitter keeps candidates from hitting the API server in step.
      await sleep(this.#leading ? retryPeriodMs : retryPeriodMs * (1 + Math.random() * 0.2));
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.#o;
    const leaseSeconds = Math.ceil(this.#o.leaseDurationMs / 1000);
    const now = new Date();
    let lease: V1Lease;
    try {
      lease = await this.#api.readLease(namespace, name);
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
      try {
        await this.#api.createLease(namespace, {
          metadata: { name, namespace },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds: leaseSeconds,
            // MicroTime must go out with six fractional digits; the client passes strings through.
            acquireTime: microTime(now) as unknown as Date,
            renewTime: microTime(now) as unknown as Date,
            leaseTransitions: 0,
          },
        });
        return true;
      } catch (createErr) {
        if (statusCode(createErr) === 409) return false;
        throw createErr;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const recordKey = `${holder}|${String(spec.renewTime)}|${spec.leaseDurationSeconds ?? ''}`;
    if (this.#observed?.key !== recordKey) this.#observed = { key: recordKey, at: Date.now() };
    const durationMs = (spec.leaseDurationSeconds ?? leaseSeconds) * 1000;
    if (holder !== '' && holder !== identity && this.#observed.at + durationMs > Date.now()) return false;

    const takingOver = holder !== identity;
    const acquire = spec.acquireTime === undefined ? undefined : toDate(spec.acquireTime);
    const next: V1Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: leaseSeconds,
        acquireTime: microTime(takingOver || acquire === undefined ? now : acquire) as unknown as Date,
        renewTime: microTime(now) as unknown as Date,
        leaseTransitions: (spec.leaseTransitions ?? 0) + (takingOver && holder !== '' ? 1 : 0),
      },
    };
    try {
      await this.#api.replaceLease(namespace, next);
      return true;
    } catch (err) {
      if (statusCode(err) === 409) return false;
      throw err;
    }
  }

  /** Stops campaigning; a leader hands the lease back (empty holder, 1 s) so that another takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
    if (!this.#leading) return;
    this.#leading = false;
    try {
      const lease = await this.#api.readLease(this.#o.namespace, this.#o.name);
      if (lease.spec?.holderIdentity !== this.#o.identity) return;
      const now = microTime(new Date()) as unknown as Date;
      await this.#api.replaceLease(this.#o.namespace, {
        ...lease,
        spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now, acquireTime: now },
      });
    } catch (err) {
      this.#o.log.warn({ err: String(err) }, 'lease: could not hand the lease back');
    }
  }
}

function toDate(v: unknown): Date | undefined {
  if (v instanceof Date) return v;
  if (typeof v === 'string') return new Date(v);
  return undefined;
}

// Leader election on a coordination.k8s.io/v1 Lease, as client-go does it (client-node has none):
// the holder renews every retry period; another candidate takes over once it has seen the same
// record unchanged for a whole lease duration (its own monotonic clock only, so clock skew and clock
// steps do not matter); a leader that could not renew within the renew deadline stops acting. Every
// Lease call is aborted at that deadline, so a call the network or the API server holds cannot keep
// a leader acting past it: the leader's deadline (renew deadline after the start of its last good
// renew) always falls before the lease duration a follower waits from when it saw that renew.
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
  /** The record last seen and when (performance.now()) it was first seen in that form. */
  #observed: { key: string; at: number } | undefined;
  /** When (performance.now()) the last successful renew started. */
  #lastRenew = 0;
  #loop: Promise<void> | undefined;
  /** Aborts the attempt in flight when the elector stops. */
  readonly #stopping = new AbortController();
  /** Ends the leadership at the renew deadline, whatever the loop is waiting for. */
  #deadlineTimer: NodeJS.Timeout | undefined;
  #lost = false;

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
      const startedAt = performance.now();
      // A leader's attempt ends at its deadline; a candidate's after a renew deadline of its own.
      const deadline = this.#leading ? this.#lastRenew + renewDeadlineMs : startedAt + renewDeadlineMs;
      let ok = false;
      try {
        ok = await this.#tryAcquireOrRenew(AbortSignal.any([AbortSignal.timeout(Math.max(0, Math.ceil(deadline - startedAt))), this.#stopping.signal]));
      } catch (err) {
        if (!this.#stopped) this.#o.log.warn({ err: String(err) }, 'lease: could not read or write the lease');
      }
      if (this.#stopped || this.#lost) break;
      if (ok) {
        this.#lastRenew = startedAt;
        this.#armDeadline();
        if (!this.#leading) {
          this.#leading = true;
          this.#o.log.info({ lease: `${this.#o.namespace}/${this.#o.name}`, identity: this.#o.identity }, 'became the leader');
          this.#o.onStartedLeading();
        }
      }
      // Jitter keeps candidates from hitting the API server in step.
      await sleep(this.#leading ? retryPeriodMs : retryPeriodMs * (1 + Math.random() * 0.2));
    }
  }

  /** (Re)starts the timer that ends the leadership at the renew deadline of the last good renew. */
  #armDeadline(): void {
    clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = setTimeout(() => this.#lose('could not renew it within the renew deadline'), Math.max(0, this.#lastRenew + this.#o.renewDeadlineMs - performance.now()));
  }

  /** Stops acting for good: a leader that missed its deadline may have been replaced already; the operator exits. */
  #lose(why: string): void {
    if (!this.#leading || this.#stopped) return;
    this.#leading = false;
    this.#lost = true;
    this.#stopping.abort();
    this.#o.log.error({ lease: `${this.#o.namespace}/${this.#o.name}`, renewDeadlineMs: this.#o.renewDeadlineMs }, `lost the lease: ${why}`);
    this.#o.onStoppedLeading();
  }

  async #tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const { namespace, name, identity } = this.#o;
    const leaseSeconds = Math.ceil(this.#o.leaseDurationMs / 1000);
    const now = new Date();
    let lease: V1Lease;
    try {
      lease = await this.#api.readLease(namespace, name, signal);
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
        }, signal);
        return true;
      } catch (createErr) {
        if (statusCode(createErr) === 409) return false;
        throw createErr;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const recordKey = `${holder}|${String(spec.renewTime)}|${spec.leaseDurationSeconds ?? ''}`;
    if (this.#observed?.key !== recordKey) this.#observed = { key: recordKey, at: performance.now() };
    const durationMs = (spec.leaseDurationSeconds ?? leaseSeconds) * 1000;
    if (holder !== '' && holder !== identity) {
      // Someone else holds it: it waited out our lease, so we are past our deadline whatever our clock says.
      if (this.#leading) this.#lose(`${holder} holds it`);
      if (this.#lost || this.#observed.at + durationMs > performance.now()) return false;
    }

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
      await this.#api.replaceLease(namespace, next, signal);
      return true;
    } catch (err) {
      if (statusCode(err) === 409) return false;
      throw err;
    }
  }

  /** Stops campaigning; a leader hands the lease back (empty holder, 1 s) so that another takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#deadlineTimer);
    this.#stopping.abort();
    await this.#loop;
    if (!this.#leading) return;
    this.#leading = false;
    // Handing back is worth it only while the lease is still ours: not past the renew deadline.
    const signal = AbortSignal.timeout(Math.max(0, Math.ceil(this.#lastRenew + this.#o.renewDeadlineMs - performance.now())));
    try {
      const lease = await this.#api.readLease(this.#o.namespace, this.#o.name, signal);
      if (lease.spec?.holderIdentity !== this.#o.identity) return;
      const now = microTime(new Date()) as unknown as Date;
      await this.#api.replaceLease(this.#o.namespace, {
        ...lease,
        spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now, acquireTime: now },
      }, signal);
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

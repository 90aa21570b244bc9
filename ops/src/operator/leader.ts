/**
 * Leader election on a coordination.k8s.io/v1 Lease, following client-go's leaderelection
 * protocol (client-node has no helper):
 * - A candidate reads the Lease every `retryPeriodMs` (jittered x1.2). It may take the Lease when
 *   it is free (no holder) or expired: the record has not changed for `leaseDurationMs` as
 *   measured on the candidate's own clock from when it last saw it change (client-go's
 *   observedTime), so clock skew between nodes does not matter.
 * - Taking and renewing are a PUT carrying the resourceVersion that was read (or a POST creating
 *   the Lease): when two candidates race, the API server accepts one and answers 409 to the
 *   other. The resourceVersion decides, never a timestamp.
 * - The leader renews every retry period; if no renewal succeeded for `renewDeadlineMs` it
 *   stops leading (onStoppedLeading: the process exits, since reconciles may be in flight).
 *   renewDeadline < leaseDuration, so it stops before anyone else can take over.
 * - On a clean shutdown it releases the Lease (holder cleared, duration 1 s) so a successor
 *   does not wait for expiry.
 */
import { sleep } from './backoff.ts';
import { isCode, type KubeApi } from './kube-api.ts';
import type { Logger } from './log.ts';
import { LEASE } from './resources.ts';

export interface LeaderElectionConfig {
  namespace: string;
  name: string;
  identity: string;
  /** client-go defaults: 15 s / 10 s / 2 s. */
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: LeaseSpec;
}

/** Lease timestamps are RFC 3339 with microseconds (MicroTime). */
const microTime = (ms: number) => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export class LeaderElector {
  private observedRecord = '';
  private observedAt = 0;
  private lease: Lease | null = null;
  private leading = false;

  constructor(
    private readonly api: KubeApi,
    private readonly c: LeaderElectionConfig,
    private readonly log: Logger,
    private readonly now = () => Date.now(),
  ) {
    if (!(c.renewDeadlineMs < c.leaseDurationMs)) throw new Error('leader election: renewDeadline must be shorter than leaseDuration');
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /**
   * Campaigns until leading, calls `onStartedLeading`, renews until `signal` aborts or renewal
   * fails for renewDeadline (then calls `onStoppedLeading`). After an abort the caller stops its
   * work and then calls `release()`, so no reconcile runs once a successor may lead.
   */
  async run(signal: AbortSignal, onStartedLeading: () => void, onStoppedLeading: () => void): Promise<void> {
    while (!signal.aborted && !(await this.tryAcquireOrRenew())) await sleep(this.c.retryPeriodMs * (1 + 0.2 * Math.random()), signal);
    if (signal.aborted) return;
    this.leading = true;
    this.log.info('became leader', { lease: `${this.c.namespace}/${this.c.name}`, identity: this.c.identity });
    onStartedLeading();
    let lastRenew = this.now();
    while (!signal.aborted) {
      await sleep(this.c.retryPeriodMs, signal);
      if (signal.aborted) break;
      if (await this.tryAcquireOrRenew()) lastRenew = this.now();
      else if (this.now() - lastRenew > this.c.renewDeadlineMs) {
        this.leading = false;
        this.log.error('lost leadership: no renewal within the renew deadline', { renewDeadlineMs: this.c.renewDeadlineMs });
        onStoppedLeading();
        return;
      }
    }
  }

  /** One round of client-go's tryAcquireOrRenew; true when this candidate holds the Lease after it. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.now();
    const mine: LeaseSpec = {
      holderIdentity: this.c.identity,
      leaseDurationSeconds: Math.ceil(this.c.leaseDurationMs / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    let current: Lease;
    try {
      current = await this.api.get<Lease>(LEASE, this.c.namespace, this.c.name);
    } catch (err) {
      if (!isCode(err, 404)) {
        this.log.warn('reading the Lease failed', { error: err as Error });
        return false;
      }
      try {
        this.lease = await this.api.create<Lease>(LEASE, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.c.name, namespace: this.c.namespace },
          spec: mine,
        });
        this.observe(this.lease, now);
        return true;
      } catch (createErr) {
        if (!isCode(createErr, 409)) this.log.warn('creating the Lease failed', { error: createErr as Error });
        return false;
      }
    }
    this.observe(current, now);
    const spec = current.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const durationMs = (spec.leaseDurationSeconds ?? 0) * 1000;
    const held = holder !== '' && holder !== this.c.identity && this.observedAt + durationMs > now;
    if (held) return false;
    const next: LeaseSpec =
      holder === this.c.identity
        ? { ...spec, ...mine, acquireTime: spec.acquireTime ?? mine.acquireTime, leaseTransitions: spec.leaseTransitions ?? 0 }
        : { ...mine, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 };
    try {
      this.lease = await this.api.update<Lease>(LEASE, { ...current, spec: next });
      this.observe(this.lease, now);
      return true;
    } catch (err) {
      // 409: another candidate wrote the Lease after our read; it won this round.
      if (!isCode(err, 409)) this.log.warn('updating the Lease failed', { error: err as Error });
      return false;
    }
  }

  /** Clears the holder so the next candidate takes over at once (client-go's ReleaseOnCancel). */
  async release(): Promise<void> {
    if (!this.leading || !this.lease) return;
    this.leading = false;
    try {
      await this.api.update(LEASE, {
        ...this.lease,
        spec: { ...this.lease.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime(this.now()) },
      });
      this.log.info('released the Lease', { lease: `${this.c.namespace}/${this.c.name}` });
    } catch (err) {
      this.log.warn('releasing the Lease failed; it expires on its own', { error: err as Error });
    }
  }

  private observe(lease: Lease, now: number): void {
    const record = JSON.stringify(lease.spec ?? {});
    if (record !== this.observedRecord) {
      this.observedRecord = record;
      this.observedAt = now;
    }
  }
}

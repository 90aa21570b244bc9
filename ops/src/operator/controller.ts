/**
 * The controller manager: informers on logbus's four resources and on the workloads it owns feed
 * one work queue per resource; `workers` loops per queue reconcile one key at a time (the queue
 * guarantees a key is never reconciled twice at once), requeue failures with exponential
 * backoff and successes after the delay the reconciler asks for. Only the leader reconciles;
 * every replica keeps its caches warm so a new leader starts at once.
 */
import type { K8sObject } from '../chart.ts';
import { Informer } from './informer.ts';
import { isCode } from './kube-api.ts';
import type { Logger } from './log.ts';
import type { OperatorMetrics } from './metrics.ts';
import { WorkQueue } from './queue.ts';
import type { ReconcileContext, Reconciler } from './reconcile/context.ts';
import { reconcileLogBus } from './reconcile/logbus.ts';
import { reconcileLogTopic } from './reconcile/logtopic.ts';
import { reconcileLoadTest, reconcilePublishRun } from './reconcile/runs.ts';
import { DEPLOYMENT, JOB, keyOf, LOADTEST, LOGBUS, LOGTOPIC, MANAGED_BY, PUBLISHRUN, type Resource, STATEFULSET } from './resources.ts';

interface Controlled {
  name: string;
  resource: Resource;
  reconcile: Reconciler;
  queue: WorkQueue;
}

export interface ManagerOptions {
  ctx: ReconcileContext;
  metrics: OperatorMetrics;
  log: Logger;
  namespace: string;
  resyncMs: number;
  workers: number;
  watchTimeoutSeconds?: number;
}

export class ControllerManager {
  readonly controllers: Controlled[];
  readonly informers: Informer[] = [];
  private leading = false;

  constructor(private readonly o: ManagerOptions) {
    const make = (name: string, resource: Resource, reconcile: Reconciler): Controlled => ({
      name,
      resource,
      reconcile,
      queue: new WorkQueue(undefined, (depth) => o.metrics.depth.set({ controller: name }, depth)),
    });
    this.controllers = [
      make('logbus', LOGBUS, reconcileLogBus),
      make('logtopic', LOGTOPIC, reconcileLogTopic),
      make('publishrun', PUBLISHRUN, reconcilePublishRun),
      make('loadtest', LOADTEST, reconcileLoadTest),
    ];
    const informerOptions = {
      namespace: o.namespace || undefined,
      resyncMs: o.resyncMs,
      watchTimeoutSeconds: o.watchTimeoutSeconds,
      onRestart: (resource: string, reason: string) => o.metrics.watchRestarts.inc({ resource, reason }),
    };
    for (const c of this.controllers) {
      this.informers.push(new Informer(o.ctx.api, c.resource, (obj) => this.enqueue(c, keyOf(obj)), o.log, informerOptions));
    }
    // Owned workloads: a change to one reconciles its owner (ownerReferences, controller: true).
    const owned = { ...informerOptions, labelSelector: `app.kubernetes.io/managed-by=${MANAGED_BY}` };
    for (const r of [DEPLOYMENT, STATEFULSET, JOB]) this.informers.push(new Informer(o.ctx.api, r, (obj) => this.enqueueOwner(obj), o.log, owned));
  }

  private enqueue(c: Controlled, key: string): void {
    if (!this.leading) return;
    this.o.metrics.adds.inc({ controller: c.name });
    c.queue.add(key);
  }

  private enqueueOwner(obj: K8sObject): void {
    for (const ref of (obj.metadata.ownerReferences as { kind: string; name: string; controller?: boolean }[] | undefined) ?? []) {
      const c = this.controllers.find((x) => x.resource.kind === ref.kind && ref.controller);
      if (c) this.enqueue(c, `${obj.metadata.namespace}/${ref.name}`);
    }
  }

  /**
   * Starts the informers (every replica). `runs` end after `signal` aborts; `synced` resolves once
   * every informer listed once (or at the abort, so a shutdown during startup does not hang).
   */
  startInformers(signal: AbortSignal): { runs: Promise<void>[]; synced: Promise<void> } {
    const runs = this.informers.map((i) => i.run(signal));
    const aborted = new Promise<void>((r) => (signal.aborted ? r() : signal.addEventListener('abort', () => r(), { once: true })));
    return { runs, synced: Promise.race([Promise.all(this.informers.map((i) => i.waitForSync())).then(() => {}), aborted]) };
  }

  /** Called when this replica becomes leader: everything cached is queued, workers start. */
  startReconciling(signal: AbortSignal): Promise<void>[] {
    this.leading = true;
    for (const c of this.controllers) {
      const informer = this.informers.find((i) => i.resource === c.resource)!;
      for (const obj of informer.cache.values()) this.enqueue(c, keyOf(obj));
    }
    signal.addEventListener('abort', () => this.stop(), { once: true });
    return this.controllers.flatMap((c) => Array.from({ length: this.o.workers }, () => this.work(c)));
  }

  stop(): void {
    for (const c of this.controllers) c.queue.shutDown();
  }

  private async work(c: Controlled): Promise<void> {
    const { metrics, log, ctx } = this.o;
    for (;;) {
      const key = await c.queue.get();
      if (key === null) return;
      const started = performance.now();
      try {
        const outcome = await c.reconcile(key, { ...ctx, log: log.with({ controller: c.name, key }) });
        c.queue.forget(key);
        metrics.reconciles.inc({ controller: c.name, result: outcome.requeueAfterMs ? 'requeue' : 'success' });
        if (outcome.requeueAfterMs) c.queue.addAfter(key, outcome.requeueAfterMs);
      } catch (err) {
        const retryInMs = c.queue.addRateLimited(key);
        if (isCode(err, 409)) {
          // Optimistic concurrency: someone wrote the object between our read and our write (a
          // merge patch carrying its resourceVersion). Not a failure: read again and redo.
          metrics.reconciles.inc({ controller: c.name, result: 'conflict' });
          log.info('conflict: requeued', { controller: c.name, key, error: err as Error, retryInMs });
          continue;
        }
        metrics.reconciles.inc({ controller: c.name, result: 'error' });
        metrics.errors.inc({ controller: c.name });
        log.warn('reconcile failed', { controller: c.name, key, error: err as Error, retries: c.queue.backoff.retries(key), retryInMs });
      } finally {
        metrics.durations.observe({ controller: c.name }, (performance.now() - started) / 1000);
        c.queue.done(key);
      }
    }
  }
}

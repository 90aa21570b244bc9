/** What this replica's workers did: batches applied, their errors, empty leases, loops busy. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { isUnavailable } from '../../errors';
import type { Applied } from '../../workers/apply';
import { BATCH_BUCKETS, LATENCY_BUCKETS } from './buckets';

export class WorkerMetrics {
  private readonly applied: Counter;
  private readonly batchDuration: Histogram;
  private readonly batchEvents: Histogram;
  private readonly errors: Counter;
  private readonly emptyLeases: Counter;

  /** `workersBusy`: worker loops inside a transaction right now. */
  constructor(registry: Registry, workersBusy?: () => number) {
    this.applied = new Counter({
      name: 'logbus_replica_events_applied_total',
      help: 'Events this replica\'s workers moved from the inbox: result="unique" stored, result="duplicate" dropped.',
      labelNames: ['result'],
      registers: [registry],
    });
    this.batchDuration = new Histogram({
      name: 'logbus_worker_batch_duration_seconds',
      help: 'One applied batch: lease a partition, apply, commit.',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
    this.batchEvents = new Histogram({
      name: 'logbus_worker_batch_events',
      help: 'Events per applied batch.',
      buckets: BATCH_BUCKETS,
      registers: [registry],
    });
    this.errors = new Counter({
      name: 'logbus_worker_errors_total',
      help: 'Failed worker batches (rolled back and retried): kind="unavailable" for database outages, "timeout" for statement timeouts (the partition is retried in smaller batches), "other" for the rest; kind="parked" counts events that failed even alone and were moved to inbox_parked.',
      labelNames: ['kind'],
      registers: [registry],
    });
    this.emptyLeases = new Counter({
      name: 'logbus_worker_empty_leases_total',
      help: "Lease transactions of this replica's workers that found no partition with work: wake-ups for nothing, plus one idle poll per worker every 2 s.",
      registers: [registry],
    });
    new Gauge({
      name: 'logbus_workers_busy',
      help: 'Worker loops of this replica inside a transaction right now (each holds a pool connection).',
      registers: [registry],
      collect() {
        this.set(workersBusy ? workersBusy() : 0);
      },
    });
    // Series that exist from the start, so rate() and alerts see a 0 before the first error.
    for (const kind of ['unavailable', 'timeout', 'other', 'parked']) this.errors.inc({ kind }, 0);
    for (const result of ['unique', 'duplicate']) this.applied.inc({ result }, 0);
  }

  /** Records one committed worker batch. */
  readonly observeBatch = (applied: Applied, seconds: number): void => {
    this.batchDuration.observe(seconds);
    this.batchEvents.observe(applied.events);
    this.applied.inc({ result: 'unique' }, applied.unique);
    this.applied.inc({ result: 'duplicate' }, applied.events - applied.unique);
  };

  /** Records one failed worker batch. */
  readonly observeWorkerError = (error: unknown): void => {
    const code = (error as { code?: unknown } | null)?.code;
    this.errors.inc({ kind: code === '57014' ? 'timeout' : isUnavailable(error) ? 'unavailable' : 'other' });
  };

  /** Records a lease that found nothing to do. */
  readonly observeEmptyLease = (): void => {
    this.emptyLeases.inc();
  };

  /** Records an event parked because it could not be applied even alone. */
  readonly observeParked = (): void => {
    this.errors.inc({ kind: 'parked' });
  };
}

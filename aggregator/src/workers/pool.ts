/**
 * WORKERS loops per process, each applying one leased partition batch per transaction.
 * A loop never dies: errors are logged and followed by a jittered backoff, so a database outage
 * costs neither the process nor the CPU. On drain, loops finish their batch and stop.
 */
import type { Sql } from '../db/client';
import { isUnavailable } from '../errors';
import type { Logger } from '../log';
import type { DatabaseOutage } from '../ops/outage';
import { type Applied, applyBatch } from './apply';
import { Backoff } from './backoff';
import { leasePartition } from './lease';
import type { ParkedEvent } from './park';
import { requeueParked } from './requeue';
import { BatchSplitter, isBatchError } from './split';
import type { Wakeup } from './wakeup';

/** Fallback poll when no wake-up arrives: covers a lost NOTIFY, costs nothing measurable. */
const IDLE_POLL_MS = 2_000;

export interface WorkerPoolOptions {
  workers: number;
  batchSize: number;
  /** The global RETENTION; a topic's override in `topics` wins. */
  retentionMs?: number;
  /** Payload bytes a batch may claim (CLAIM_BYTES); the oldest row is always taken. */
  claimBytes: number;
  /** Parked events go back to the inbox after this long (PARKED_RETRY_MS). */
  parkedRetryMs: number;
  /** Called after each committed batch (metrics, subscriptions). */
  onApplied?: (applied: AppliedBatch) => void;
  /** In-memory metric hooks (ops/metrics/workers.ts). */
  metrics?: WorkerMetrics;
  /** Logs a database outage once (ops/outage.ts) instead of once per retry. */
  outage?: Pick<DatabaseOutage, 'failed' | 'succeeded'>;
}

export interface WorkerMetrics {
  /** A committed batch and how long lease + apply + commit took. */
  observeBatch(applied: Applied, seconds: number): void;
  observeWorkerError(error: unknown): void;
  /** An event that could not be applied even alone was moved to inbox_parked. */
  observeParked(event: ParkedEvent): void;
  /** A lease found no partition with work (woken for nothing, or the idle poll). */
  observeEmptyLease(): void;
}

/** A failed batch and the partition it had leased (null when the lease itself failed). */
class BatchFailed extends Error {
  constructor(
    readonly error: unknown,
    readonly part: number | null,
  ) {
    super('batch failed', { cause: error });
  }
}

/** A committed batch and the partition it came from (split.ts widens that partition again). */
export interface AppliedBatch extends Applied {
  part: number;
}

export class WorkerPool {
  private stopping = false;
  private loops: Promise<void>[] = [];
  private busy = 0;
  private readonly splitter: BatchSplitter;
  private requeueTimer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly sql: Sql,
    private readonly wakeup: Wakeup,
    private readonly log: Logger,
    private readonly options: WorkerPoolOptions,
  ) {
    this.splitter = new BatchSplitter(sql, log, options.batchSize, (event) => options.metrics?.observeParked(event));
  }

  start(): void {
    this.wakeup.workers = this.options.workers;
    for (let i = 0; i < this.options.workers; i++) this.loops.push(this.loop(i));
    if (this.options.workers > 0) {
      // Checked at twice the retry rate so an event waits at most 1.5 x PARKED_RETRY_MS.
      this.requeueTimer = setInterval(() => void this.requeue(), Math.max(100, this.options.parkedRetryMs / 2));
    }
  }

  private async requeue(): Promise<void> {
    try {
      const moved = await requeueParked(this.sql, this.options.parkedRetryMs);
      if (moved > 0) {
        this.log.warn({ events: moved }, 'parked events re-queued for another attempt');
        this.wakeup.wakeLocal();
      }
    } catch (error) {
      this.log.debug({ err: error }, 're-queueing parked events failed; will try again');
    }
  }

  /** Batches being applied right now. */
  get inFlight(): number {
    return this.busy;
  }

  /** Applies one batch if any partition has work; null when the inbox is empty (or all leased). */
  async applyOnce(): Promise<AppliedBatch | null> {
    let leased: number | null = null;
    const applied = await this.sql
      .begin(async (tx) => {
        const part = await leasePartition(tx);
        if (part === null) return null;
        leased = part;
        return { ...(await applyBatch(tx, part, this.splitter.limitFor(part), this.options.claimBytes, this.options.retentionMs)), part };
      })
      .catch((error) => {
        throw new BatchFailed(error, leased);
      });
    if (applied !== null) this.splitter.succeeded(applied.part);
    return applied;
  }

  private async loop(id: number): Promise<void> {
    const backoff = new Backoff();
    while (!this.stopping) {
      let pauseMs = 0;
      this.busy++;
      const started = performance.now();
      try {
        const applied = await this.applyOnce();
        backoff.reset();
        this.options.outage?.succeeded(started);
        if (applied === null) {
          pauseMs = IDLE_POLL_MS;
          this.options.metrics?.observeEmptyLease();
        } else {
          this.options.metrics?.observeBatch(applied, (performance.now() - started) / 1000);
          this.options.onApplied?.(applied);
        }
      } catch (failure) {
        const { error, part } = failure instanceof BatchFailed ? failure : { error: failure, part: null };
        this.options.metrics?.observeWorkerError(error);
        // A batch error makes the partition's next batch smaller (split.ts); when that worked,
        // retry at once: the smaller batch is progress, not a repeat of what failed.
        const outcome = part !== null && isBatchError(error) ? await this.splitter.failed(part, error).catch(() => 'none' as const) : 'none';
        if (outcome === 'none') {
          pauseMs = backoff.next();
          const level = isUnavailable(error) ? 'warn' : 'error';
          if (!this.options.outage?.failed(error, started))
            this.log[level]({ err: error, worker: id, retryInMs: pauseMs }, 'worker batch failed; backing off');
        }
      } finally {
        this.busy--;
      }
      // Checked and registered in one tick, so drain()'s wake-up can never slip between them.
      if (pauseMs > 0 && !this.stopping) await this.wakeup.wait(pauseMs);
    }
  }

  /** Stops claiming; resolves when every loop has finished its current batch. */
  async drain(): Promise<void> {
    this.stopping = true;
    if (this.requeueTimer !== null) clearInterval(this.requeueTimer);
    this.wakeup.wakeLocal();
    await Promise.all(this.loops);
  }
}

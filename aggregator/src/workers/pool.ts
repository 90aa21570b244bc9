/**
 * WORKERS loops per process, each applying one leased partition batch per transaction.
 * A loop never dies: errors are logged and followed by a jittered backoff, so a database outage
 * costs neither the process nor the CPU. On drain, loops finish their batch and stop.
 */
import type { Sql } from '../db/client';
import { isUnavailable } from '../errors';
import type { Logger } from '../log';
import { type Applied, applyBatch } from './apply';
import { Backoff } from './backoff';
import { leasePartition } from './lease';
import type { Wakeup } from './wakeup';

/** Fallback poll when no wake-up arrives: covers a lost NOTIFY, costs nothing measurable. */
const IDLE_POLL_MS = 2_000;

export interface WorkerPoolOptions {
  workers: number;
  batchSize: number;
  /** The global RETENTION; a topic's override in `topics` wins. */
  retentionMs?: number;
  /** Called after each committed batch (metrics, subscriptions). */
  onApplied?: (applied: AppliedBatch) => void;
  /** In-memory metric hooks (ops/metrics/metrics.ts). */
  metrics?: WorkerMetrics;
}

export interface WorkerMetrics {
  /** A committed batch and how long lease + apply + commit took. */
  observeBatch(applied: Applied, seconds: number): void;
  observeWorkerError(error: unknown): void;
}

/** A committed batch and the partition it came from (subscriptions wake that partition's topics). */
export interface AppliedBatch extends Applied {
  part: number;
}

export class WorkerPool {
  private stopping = false;
  private loops: Promise<void>[] = [];
  private busy = 0;

  constructor(
    private readonly sql: Sql,
    private readonly wakeup: Wakeup,
    private readonly log: Logger,
    private readonly options: WorkerPoolOptions,
  ) {}

  start(): void {
    for (let i = 0; i < this.options.workers; i++) this.loops.push(this.loop(i));
  }

  /** Batches being applied right now. */
  get inFlight(): number {
    return this.busy;
  }

  /** Applies one batch if any partition has work; null when the inbox is empty (or all leased). */
  async applyOnce(): Promise<AppliedBatch | null> {
    return this.sql.begin(async (tx) => {
      const part = await leasePartition(tx);
      if (part === null) return null;
      return { ...(await applyBatch(tx, part, this.options.batchSize, this.options.retentionMs)), part };
    });
  }

  private async loop(id: number): Promise<void> {
    const backoff = new Backoff();
    while (!this.stopping) {
      let pauseMs = 0;
      this.busy++;
      try {
        const started = performance.now();
        const applied = await this.applyOnce();
        backoff.reset();
        if (applied === null) pauseMs = IDLE_POLL_MS;
        else {
          this.options.metrics?.observeBatch(applied, (performance.now() - started) / 1000);
          this.options.onApplied?.(applied);
        }
      } catch (error) {
        this.options.metrics?.observeWorkerError(error);
        pauseMs = backoff.next();
        const level = isUnavailable(error) ? 'warn' : 'error';
        this.log[level]({ err: error, worker: id, retryInMs: pauseMs }, 'worker batch failed; backing off');
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
    this.wakeup.wakeLocal();
    await Promise.all(this.loops);
  }
}

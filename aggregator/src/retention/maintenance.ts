/**
 * Retention maintenance: one replica at a time (a session advisory lock taken per tick with
 * pg_try_advisory_lock, so a replica that dies mid-tick frees it with its connection), on a
 * connection of its own so it never takes one from requests or workers.
 *
 * Each tick: create the events partitions for the deadlines ahead, rotate and drop key
 * generations, drop the events partitions whose deadlines have passed, and enforce
 * MAX_STORAGE_BYTES. Every step is idempotent; a failed tick is logged and the next one retries.
 * Between ticks, every FOLD_EVERY_MS, the same lock folds new events into the log volume counts
 * (stream-minutes.ts), so a volume query reads few events live.
 */
import postgres from 'postgres';
import type { HorizonBound } from '../events/horizon';
import type { Logger } from '../log';
import type { DatabaseOutage } from '../ops/outage';
import { closedFor, countPartition, dropEventPartition } from './expire';
import { dropKeyGeneration, listKeyGenerations, planGenerations, startKeyGeneration } from './generations';
import { type EventPartition, ensureEventPartitions, listEventPartitions, pastDeadline } from './partitions';
import { dropOrphanStreamMinutes, FOLD_YIELD_PENDING, type FoldResult, foldStreamMinutesFor } from './stream-minutes';

/**
 * The log volume counts are folded this often, for at most FOLD_BUDGET_MS at a time (the ticks
 * wait behind a fold): a volume query reads the events not folded yet (about this long of
 * ingest) from the events themselves.
 */
const FOLD_EVERY_MS = 2_000;
const FOLD_BUDGET_MS = 500;

/** Arbitrary constant shared by every replica: "logbus retention". */
export const MAINTENANCE_LOCK_KEY = 7_351_013;

export interface RetentionOptions {
  retentionMs: number;
  dedupWindowMs: number;
  storageIntervalMs: number;
  /** 0: no cap. */
  maxStorageBytes: number;
}

export interface TickReport {
  /** False when another replica held the lock. */
  ran: boolean;
  partitionsCreated: number;
  partitionsDropped: number;
  eventsExpired: number;
  generationsStarted: number;
  generationsDropped: number;
  /** Longest partition-drop transaction of the tick, ms (what an apply could wait behind it). */
  longestDropMs: number;
}

/**
 * Ticks often enough that an expired partition goes within a tenth of an interval, and a key
 * generation turns over on time; at least every minute, at most every 50 ms.
 */
export function tickInterval(options: RetentionOptions): number {
  return Math.min(60_000, Math.max(50, Math.min(options.storageIntervalMs, generationLength(options)) / 10));
}

/**
 * Two generations per window: 3 live generations (4 briefly), so 3-4 index probes per key, and a
 * key outlives the window by at most half of it. With a quarter window the probes (5-6) cost the
 * apply more than the 25% of key storage they save (measured: bench retention scenario).
 */
export const generationLength = (options: RetentionOptions) => Math.max(1_000, Math.floor(options.dedupWindowMs / 2));

export class RetentionMaintainer {
  private readonly sql: postgres.Sql;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private foldTimer: ReturnType<typeof setTimeout> | null = null;
  private running: Promise<unknown> | null = null;
  private stopped = false;
  /** Ticks of this process run one after another (the advisory lock is re-entrant per session). */
  private queue: Promise<unknown> = Promise.resolve();
  /** Log volume counts of partitions a release before 0012 dropped are removed once per process. */
  private orphansDropped = false;

  constructor(
    databaseUrl: string,
    private readonly log: Logger,
    private readonly options: RetentionOptions,
    private readonly outage?: Pick<DatabaseOutage, 'failed'>,
    /** The read horizon's bound (events/horizon.ts); without it nothing is folded. */
    private readonly horizonBound?: () => Promise<HorizonBound>,
  ) {
    this.sql = postgres(databaseUrl, {
      max: 1,
      connect_timeout: 5,
      onnotice: () => {},
      connection: { application_name: 'logbus-aggregator', TimeZone: 'UTC', statement_timeout: 600_000 },
    });
  }

  /** The first tick waits for the lock: when it returns, this replica's applies have partitions. */
  async start(): Promise<void> {
    await this.tick(true);
    this.schedule();
    this.scheduleFold();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      const started = performance.now();
      this.running = this.tick(false)
        .catch((error) => {
          if (!this.outage?.failed(error, started)) this.log.warn({ err: error }, 'retention maintenance failed; retrying next tick');
        })
        .finally(() => {
          this.running = null;
          this.schedule();
        });
    }, tickInterval(this.options));
  }

  private scheduleFold(): void {
    if (this.stopped || !this.horizonBound) return;
    this.foldTimer = setTimeout(() => {
      const started = performance.now();
      this.fold()
        .catch((error) => {
          if (!this.outage?.failed(error, started)) this.log.warn({ err: error }, 'log volume fold failed; retrying');
        })
        .finally(() => this.scheduleFold());
    }, FOLD_EVERY_MS);
  }

  /**
   * Folds the events below the read horizon into the log volume counts, under the maintenance
   * lock, for at most FOLD_BUDGET_MS and only while the apply keeps up (FOLD_YIELD_PENDING).
   * null: no horizon to fold by, another replica held the lock, or the fold yielded.
   */
  private fold(): Promise<FoldResult | null> {
    const horizonBound = this.horizonBound;
    if (!horizonBound) return Promise.resolve(null);
    // The bound is taken before queueing (it may wait for drawers): an older bound is still a
    // horizon, and the ticks queued behind a fold do not wait for it.
    return horizonBound().then((bound) => {
      const run = this.queue.then(() => this.underLock(false, () => foldStreamMinutesFor(this.sql, bound, FOLD_BUDGET_MS, FOLD_YIELD_PENDING)));
      this.queue = run.catch(() => {});
      return run;
    });
  }

  /** Runs `body` holding the maintenance lock; null when `wait` is false and another replica holds it. */
  private async underLock<T>(wait: boolean, body: () => Promise<T>): Promise<T | null> {
    if (wait) await this.sql`SELECT pg_advisory_lock(${MAINTENANCE_LOCK_KEY})`;
    else {
      const [row] = await this.sql<{ locked: boolean }[]>`SELECT pg_try_advisory_lock(${MAINTENANCE_LOCK_KEY}) AS locked`;
      if (!row!.locked) return null;
    }
    try {
      return await body();
    } finally {
      await this.sql`SELECT pg_advisory_unlock(${MAINTENANCE_LOCK_KEY})`;
    }
  }

  /** Stops ticking; a tick in progress gets 2 s to finish (its work is idempotent if cut). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.foldTimer) clearTimeout(this.foldTimer);
    await Promise.race([this.running, Bun.sleep(2_000)]);
    await this.sql.end({ timeout: 2 });
  }

  /** One round of maintenance under the lock. `wait`: block for the lock instead of skipping. */
  tick(wait = false): Promise<TickReport> {
    const next = this.queue.then(() => this.tickNow(wait));
    this.queue = next.catch(() => {});
    return next;
  }

  private async tickNow(wait: boolean): Promise<TickReport> {
    const report: TickReport = {
      ran: false,
      partitionsCreated: 0,
      partitionsDropped: 0,
      eventsExpired: 0,
      generationsStarted: 0,
      generationsDropped: 0,
      longestDropMs: 0,
    };
    await this.underLock(wait, () => {
      report.ran = true;
      return this.maintain(report);
    });
    if (report.partitionsDropped + report.generationsDropped > 0) this.log.info(report, 'retention: expired storage dropped');
    return report;
  }

  private async maintain(report: TickReport): Promise<void> {
    const { storageIntervalMs: interval } = this.options;
    const [clock] = await this.sql<{ now: Date; min_override: string | null; max_override: string | null }[]>`
      SELECT clock_timestamp() AS now, min(retention_seconds) * 1000 AS min_override, max(retention_seconds) * 1000 AS max_override FROM topics
    `;
    const now = clock!.now.getTime();
    const minRetention = Math.min(this.options.retentionMs, Number(clock!.min_override ?? Infinity));
    const maxRetention = Math.max(this.options.retentionMs, Number(clock!.max_override ?? 0));

    // Ahead by two intervals, and at least 10 s: a slow tick must never leave an apply
    // without its partition (the insert would fail and the batch wait for the next tick).
    const ahead = Math.max(2 * interval, 10_000);
    report.partitionsCreated = await ensureEventPartitions(this.sql, now, now + maxRetention + ahead, interval);

    // Keys must outlive every event they protect: a topic override set under a longer
    // DEDUP_WINDOW (before a restart that shortened it) widens the window instead of breaking it.
    const window = Math.max(this.options.dedupWindowMs, maxRetention);
    const plan = planGenerations(await listKeyGenerations(this.sql), now, generationLength({ ...this.options, dedupWindowMs: window }), window);
    if (plan.start !== null) {
      await startKeyGeneration(this.sql, plan.start);
      report.generationsStarted++;
    }
    for (const gen of plan.drop) {
      await dropKeyGeneration(this.sql, gen);
      report.generationsDropped++;
    }

    if (!this.orphansDropped) {
      await dropOrphanStreamMinutes(this.sql);
      this.orphansDropped = true;
    }

    const partitions = await listEventPartitions(this.sql);
    for (const partition of pastDeadline(partitions, now)) {
      await this.expire(partition, minRetention, report);
    }
    if (this.options.maxStorageBytes > 0)
      await this.enforceCap(
        partitions.filter((p) => p.upper > now),
        now,
        minRetention,
        report,
      );
  }

  /** Drops one partition if no transaction can still write to it; false when one still can. */
  private async expire(partition: EventPartition, minRetention: number, report: TickReport): Promise<boolean> {
    if (!(await closedFor(this.sql, partition.upper - minRetention))) return false;
    const counts = await countPartition(this.sql, partition.name);
    const ms = await dropEventPartition(this.sql, partition, counts);
    report.longestDropMs = Math.max(report.longestDropMs, Math.round(ms * 10) / 10);
    report.partitionsDropped++;
    report.eventsExpired += counts.reduce((sum, c) => sum + c.events, 0);
    return true;
  }

  /**
   * MAX_STORAGE_BYTES: drop the partitions with the earliest deadlines until the events fit.
   * Only partitions no apply writes to any more qualify (deadlines before now + the shortest
   * retention): the one being written stays, so the cap must exceed one interval of events.
   */
  private async enforceCap(live: EventPartition[], now: number, minRetention: number, report: TickReport): Promise<void> {
    // Heap, TOAST and index of the partitions holding events; the empty ones created ahead
    // (a page of index each) are not data and not counted.
    const sizes = await this.sql<{ name: string; bytes: string }[]>`
      SELECT name, CASE WHEN pg_relation_size(name::regclass) = 0 THEN 0 ELSE pg_total_relation_size(name::regclass) END AS bytes
      FROM event_partitions
    `;
    const bytes = new Map(sizes.map((row) => [row.name, Number(row.bytes)]));
    let total = [...bytes.values()].reduce((sum, b) => sum + b, 0);
    const closed = live.filter((p) => p.upper <= now + minRetention).sort((a, b) => a.upper - b.upper);
    for (const partition of closed) {
      if (total <= this.options.maxStorageBytes) break;
      const size = bytes.get(partition.name) ?? 0;
      if (size === 0) continue;
      if (!(await this.expire(partition, minRetention, report))) break;
      total -= size;
    }
  }
}

/**
 * One aggregator replica minus the process concerns: the pool, the HTTP app, the workers and
 * their lifecycle. main.ts adds config, the embedded database, listening and signals; tests use
 * this directly with `app.handle(new Request(…))`.
 */
import { createApp } from './app';
import type { Config } from './config';
import { type Sql, createPool } from './db/client';
import { LayoutMismatch, checkLayout } from './db/layout';
import { migrateDatabase } from './db/migrate';
import { Backpressure } from './ingest/backpressure';
import { EnqueueCoalescer } from './ingest/coalescer';
import { DecodePool } from './ingest/decode-pool';
import { enqueueRows } from './ingest/enqueue';
import type { Logger } from './log';
import type { Lifecycle } from './ops/health';
import { Metrics } from './ops/metrics/metrics';
import { DatabaseOutage } from './ops/outage';
import { RetentionMaintainer } from './retention/maintenance';
import { ReadBudget } from './events/read-budget';
import { HORIZON_DEFAULTS, ReadHorizon } from './events/horizon';
import { StandbyHorizon } from './events/standby';
import { SUBSCRIBE_DEFAULTS, SubscriptionHub } from './subscribe/hub';
import { EventsNotifier } from './subscribe/notifier';
import { Backoff } from './workers/backoff';
import { WorkerPool } from './workers/pool';
import { Wakeup } from './workers/wakeup';

export type Aggregator = ReturnType<typeof createAggregator>;

/**
 * Runs `step` until it succeeds, backing off from 250 ms to 5 s: at start the database may not
 * be up yet (in a cluster it may start after us), and a replica waits for it rather than exit.
 */
async function retryUntilDone(step: () => Promise<unknown>, log: Logger, failure: string): Promise<void> {
  const backoff = new Backoff(250, 5_000);
  for (;;) {
    try {
      await step();
      return;
    } catch (error) {
      const delay = backoff.next();
      log.warn({ err: error, retryInMs: delay }, failure);
      await Bun.sleep(delay);
    }
  }
}

export interface AggregatorOptions {
  /** How often a running replica re-checks the database layout (db/layout.ts). */
  layoutCheckMs?: number;
  /** Called when a running replica finds the layout changed under it (main.ts exits). */
  onLayoutMismatch?: (error: LayoutMismatch) => void;
}

const LAYOUT_CHECK_MS = 30_000;

export function createAggregator(config: Config, databaseUrl: string, log: Logger, options: AggregatorOptions = {}) {
  const lifecycle: Lifecycle = { migrated: false, draining: false };
  let layoutTimer: ReturnType<typeof setInterval> | null = null;
  const sql: Sql = createPool(databaseUrl, { max: config.dbPoolSize, applicationName: 'logbus-aggregator' });
  const outage = new DatabaseOutage(log);
  const wakeup = new Wakeup(sql, log);
  // The read side's two shared bounds, one each per replica: bytes held by reads at once, and
  // what reads see up to. GET /events, the hub and the dashboard use the same ones.
  const readBudget = new ReadBudget(config.readBytesInFlight);
  const horizon = new ReadHorizon(sql, log, { ...HORIZON_DEFAULTS, drawerTimeoutMs: config.drawerTimeoutMs });
  // READ_DATABASE_URL: GET /events pages read on a hot standby, sealed by this horizon.
  const standbySql = config.readDatabaseUrl
    ? createPool(config.readDatabaseUrl, { max: config.dbPoolSize, applicationName: 'logbus-aggregator-reads' })
    : null;
  const standbyReads = standbySql ? { sql: standbySql, horizon: new StandbyHorizon(horizon, sql, standbySql, log) } : undefined;
  const subscriptions = new SubscriptionHub({
    sql,
    log,
    budget: readBudget,
    horizon,
    options: { ...SUBSCRIBE_DEFAULTS, readBytes: config.subscribeReadBytes },
    limits: { maxTotal: config.subscribeMax, maxPerKey: config.subscribeMaxPerToken, readConcurrency: config.subscribeReadConcurrency },
  });
  const notifier = new EventsNotifier(sql, log, (slots) => subscriptions.wake(slots));
  const backpressure = new Backpressure(sql, config.maxPending, outage);
  const metrics = new Metrics({ sql, poolMax: config.dbPoolSize, workersBusy: () => pool.inFlight, horizonLag: () => horizon.lag() });
  const pool = new WorkerPool(sql, wakeup, log, {
    workers: config.workers,
    batchSize: config.batchSize,
    retentionMs: config.retentionMs,
    claimBytes: config.claimBytes,
    parkedRetryMs: config.parkedRetryMs,
    metrics,
    outage,
    // Only batches that stored something can interest a subscriber.
    onApplied: (applied) => {
      if (applied.unique > 0) notifier.announce(applied.topics);
    },
  });
  // Two statements in flight keep the pipe full (one commits while the next is built) without
  // letting ingest occupy more than two database backends at a time.
  const inbox = new EnqueueCoalescer((requests) => enqueueRows(sql, requests), {
    maxInFlight: 2,
    maxEvents: Math.max(config.maxBatch, 20_000),
    maxBytes: config.ingestStatementBytes,
    onCommitted: (partitions) => wakeup.announce(partitions),
  });
  // A large body is decoded and stored by a worker thread, on a connection of its own.
  const decoder = new DecodePool(config, {
    storage: { databaseUrl, applicationName: 'logbus-aggregator-ingest' },
    onCommitted: (partitions) => wakeup.announce(partitions),
  });
  const retention = new RetentionMaintainer(databaseUrl, log, config, outage, () => horizon.current());
  const app = createApp({
    config,
    sql,
    inbox,
    decoder,
    lifecycle,
    backpressure,
    log,
    metrics,
    subscriptions,
    readBudget,
    horizon,
    maintainRetention: () => retention.tick(true),
    outage,
    standbyReads,
  });

  return {
    app,
    sql,
    pool,
    lifecycle,
    backpressure,
    subscriptions,
    retention,
    readBudget,
    horizon,

    /** Migrates (retrying until the database answers), then starts the workers. */
    async start(): Promise<void> {
      await retryUntilDone(() => migrateDatabase(databaseUrl), log, 'migration failed; retrying');
      // Refuse before serving anything if this build's layout is not the database's.
      await checkLayout(sql);
      // Before the workers: the first maintenance creates the partitions their applies need.
      await retryUntilDone(() => retention.start(), log, 'retention maintenance could not start; retrying');
      lifecycle.migrated = true;
      layoutTimer = setInterval(() => {
        checkLayout(sql).catch((error) => {
          if (!(error instanceof LayoutMismatch) || lifecycle.draining) return; // an outage: /ready says so already
          log.fatal({ err: error }, 'database layout changed under this replica; stopping');
          // Unready and refusing publishes at once; the workers stop with the drain.
          lifecycle.draining = true;
          options.onLayoutMismatch?.(error);
        });
      }, options.layoutCheckMs ?? LAYOUT_CHECK_MS);
      await wakeup.listen().catch((error) => log.warn({ err: error }, 'LISTEN failed; workers will poll'));
      await notifier.listen().catch((error) => log.warn({ err: error }, 'LISTEN failed; subscriptions will sweep'));
      await backpressure.start();
      pool.start();
    },

    /**
     * Graceful drain: /ready and /publish answer 503 at once, requests already inside finish,
     * then each worker finishes its batch. Resolves true when all of that happened in time.
     * `pendingRequests` reports the HTTP server's in-flight requests (0 without a server).
     */
    async drain(timeoutMs: number, pendingRequests: () => number = () => 0): Promise<boolean> {
      lifecycle.draining = true;
      if (layoutTimer !== null) clearInterval(layoutTimer);
      // Streams end with `event: shutdown`; clients resume on another replica by Last-Event-ID.
      subscriptions.closeAll();
      horizon.close();
      const deadline = Date.now() + timeoutMs;
      while (pendingRequests() > 0 && Date.now() < deadline) await Bun.sleep(20);
      const drained = await Promise.race([
        pool.drain().then(() => pendingRequests() === 0),
        Bun.sleep(Math.max(0, deadline - Date.now())).then(() => false),
      ]);
      backpressure.stop();
      await retention.stop();
      wakeup.close();
      notifier.close();
      return drained;
    },

    /** Closes the database pool; call after drain. */
    async close(): Promise<void> {
      await decoder.close();
      await sql.end({ timeout: 2 });
      await standbySql?.end({ timeout: 2 });
    },
  };
}

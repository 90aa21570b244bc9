/**
 * GET /metrics: Prometheus text format (prom-client).
 *
 * Two kinds of numbers, named so they cannot be confused:
 * - Cluster totals (`logbus_received_total`, `logbus_pending_events`, inbox health, …) live in
 *   the database, shared by every replica. They are read at scrape time with the same statement
 *   /stats runs, so they agree with /stats exactly, and any replica reports the same values
 *   (aggregate them with max(), not sum()).
 * - What this replica did (`logbus_replica_*`, the request, batch and error series) is counted
 *   in memory as it happens and is lost on restart, as Prometheus counters expect; sum() them.
 *
 * The series are cut by kind, one file each: http.ts, ingest.ts, workers.ts, read.ts, database.ts.
 * Every replica series goes to one registry owned here; the cluster series to the database's own,
 * rendered only when the scrape read them. The publish path only observes in-memory histograms
 * and counters: no query per request.
 */
import { Elysia } from 'elysia';
import { Registry } from 'prom-client';
import type { Sql } from '../../db/client';
import { DatabaseMetrics } from './database';
import { HttpMetrics } from './http';
import { IngestMetrics } from './ingest';
import { type HorizonLag, registerReadMetrics } from './read';
import { registerRuntimeMetrics } from './runtime';
import { WorkerMetrics } from './workers';

export { TOPIC_LABEL_CAP } from './ingest';

// Process-wide runtime metrics (CPU, memory, event-loop lag), shared by every aggregator in the
// process: tests run several in one process and the runtime is one. Not prom-client's defaults:
// under Bun those report NaN lag and empty GC histograms (metrics/runtime.ts).
let runtime: Registry | null = null;
function runtimeRegistry(): Registry {
  if (!runtime) {
    runtime = new Registry();
    registerRuntimeMetrics(runtime);
  }
  return runtime;
}

export interface MetricsOptions {
  sql: Sql;
  /** DB_POOL_SIZE of this process. */
  poolMax: number;
  /** Worker loops inside a transaction right now. */
  workersBusy?: () => number;
  /** How far this replica's readers are held back (events/horizon.ts ReadHorizon.lag). */
  horizonLag?: () => Promise<HorizonLag>;
  topicLabelCap?: number;
}

export class Metrics {
  readonly contentType: string;
  private readonly replica = new Registry();
  private readonly database: DatabaseMetrics;
  private scraping: Promise<unknown> = Promise.resolve();
  readonly observeRequest: HttpMetrics['observeRequest'];
  readonly observeAccepted: IngestMetrics['observeAccepted'];
  readonly observeBatch: WorkerMetrics['observeBatch'];
  readonly observeWorkerError: WorkerMetrics['observeWorkerError'];
  readonly observeEmptyLease: WorkerMetrics['observeEmptyLease'];
  readonly observeParked: WorkerMetrics['observeParked'];

  constructor(options: MetricsOptions) {
    this.contentType = this.replica.contentType;
    this.observeRequest = new HttpMetrics(this.replica).observeRequest;
    this.observeAccepted = new IngestMetrics(this.replica, options.topicLabelCap).observeAccepted;
    const workers = new WorkerMetrics(this.replica, options.workersBusy);
    this.observeBatch = workers.observeBatch;
    this.observeWorkerError = workers.observeWorkerError;
    this.observeEmptyLease = workers.observeEmptyLease;
    this.observeParked = workers.observeParked;
    if (options.horizonLag) registerReadMetrics(this.replica, options.horizonLag);
    this.database = new DatabaseMetrics(this.replica, options.sql, options.poolMax);
  }

  /**
   * The exposition text. Scrapes are serialised: each sets the cluster values from its own
   * database snapshot and renders them before the next one starts.
   */
  render(): Promise<string> {
    const next = this.scraping.then(() => this.renderNow());
    this.scraping = next.catch(() => {});
    return next;
  }

  private async renderNow(): Promise<string> {
    const clusterOk = await this.database.read();
    const parts = [await this.replica.metrics()];
    if (clusterOk) parts.push(await this.database.cluster.metrics());
    parts.push(await runtimeRegistry().metrics());
    return parts.join('\n');
  }
}

/** GET /metrics; open without a token, like /health, so scrapers need no secret. */
export function metricsRoutes(metrics: Metrics) {
  return new Elysia({ name: 'metrics' }).get(
    '/metrics',
    async () => new Response(await metrics.render(), { headers: { 'content-type': metrics.contentType } }),
    {
      detail: {
        summary: 'Prometheus metrics',
        description: 'Cluster totals read from the database at scrape time; logbus_replica_* and the request/batch series count this replica only.',
      },
    },
  );
}

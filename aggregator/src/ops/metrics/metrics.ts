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
 * The publish path only observes in-memory histograms and counters: no query per request.
 */
import { Elysia } from 'elysia';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Sql } from '../../db/client';
import { readTotals } from '../../stats/query';
import type { Applied } from '../../workers/apply';
import { isUnavailable } from '../../errors';
import { CONNECTION_STATES, readDatabaseHealth } from '../../db/health';
import { registerRuntimeMetrics } from './runtime';
import { TopicLabels } from './topic-labels';

/** Topics that get their own label on per-topic series; the rest share `_other`. */
export const TOPIC_LABEL_CAP = 100;

/** A scrape gives up on the database after this long and reports the process metrics alone. */
const SCRAPE_DB_TIMEOUT_MS = 5_000;

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_BUCKETS = [1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10_000, 50_000];
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

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
  horizonLag?: () => Promise<{ seconds: number; seqs: number }>;
  topicLabelCap?: number;
}

export class Metrics {
  readonly contentType: string;
  private readonly replica = new Registry();
  private readonly cluster = new Registry();
  private readonly topicLabels: TopicLabels;
  private scraping: Promise<unknown> = Promise.resolve();

  // This replica, observed in memory.
  private readonly httpDuration = new Histogram({
    name: 'logbus_http_request_duration_seconds',
    help: 'HTTP requests served by this replica, by method, route template and status (publish latency: route="/publish").',
    labelNames: ['method', 'route', 'status'],
    buckets: LATENCY_BUCKETS,
    registers: [this.replica],
  });
  private readonly eventsPerRequest = new Histogram({
    name: 'logbus_publish_events_per_request',
    help: 'Events in each publish request this replica acknowledged with 202.',
    buckets: BATCH_BUCKETS,
    registers: [this.replica],
  });
  private readonly accepted = new Counter({
    name: 'logbus_replica_events_accepted_total',
    help: 'Events this replica acknowledged with 202 (duplicates included).',
    registers: [this.replica],
  });
  private readonly acceptedByTopic = new Counter({
    name: 'logbus_replica_topic_events_accepted_total',
    help: `Events this replica acknowledged, by topic; the first ${TOPIC_LABEL_CAP} topics seen get a label, the rest count as "_other".`,
    labelNames: ['topic'],
    registers: [this.replica],
  });
  private readonly applied = new Counter({
    name: 'logbus_replica_events_applied_total',
    help: 'Events this replica\'s workers moved from the inbox: result="unique" stored, result="duplicate" dropped.',
    labelNames: ['result'],
    registers: [this.replica],
  });
  private readonly batchDuration = new Histogram({
    name: 'logbus_worker_batch_duration_seconds',
    help: 'One applied batch: lease a partition, apply, commit.',
    buckets: LATENCY_BUCKETS,
    registers: [this.replica],
  });
  private readonly batchEvents = new Histogram({
    name: 'logbus_worker_batch_events',
    help: 'Events per applied batch.',
    buckets: BATCH_BUCKETS,
    registers: [this.replica],
  });
  private readonly workerErrors = new Counter({
    name: 'logbus_worker_errors_total',
    help: 'Failed worker batches (rolled back and retried): kind="unavailable" for database outages, "timeout" for statement timeouts (the partition is retried in smaller batches), "other" for the rest; kind="parked" counts events that failed even alone and were moved to inbox_parked.',
    labelNames: ['kind'],
    registers: [this.replica],
  });
  private readonly emptyLeases = new Counter({
    name: 'logbus_worker_empty_leases_total',
    help: "Lease transactions of this replica's workers that found no partition with work: wake-ups for nothing, plus one idle poll per worker every 2 s.",
    registers: [this.replica],
  });
  private readonly databaseUp = new Gauge({
    name: 'logbus_metrics_database_up',
    help: '1 when this scrape read the cluster metrics from the database, 0 when it could not (they are then absent).',
    registers: [this.replica],
  });

  // The cluster, read from the database at scrape time.
  private readonly received = this.clusterCounter(
    'logbus_received_total',
    'Events acknowledged with 202 by any replica, duplicates included (= /stats received).',
  );
  private readonly unique = this.clusterCounter(
    'logbus_unique_processed_total',
    'Events stored once per (topic, event_id) (= /stats unique_processed).',
  );
  private readonly duplicates = this.clusterCounter(
    'logbus_duplicate_dropped_total',
    'Copies of an already stored (topic, event_id), dropped (= /stats duplicate_dropped).',
  );
  private readonly pending = this.clusterGauge('logbus_pending_events', 'Acknowledged events waiting in the inbox (= /stats pending).');
  private readonly parked = this.clusterGauge(
    'logbus_parked_events',
    'Acknowledged events that could not be applied even alone, kept in inbox_parked (part of pending). Alert when above 0; readiness does not change.',
  );
  private readonly topics = this.clusterGauge('logbus_topics', 'Topics with processed events.');
  private readonly oldestPending = this.clusterGauge(
    'logbus_inbox_oldest_pending_age_seconds',
    'Age of the oldest pending inbox row: the processing lag. 0 when the inbox is empty.',
  );
  private readonly deadTuples = this.clusterGauge(
    'logbus_inbox_dead_tuples',
    'Dead tuples in the inbox table (pg_stat_user_tables.n_dead_tup): queue bloat when it keeps growing.',
  );
  private readonly oldestTransaction = this.clusterGauge(
    'logbus_db_oldest_transaction_age_seconds',
    'Age of the oldest open transaction in this database (pg_stat_activity.xact_start); a long one stops vacuum from removing dead inbox rows.',
  );
  private readonly connections = new Gauge({
    name: 'logbus_db_connections',
    help: 'Database connections of all aggregator replicas (application_name) by pg_stat_activity state, the scraping one excluded.',
    labelNames: ['state'],
    registers: [this.cluster],
  });

  constructor(private readonly options: MetricsOptions) {
    this.topicLabels = new TopicLabels(options.topicLabelCap ?? TOPIC_LABEL_CAP);
    // Series that exist from the start, so rate() and alerts see a 0 before the first error.
    for (const kind of ['unavailable', 'timeout', 'other', 'parked']) this.workerErrors.inc({ kind }, 0);
    for (const result of ['unique', 'duplicate']) this.applied.inc({ result }, 0);
    this.contentType = this.replica.contentType;
    new Gauge({
      name: 'logbus_db_pool_max_connections',
      help: "Connections this replica's pool may open (DB_POOL_SIZE).",
      registers: [this.replica],
      collect() {
        this.set(options.poolMax);
      },
    });
    const lag = options.horizonLag;
    if (lag) {
      // One fresh horizon tick per scrape, shared by the two gauges.
      let reading: Promise<{ seconds: number; seqs: number }> | null = null;
      const read = () => {
        reading ??= lag().finally(() => queueMicrotask(() => (reading = null)));
        return reading;
      };
      const gauges: [string, string, 'seconds' | 'seqs'][] = [
        [
          'logbus_read_horizon_lag_seconds',
          'How long readers of this replica have been held back: seconds since the oldest drawn seq not yet known final was read (0: none). Seq-drawing transactions still running hold it; a backlog shows in logbus_inbox_oldest_pending_age_seconds.',
          'seconds',
        ],
        [
          'logbus_read_horizon_lag_events',
          'Seqs drawn (acknowledged events, duplicates included) that readers of this replica cannot see yet: waiting in the inbox, being applied, or held by a running seq-drawing transaction.',
          'seqs',
        ],
      ];
      for (const [name, help, field] of gauges) {
        new Gauge({
          name,
          help,
          registers: [this.replica],
          async collect() {
            this.set(
              await read()
                .then((l) => l[field])
                .catch(() => 0),
            );
          },
        });
      }
    }
    const busy = options.workersBusy;
    new Gauge({
      name: 'logbus_workers_busy',
      help: 'Worker loops of this replica inside a transaction right now (each holds a pool connection).',
      registers: [this.replica],
      collect() {
        this.set(busy ? busy() : 0);
      },
    });
  }

  private clusterCounter(name: string, help: string): Counter {
    // A counter, not a gauge: the value only grows (rate() and increase() apply), it is just
    // read from the database instead of being counted here.
    return new Counter({ name, help, registers: [this.cluster] });
  }

  private clusterGauge(name: string, help: string): Gauge {
    return new Gauge({ name, help, registers: [this.cluster] });
  }

  /** Records one finished HTTP request. */
  readonly observeRequest = (method: string, route: string | undefined, status: number, seconds: number): void => {
    this.httpDuration.observe({ method: METHODS.has(method) ? method : 'OTHER', route: route || '(unmatched)', status: String(status) }, seconds);
  };

  /** Records a publish request acknowledged with 202. */
  readonly observeAccepted = (topics: readonly string[]): void => {
    this.eventsPerRequest.observe(topics.length);
    this.accepted.inc(topics.length);
    // Batches usually carry few topics: count runs of one topic, then one inc per run.
    let run = 0;
    for (let i = 0; i < topics.length; i++) {
      run++;
      const topic = topics[i]!;
      if (i + 1 === topics.length || topics[i + 1] !== topic) {
        this.acceptedByTopic.inc({ topic: this.topicLabels.label(topic) }, run);
        run = 0;
      }
    }
  };

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
    this.workerErrors.inc({ kind: code === '57014' ? 'timeout' : isUnavailable(error) ? 'unavailable' : 'other' });
  };

  /** Records a lease that found nothing to do. */
  readonly observeEmptyLease = (): void => {
    this.emptyLeases.inc();
  };

  /** Records an event parked because it could not be applied even alone. */
  readonly observeParked = (): void => {
    this.workerErrors.inc({ kind: 'parked' });
  };

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
    const clusterOk = await this.readCluster().then(
      () => true,
      () => false,
    );
    this.databaseUp.set(clusterOk ? 1 : 0);
    const parts = [await this.replica.metrics()];
    if (clusterOk) parts.push(await this.cluster.metrics());
    parts.push(await runtimeRegistry().metrics());
    return parts.join('\n');
  }

  private async readCluster(): Promise<void> {
    const { sql } = this.options;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('database too slow for a scrape')), SCRAPE_DB_TIMEOUT_MS);
    });
    try {
      const [totals, health] = await Promise.race([Promise.all([readTotals(sql), readDatabaseHealth(sql)]), timeout]);
      setCounter(this.received, totals.received);
      setCounter(this.unique, totals.unique_processed);
      setCounter(this.duplicates, totals.duplicate_dropped);
      this.pending.set(totals.pending);
      this.parked.set(totals.parked);
      this.topics.set(totals.topics.length);
      this.oldestPending.set(health.oldestPendingAgeSeconds);
      this.deadTuples.set(health.inboxDeadTuples);
      this.oldestTransaction.set(health.oldestTransactionAgeSeconds);
      for (const state of CONNECTION_STATES) this.connections.set({ state }, health.connections[state]);
    } finally {
      clearTimeout(timer);
    }
  }
}

function setCounter(counter: Counter, value: number): void {
  counter.reset();
  counter.inc(value);
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

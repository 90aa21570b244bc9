/**
 * The cluster, read from the database at scrape time with the statement /stats runs (so the two
 * agree exactly, and every replica reports the same values), plus this replica's pool size and
 * whether the last scrape reached the database.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { Sql } from '../../db/client';
import { CONNECTION_STATES, readDatabaseHealth } from '../../db/health';
import { readTotals } from '../../stats/query';

/** A scrape gives up on the database after this long and reports the process metrics alone. */
const SCRAPE_DB_TIMEOUT_MS = 5_000;

export class DatabaseMetrics {
  /** Rendered only when the scrape read it: absent, not stale, when the database is out of reach. */
  readonly cluster = new Registry();
  private readonly up: Gauge;
  private readonly received = this.counter(
    'logbus_received_total',
    'Events acknowledged with 202 by any replica, duplicates included (= /stats received).',
  );
  private readonly unique = this.counter('logbus_unique_processed_total', 'Events stored once per (topic, event_id) (= /stats unique_processed).');
  private readonly duplicates = this.counter(
    'logbus_duplicate_dropped_total',
    'Copies of an already stored (topic, event_id), dropped (= /stats duplicate_dropped).',
  );
  private readonly pending = this.gauge('logbus_pending_events', 'Acknowledged events waiting in the inbox (= /stats pending).');
  private readonly parked = this.gauge(
    'logbus_parked_events',
    'Acknowledged events that could not be applied even alone, kept in inbox_parked (part of pending). Alert when above 0; readiness does not change.',
  );
  private readonly topics = this.gauge('logbus_topics', 'Topics with processed events.');
  private readonly oldestPending = this.gauge(
    'logbus_inbox_oldest_pending_age_seconds',
    'Age of the oldest pending inbox row: the processing lag. 0 when the inbox is empty.',
  );
  private readonly deadTuples = this.gauge(
    'logbus_inbox_dead_tuples',
    'Dead tuples in the inbox table (pg_stat_user_tables.n_dead_tup): queue bloat when it keeps growing.',
  );
  private readonly oldestTransaction = this.gauge(
    'logbus_db_oldest_transaction_age_seconds',
    'Age of the oldest open transaction in this database (pg_stat_activity.xact_start); a long one stops vacuum from removing dead inbox rows.',
  );
  private readonly connections = new Gauge({
    name: 'logbus_db_connections',
    help: 'Database connections of all aggregator replicas (application_name) by pg_stat_activity state, the scraping one excluded.',
    labelNames: ['state'],
    registers: [this.cluster],
  });

  /** `replica`: where this replica's own database series go; `poolMax`: DB_POOL_SIZE. */
  constructor(
    replica: Registry,
    private readonly sql: Sql,
    poolMax: number,
  ) {
    this.up = new Gauge({
      name: 'logbus_metrics_database_up',
      help: '1 when this scrape read the cluster metrics from the database, 0 when it could not (they are then absent).',
      registers: [replica],
    });
    new Gauge({
      name: 'logbus_db_pool_max_connections',
      help: "Connections this replica's pool may open (DB_POOL_SIZE).",
      registers: [replica],
      collect() {
        this.set(poolMax);
      },
    });
  }

  private counter(name: string, help: string): Counter {
    // A counter, not a gauge: the value only grows (rate() and increase() apply), it is just
    // read from the database instead of being counted here.
    return new Counter({ name, help, registers: [this.cluster] });
  }

  private gauge(name: string, help: string): Gauge {
    return new Gauge({ name, help, registers: [this.cluster] });
  }

  /** Sets the cluster series from one read of the database; false (and `up` 0) when it failed or took too long. */
  async read(): Promise<boolean> {
    const ok = await this.readNow().then(
      () => true,
      () => false,
    );
    this.up.set(ok ? 1 : 0);
    return ok;
  }

  private async readNow(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('database too slow for a scrape')), SCRAPE_DB_TIMEOUT_MS);
    });
    try {
      const [totals, health] = await Promise.race([Promise.all([readTotals(this.sql), readDatabaseHealth(this.sql)]), timeout]);
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

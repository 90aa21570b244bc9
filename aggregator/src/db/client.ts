/** postgres.js connection pools. Hot-path SQL uses the tagged template directly. */
import postgres from 'postgres';

export type Sql = postgres.Sql;

/** A pool or a transaction: what a single statement needs to run. */
export type Queryable = postgres.Sql | postgres.TransactionSql;

export interface PoolOptions {
  max: number;
  applicationName: string;
}

/** The shared pool: HTTP handlers and workers both draw from it. */
export function createPool(url: string, { max, applicationName }: PoolOptions): Sql {
  return postgres(url, {
    max,
    // Fail fast while the database is down: requests answer 503 instead of piling up.
    connect_timeout: 5,
    // Delay before a closed connection dials again, in seconds. postgres.js defaults to
    // 3^failures / 100 capped at 20 s, with failures counted across the whole pool, so after a
    // few seconds of outage every connection waited 10-20 s before trying: requests hung that
    // long and replicas stayed unready well after PostgreSQL was back (faults-postgres.test.ts).
    // Refused connects are cheap; a 1 s cap recovers within a second.
    backoff: reconnectDelay,
    idle_timeout: 60,
    // Recycle connections now and then so server-side memory stays flat over long runs.
    max_lifetime: 60 * 30,
    prepare: true,
    onnotice: () => {},
    connection: {
      application_name: applicationName,
      TimeZone: 'UTC',
      // A 202 promises a commit on disk. A database or role default of `off` (ALTER DATABASE …
      // SET synchronous_commit = off) would silently turn that into "on disk soon"; a startup
      // parameter outranks both, so every session of ours commits synchronously.
      synchronous_commit: 'on',
      // A statement that runs this long means the database is in trouble; give up and retry.
      statement_timeout: 30_000,
      // A crashed transaction holder must never keep a partition lease for long.
      idle_in_transaction_session_timeout: 30_000,
    },
  });
}

/** Seconds before reconnect attempt `failures`: 25-50 ms doubling to 0.5-1 s, jittered. */
export function reconnectDelay(failures: number): number {
  return Math.min(1, 0.05 * 2 ** failures) * (0.5 + Math.random() / 2);
}

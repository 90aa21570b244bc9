/** postgres.js connection pools. Hot-path SQL uses the tagged template directly. */
import postgres from 'postgres';

export type Sql = postgres.Sql;

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
    idle_timeout: 60,
    // Recycle connections now and then so server-side memory stays flat over long runs.
    max_lifetime: 60 * 30,
    prepare: true,
    onnotice: () => {},
    connection: {
      application_name: applicationName,
      TimeZone: 'UTC',
      // A statement that runs this long means the database is in trouble; give up and retry.
      statement_timeout: 30_000,
      // A crashed transaction holder must never keep a partition lease for long.
      idle_in_transaction_session_timeout: 30_000,
    },
  });
}

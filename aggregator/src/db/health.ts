/**
 * What /metrics reads from PostgreSQL at scrape time: the signs of queue trouble an operator
 * alerts on. One statement, run once per scrape, never on the publish path.
 *
 * - Oldest pending: each partition's lowest inbox id (its PK), 32 index probes instead of a scan
 *   of a backlog; ids are drawn at insert, so the lowest id is the oldest row to within the few
 *   milliseconds two concurrent inserts can differ by.
 * - Dead tuples of `inbox`: every applied row leaves one; if autovacuum cannot keep up (or an old
 *   transaction pins the xmin horizon) the lease's "has work" probe slows down.
 * - Oldest open transaction in this database: the usual reason dead tuples cannot be removed.
 *   Only client backends count (autovacuum's own transaction does not hold the horizon back).
 *   Other roles' sessions are visible only with pg_read_all_stats.
 * - Connections of this application (`application_name` of the pool that runs the scrape, so
 *   every replica) by state. postgres.js exposes no pool statistics; the server's view is the
 *   truth, cluster-wide. The scraping connection itself is left out.
 */
import type { Sql } from './client';

export const CONNECTION_STATES = ['active', 'idle', 'idle_in_transaction', 'idle_in_transaction_aborted', 'other'] as const;
export type ConnectionState = (typeof CONNECTION_STATES)[number];

export interface DatabaseHealth {
  /** Seconds since the oldest pending inbox row was accepted; 0 when the inbox is empty. */
  oldestPendingAgeSeconds: number;
  /** pg_stat_user_tables.n_dead_tup of inbox (the cumulative statistics lag by about a second). */
  inboxDeadTuples: number;
  /** Seconds the oldest open transaction in this database has been running; 0 when none. */
  oldestTransactionAgeSeconds: number;
  connections: Record<ConnectionState, number>;
}

export async function readDatabaseHealth(sql: Sql): Promise<DatabaseHealth> {
  const [row] = await sql<{ oldest_pending: number; dead: string | null; oldest_xact: number; connections: Record<string, string> }[]>`
    SELECT
      (SELECT coalesce(extract(epoch FROM now() - min(o.accepted_at)), 0)::float8
       FROM inbox_leases AS p
       CROSS JOIN LATERAL (
         SELECT i.accepted_at FROM inbox AS i WHERE i.part = p.part ORDER BY i.id LIMIT 1
       ) AS o) AS oldest_pending,
      (SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = 'inbox'::regclass) AS dead,
      (SELECT coalesce(extract(epoch FROM now() - min(xact_start)), 0)::float8
       FROM pg_stat_activity
       WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()) AS oldest_xact,
      (SELECT coalesce(json_object_agg(state, n), '{}')
       FROM (
         SELECT coalesce(state, 'other') AS state, count(*) AS n
         FROM pg_stat_activity
         WHERE application_name = current_setting('application_name')
           AND datname = current_database()
           AND pid <> pg_backend_pid()
         GROUP BY 1
       ) AS s) AS connections
  `;
  const connections = Object.fromEntries(CONNECTION_STATES.map((state) => [state, 0])) as Record<ConnectionState, number>;
  for (const [state, count] of Object.entries(row!.connections)) {
    const key = state.replace(/[^a-z]+/g, '_').replace(/_$/, '') as ConnectionState;
    connections[CONNECTION_STATES.includes(key) ? key : 'other'] += Number(count);
  }
  return {
    // A transaction that began after this statement's now() would come out slightly negative.
    oldestPendingAgeSeconds: Math.max(0, row!.oldest_pending),
    inboxDeadTuples: Number(row!.dead ?? 0),
    oldestTransactionAgeSeconds: Math.max(0, row!.oldest_xact),
    connections,
  };
}

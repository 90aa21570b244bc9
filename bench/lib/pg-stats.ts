/**
 * What PostgreSQL itself says about a run: where statement time went (pg_stat_statements,
 * preloaded by server.ts) and how many dead tuples the inbox carries.
 */
import type postgres from 'postgres';

export interface StatementCost {
  /** Normalised statement text, whitespace collapsed and cut to 160 characters. */
  query: string;
  calls: number;
  totalMs: number;
  meanMs: number;
  rows: number;
  /** Share of all statement time in this database, 0..100. */
  sharePct: number;
}

/** Forgets all statement statistics (call before the run whose statements should be ranked). */
export async function resetStatements(admin: postgres.Sql): Promise<void> {
  await admin`SELECT pg_stat_statements_reset()`;
}

/** The statements of `database` that took the most execution time since the last reset. */
export async function topStatements(admin: postgres.Sql, database: string, limit = 6): Promise<StatementCost[]> {
  const rows = await admin<{ query: string; calls: string; total: number; mean: number; rows: string; share: number }[]>`
    WITH s AS (
      SELECT query, calls, total_exec_time AS total, mean_exec_time AS mean, rows
      FROM pg_stat_statements
      WHERE dbid = (SELECT oid FROM pg_database WHERE datname = ${database})
    )
    SELECT query, calls, total, mean, rows, 100 * total / nullif(sum(total) OVER (), 0) AS share
    FROM s ORDER BY total DESC LIMIT ${limit}`;
  return rows.map((r) => ({
    query: r.query.replace(/\s+/g, ' ').trim().slice(0, 160),
    calls: Number(r.calls),
    totalMs: r.total,
    meanMs: r.mean,
    rows: Number(r.rows),
    sharePct: r.share ?? 0,
  }));
}

/**
 * Dead tuples in the inbox: the table `inbox`, and any `inbox_*` table holding its rows
 * (partitions or rotated tables, should the design move there), not the lease rows.
 */
export async function inboxDeadTuples(sql: postgres.Sql): Promise<number> {
  const [row] = await sql<{ dead: string | null }[]>`
    SELECT sum(n_dead_tup) AS dead FROM pg_stat_user_tables
    WHERE relname = 'inbox' OR (relname LIKE 'inbox\\_%' AND relname <> 'inbox_leases')`;
  return Number(row?.dead ?? 0);
}

/** WAL position in bytes (server-wide): the difference over a run is the WAL it wrote. */
export async function walBytes(admin: postgres.Sql): Promise<number> {
  const [row] = await admin<{ bytes: string }[]>`SELECT pg_current_wal_lsn() - '0/0'::pg_lsn AS bytes`;
  return Number(row!.bytes);
}

/** Checkpoints so far (timed + requested); PostgreSQL 17+ (pg_stat_checkpointer), else NaN. */
export async function checkpoints(admin: postgres.Sql): Promise<number> {
  try {
    const [row] = await admin<{ n: string }[]>`SELECT num_timed + num_requested AS n FROM pg_stat_checkpointer`;
    return Number(row!.n);
  } catch {
    return Number.NaN;
  }
}

/** Heap + indexes + TOAST of `events` (all its partitions), in bytes. */
export async function eventsBytes(sql: postgres.Sql): Promise<number> {
  const [row] = await sql<{ bytes: string }[]>`SELECT coalesce(sum(pg_total_relation_size(relid)), 0) AS bytes FROM pg_partition_tree('events')`;
  return Number(row!.bytes);
}

/**
 * Dead tuples of the events storage: every partition of `events` and of `event_keys`. Both are
 * insert-only and expire by DROP, so this should stay near zero (rolled-back batches only).
 */
export async function eventsDeadTuples(sql: postgres.Sql): Promise<number> {
  const [row] = await sql<{ dead: string | null }[]>`
    SELECT sum(s.n_dead_tup) AS dead
    FROM pg_stat_user_tables AS s
    WHERE s.relid IN (SELECT relid FROM pg_partition_tree('events') UNION ALL SELECT relid FROM pg_partition_tree('event_keys'))`;
  return Number(row?.dead ?? 0);
}

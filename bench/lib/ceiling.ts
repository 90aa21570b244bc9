/**
 * Raw-SQL ceilings: what a few dozen lines of postgres.js move on the same server, at the same
 * batch size and concurrency as the HTTP runs, with the same generated events.
 *
 * - naive: clients insert one inbox row per event (`unnest`, one statement per batch); worker
 *   loops each claim the 500 oldest rows with SKIP LOCKED, insert them into events ON CONFLICT DO
 *   NOTHING and delete them, in one statement. Rate = events / (time until every insert returned
 *   AND the inbox is empty): the end-to-end figure the aggregator is held to.
 * - direct: clients insert straight into events ON CONFLICT DO NOTHING (no queue at all).
 *
 * Each run uses its own fresh database and checks the stored row count against the generator's
 * exact unique count, so a ceiling that lost or doubled events would fail instead of flattering.
 */
import postgres from 'postgres';
import type { BatchPool } from './generate';

export interface CeilingOptions {
  /** A fresh, empty database. */
  url: string;
  clients: number;
  workers: number;
  /** Inbox rows per worker claim (naive only). */
  claim: number;
  seconds: number;
  pool: BatchPool;
  drainTimeoutMs: number;
}

export interface CeilingResult {
  events: number;
  stored: number;
  /** End-to-end seconds: from the first insert until everything is in events. */
  seconds: number;
  /** Seconds until the last client insert returned. */
  insertSeconds: number;
  /** Seconds from the last insert to an empty inbox (naive only; 0 for direct). */
  drainSeconds: number;
  /** Deadlocks retried (direct clients inserting overlapping keys). */
  retries: number;
}

const TABLES = `
  CREATE TABLE bench_inbox (
    id bigserial PRIMARY KEY,
    topic text NOT NULL, event_id text NOT NULL, ts timestamptz NOT NULL, source text NOT NULL, payload jsonb NOT NULL
  );
  CREATE TABLE bench_events (
    topic text NOT NULL, event_id text NOT NULL, "timestamp" timestamptz NOT NULL, source text NOT NULL, payload jsonb NOT NULL,
    CONSTRAINT bench_events_topic_event_id_key UNIQUE (topic, event_id)
  );`;

type Sql = postgres.Sql;

/** Runs `clients` loops issuing `insert(i)` for consecutive request indexes until the deadline. */
async function runClients(options: CeilingOptions, insert: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const deadline = performance.now() + options.seconds * 1000;
  const client = async () => {
    while (performance.now() < deadline) await insert(next++);
  };
  await Promise.all(Array.from({ length: options.clients }, client));
  return next;
}

async function verify(sql: Sql, options: CeilingOptions, requests: number, stored: number): Promise<void> {
  const expected = options.pool.uniqueInFirst(requests);
  const [counts] = await sql<{ rows: number; left: number }[]>`
    SELECT (SELECT count(*) FROM bench_events)::int AS rows, (SELECT count(*) FROM bench_inbox)::int AS left`;
  const { rows, left } = counts!;
  if (rows !== expected || stored !== expected || left !== 0) {
    throw new Error(`ceiling miscounted: ${rows} rows / ${stored} reported stored, ${expected} expected, ${left} left in the inbox`);
  }
}

const withSql = async <T>(options: CeilingOptions, body: (sql: Sql) => Promise<T>): Promise<T> => {
  const sql = postgres(options.url, { max: options.clients + options.workers, onnotice: () => {}, prepare: true });
  try {
    await sql.unsafe(TABLES);
    return await body(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
};

/** The naive two-step pipeline: inbox insert + SKIP LOCKED claim into events. */
export function runNaive(options: CeilingOptions): Promise<CeilingResult> {
  return withSql(options, async (sql) => {
    const { pool, claim } = options;
    let insertsDone = false;
    let stored = 0;
    const worker = async () => {
      for (;;) {
        const [row] = await sql<{ claimed: number; stored: number }[]>`
          WITH claimed AS (
            DELETE FROM bench_inbox
            WHERE id IN (SELECT id FROM bench_inbox ORDER BY id LIMIT ${claim} FOR UPDATE SKIP LOCKED)
            RETURNING topic, event_id, ts, source, payload
          ), inserted AS (
            INSERT INTO bench_events (topic, event_id, "timestamp", source, payload)
            SELECT topic, event_id, ts, source, payload FROM claimed ORDER BY topic, event_id
            ON CONFLICT (topic, event_id) DO NOTHING
            RETURNING 1
          )
          SELECT (SELECT count(*) FROM claimed)::int AS claimed, (SELECT count(*) FROM inserted)::int AS stored`;
        stored += row!.stored;
        if (row!.claimed > 0) continue;
        if (insertsDone) return;
        await Bun.sleep(2);
      }
    };
    const started = performance.now();
    const workers = Promise.all(Array.from({ length: options.workers }, worker));
    const requests = await runClients(options, async (i) => {
      const c = pool.columns(i);
      await sql`
        INSERT INTO bench_inbox (topic, event_id, ts, source, payload)
        SELECT * FROM unnest(${c.topic}::text[], ${c.event_id}::text[], ${c.timestamp}::timestamptz[], ${c.source}::text[], ${c.payload}::text[]::jsonb[])`;
    });
    const inserted = performance.now();
    insertsDone = true;
    const timeout = Bun.sleep(options.drainTimeoutMs).then(() => {
      throw new Error(`naive ceiling: inbox not drained within ${options.drainTimeoutMs} ms`);
    });
    await Promise.race([workers, timeout]);
    const done = performance.now();
    await verify(sql, options, requests, stored);
    return {
      events: requests * pool.batchSize,
      stored,
      seconds: (done - started) / 1000,
      insertSeconds: (inserted - started) / 1000,
      drainSeconds: (done - inserted) / 1000,
      retries: 0,
    };
  });
}

/** Direct INSERT … ON CONFLICT DO NOTHING from the clients. */
export function runDirect(options: CeilingOptions): Promise<CeilingResult> {
  return withSql(options, async (sql) => {
    const { pool } = options;
    let stored = 0;
    let retries = 0;
    const started = performance.now();
    const requests = await runClients(options, async (i) => {
      const c = pool.columns(i);
      for (;;) {
        try {
          // Sorted keys: two clients inserting overlapping keys lock them in the same order.
          const result = await sql`
            INSERT INTO bench_events (topic, event_id, "timestamp", source, payload)
            SELECT * FROM unnest(${c.topic}::text[], ${c.event_id}::text[], ${c.timestamp}::timestamptz[], ${c.source}::text[], ${c.payload}::text[]::jsonb[])
              AS u(topic, event_id, ts, source, payload)
            ORDER BY topic, event_id
            ON CONFLICT (topic, event_id) DO NOTHING`;
          stored += result.count;
          return;
        } catch (error) {
          if ((error as { code?: string }).code !== '40P01') throw error;
          retries++;
        }
      }
    });
    const done = performance.now();
    await verify(sql, options, requests, stored);
    const seconds = (done - started) / 1000;
    return { events: requests * pool.batchSize, stored, seconds, insertSeconds: seconds, drainSeconds: 0, retries };
  });
}

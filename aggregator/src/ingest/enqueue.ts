/**
 * Writes an accepted batch to the inbox. One statement, so one implicit transaction: the rows
 * and the `received` count commit together or not at all (the /stats invariant depends on it),
 * and the 202 is sent only after that commit returns.
 *
 * Each event's seq is drawn here, in arrival order across the whole statement (so a request's
 * events keep their order whatever partitions they land in), and the transaction holds the
 * drawer lock before the first seq is drawn: the read horizon (events/horizon.ts) relies on
 * that to know when every seq up to a value has either committed or never will.
 */
import type { Sql } from '../db/client';
import { INGEST_SHARDS } from '../db/schema';
import { type InboxEvent, payloadJsonOf } from './inbox-event';
import { partitionOf } from '../db/partition';
import { takeDrawerLock } from '../events/horizon';

/**
 * The statement's events as one array per column, partition by partition (arrival order kept
 * within each), and each partition's row as a slice of them: `firsts`/`lasts` (1-based), its
 * payload `bytes` (the inbox row's `bytes`, which sizes claims) and `positions`, each event's
 * place in the statement (its seq is the statement's seq there).
 */
export interface InboxColumns {
  parts: number[];
  firsts: number[];
  lasts: number[];
  bytes: number[];
  positions: number[];
  topics: string[];
  eventIds: string[];
  timestamps: string[];
  sources: string[];
  /** Payload JSON texts, stored as sent. */
  payloads: string[];
}

/** Groups `events` by the partition of their key and lays them out as inbox columns. */
export function inboxColumns(events: readonly InboxEvent[]): InboxColumns {
  const byPart = new Map<number, number[]>();
  for (let i = 0; i < events.length; i++) {
    const part = partitionOf(events[i]!.topic, events[i]!.event_id);
    const indexes = byPart.get(part);
    if (indexes) indexes.push(i);
    else byPart.set(part, [i]);
  }
  const columns: InboxColumns = {
    parts: [],
    firsts: [],
    lasts: [],
    bytes: [],
    positions: [],
    topics: [],
    eventIds: [],
    timestamps: [],
    sources: [],
    payloads: [],
  };
  for (const [part, indexes] of byPart) {
    columns.parts.push(part);
    columns.firsts.push(columns.topics.length + 1);
    let bytes = 0;
    for (const i of indexes) {
      const event = events[i]!;
      const payload = payloadJsonOf(event);
      bytes += Buffer.byteLength(payload);
      columns.positions.push(i + 1);
      columns.topics.push(event.topic);
      columns.eventIds.push(event.event_id);
      columns.timestamps.push(event.timestamp);
      columns.sources.push(event.source);
      columns.payloads.push(payload);
    }
    columns.lasts.push(columns.topics.length);
    columns.bytes.push(bytes);
  }
  return columns;
}

/**
 * Durably enqueues `events`; resolves after the commit with the number of partitions written. One inbox row per partition present:
 * a statement carrying thousands of events writes at most PARTITION_COUNT rows.
 *
 * The columns travel as one array each, the rows as slices of them: one statement text for any
 * number of rows (one prepared statement per connection, not one per row count; measured 15-25
 * MB less RSS under load than a VALUES row per partition).
 */
export async function enqueueEvents(sql: Sql, events: readonly InboxEvent[]): Promise<number> {
  const columns = inboxColumns(events);
  // `drawn`: the WHERE (a one-time filter) is true before any series row reaches the aggregate
  // that calls nextval, so the drawer lock is held before the first seq (events/horizon.ts). The
  // transaction id is taken there too: replicas of the previous build (whose horizon waits on
  // transaction ids) rely on it while a rolling upgrade runs both. The counter shard follows the backend pid:
  // a connection never waits on itself, and two connections share a row only when their pids
  // collide modulo INGEST_SHARDS.
  await sql`
    WITH drawn AS MATERIALIZED (
      SELECT array_agg(nextval('events_seq') ORDER BY g) AS seqs
      FROM generate_series(1, ${events.length}::int) AS g
      WHERE (SELECT ${takeDrawerLock(sql)}) IS NOT NULL AND pg_current_xact_id() IS NOT NULL
    ),
    columns AS MATERIALIZED (
      SELECT ${columns.positions}::int4[] AS positions, ${columns.topics}::text[] AS topics, ${columns.eventIds}::text[] AS event_ids,
        ${columns.timestamps}::text[]::timestamptz[] AS timestamps, ${columns.sources}::text[] AS sources, ${columns.payloads}::text[]::json[] AS payloads
    ),
    accepted AS (
      INSERT INTO inbox (part, id, n, bytes, topics, event_ids, timestamps, sources, payloads, seqs)
      SELECT r.part, d.seqs[c.positions[r.first]], r.last - r.first + 1, r.bytes,
        c.topics[r.first:r.last], c.event_ids[r.first:r.last], c.timestamps[r.first:r.last], c.sources[r.first:r.last],
        c.payloads[r.first:r.last],
        ARRAY(SELECT d.seqs[p.position] FROM unnest(c.positions[r.first:r.last]) WITH ORDINALITY AS p(position, k) ORDER BY p.k)
      FROM unnest(${columns.parts}::int2[], ${columns.firsts}::int4[], ${columns.lasts}::int4[], ${columns.bytes}::int4[]) AS r(part, first, last, bytes)
      CROSS JOIN drawn AS d
      CROSS JOIN columns AS c
      RETURNING n
    )
    UPDATE counters
    SET received = received + (SELECT sum(n) FROM accepted)
    WHERE shard = pg_backend_pid() % ${INGEST_SHARDS}
  `;
  return columns.parts.length;
}

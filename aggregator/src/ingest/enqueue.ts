/**
 * Writes an accepted batch to the inbox. One statement, so one implicit transaction: the rows
 * and the `received` count commit together or not at all (the /stats invariant depends on it),
 * and the 202 is sent only after that commit returns.
 *
 * Each event's seq is drawn here, in arrival order across the whole statement (so a request's
 * events keep their order whatever partitions they land in), and the transaction has its id
 * before the first seq is drawn: the read horizon (events/horizon.ts) relies on that to know
 * when every seq up to a value has either committed or never will.
 */
import type { Sql } from '../db/client';
import { INGEST_SHARDS } from '../db/schema';
import { type InboxEvent, payloadJsonOf } from './inbox-event';
import { partitionOf } from '../db/partition';

/** The events of one partition, column by column, in arrival order. */
export interface PartitionGroup {
  part: number;
  /** Each event's position in the statement (1-based): its seq is the statement's seq at it. */
  positions: number[];
  topics: string[];
  eventIds: string[];
  timestamps: string[];
  sources: string[];
  /** Payload JSON texts, stored as sent. */
  payloads: string[];
  /** UTF-8 bytes of those payloads: the inbox row's `bytes`, which sizes claims. */
  bytes: number;
}

/** Splits events by partition, keeping their order within each partition. */
export function groupByPartition(events: readonly InboxEvent[]): PartitionGroup[] {
  const groups = new Map<number, PartitionGroup>();
  for (const [index, event] of events.entries()) {
    const part = partitionOf(event.topic, event.event_id);
    let group = groups.get(part);
    if (!group) {
      group = { part, positions: [], topics: [], eventIds: [], timestamps: [], sources: [], payloads: [], bytes: 0 };
      groups.set(part, group);
    }
    group.positions.push(index + 1);
    group.topics.push(event.topic);
    group.eventIds.push(event.event_id);
    group.timestamps.push(event.timestamp);
    group.sources.push(event.source);
    const payload = payloadJsonOf(event);
    group.payloads.push(payload);
    group.bytes += Buffer.byteLength(payload);
  }
  return [...groups.values()];
}

/**
 * Durably enqueues `events`; resolves after the commit with the number of partitions written. One inbox row per partition present:
 * a statement carrying thousands of events writes at most PARTITION_COUNT rows.
 */
export async function enqueueEvents(sql: Sql, events: readonly InboxEvent[]): Promise<number> {
  const groups = groupByPartition(events);
  const rows = groups.map(
    (g) => sql`(
      ${g.part}::int2, ${g.topics.length}::int4, ${g.bytes}::int4, ${g.positions}::int4[], ${g.topics}::text[], ${g.eventIds}::text[],
      ${g.timestamps}::text[]::timestamptz[], ${g.sources}::text[], ${g.payloads}::text[]::json[]
    )`,
  );
  const values = rows.slice(1).reduce((list, row) => sql`${list}, ${row}`, rows[0]!);
  // `drawn`: the WHERE runs on each series row before the aggregate reads nextval from it, so
  // the transaction id exists before the first seq. The counter shard follows the backend pid:
  // a connection never waits on itself, and two connections share a row only when their pids
  // collide modulo INGEST_SHARDS.
  await sql`
    WITH drawn AS MATERIALIZED (
      SELECT array_agg(nextval('events_seq') ORDER BY g) AS seqs
      FROM generate_series(1, ${events.length}::int) AS g
      WHERE pg_current_xact_id() IS NOT NULL
    ),
    accepted AS (
      INSERT INTO inbox (part, id, n, bytes, topics, event_ids, timestamps, sources, payloads, seqs)
      SELECT v.part, d.seqs[v.positions[1]], v.n, v.bytes, v.topics, v.event_ids, v.timestamps, v.sources, v.payloads,
        ARRAY(SELECT d.seqs[p.position] FROM unnest(v.positions) WITH ORDINALITY AS p(position, k) ORDER BY p.k)
      FROM (VALUES ${values}) AS v(part, n, bytes, positions, topics, event_ids, timestamps, sources, payloads)
      CROSS JOIN drawn AS d
      RETURNING n
    )
    UPDATE counters
    SET received = received + (SELECT sum(n) FROM accepted)
    WHERE shard = pg_backend_pid() % ${INGEST_SHARDS}
  `;
  return groups.length;
}

/**
 * Writes an accepted batch to the inbox. One statement, so one implicit transaction: the rows
 * and the `received` count commit together or not at all (the /stats invariant depends on it),
 * and the 202 is sent only after that commit returns.
 */
import type { Sql } from '../db/client';
import { INGEST_SHARDS } from '../db/schema';
import { type InboxEvent, payloadJsonOf } from './inbox-event';
import { partitionOf } from '../db/partition';

/** The events of one partition, column by column, in arrival order. */
export interface PartitionGroup {
  part: number;
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
  for (const event of events) {
    const part = partitionOf(event.topic);
    let group = groups.get(part);
    if (!group) {
      group = { part, topics: [], eventIds: [], timestamps: [], sources: [], payloads: [], bytes: 0 };
      groups.set(part, group);
    }
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
      ${g.part}::int2, ${g.topics.length}::int4, ${g.bytes}::int4, ${g.topics}::text[], ${g.eventIds}::text[],
      ${g.timestamps}::text[]::timestamptz[], ${g.sources}::text[], ${g.payloads}::text[]::json[]
    )`,
  );
  const values = rows.slice(1).reduce((list, row) => sql`${list}, ${row}`, rows[0]!);
  // The counter shard follows the backend pid: a connection never waits on itself, and two
  // connections share a row only when their pids collide modulo INGEST_SHARDS.
  await sql`
    WITH accepted AS (
      INSERT INTO inbox (part, n, bytes, topics, event_ids, timestamps, sources, payloads)
      VALUES ${values}
      RETURNING n
    )
    UPDATE counters
    SET received = received + (SELECT sum(n) FROM accepted)
    WHERE shard = pg_backend_pid() % ${INGEST_SHARDS}
  `;
  return groups.length;
}

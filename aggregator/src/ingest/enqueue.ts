/**
 * Writes an accepted batch to the inbox. One statement, so one implicit transaction: the rows
 * and the `received` count commit together or not at all (the /stats invariant depends on it),
 * and the 202 is sent only after that commit returns.
 */
import type { Sql } from '../db/client';
import { INGEST_SHARDS } from '../db/schema';
import type { Event } from './model';
import { partitionOf } from './partition';

/**
 * Groups events by partition, keeping their order, as `[{"p":part,"n":count,"e":[event,…]},…]`.
 * One inbox row per group: a request of 50 events costs a row or a few, not 50.
 */
export function groupByPartition(events: readonly Event[]): string {
  const groups = new Map<number, string[]>();
  for (const event of events) {
    const part = partitionOf(event.topic);
    let group = groups.get(part);
    if (!group) groups.set(part, (group = []));
    // Re-serialised from the validated object: unknown fields were rejected, so nothing is lost.
    group.push(JSON.stringify(event));
  }
  const parts: string[] = [];
  for (const [part, items] of groups) parts.push(`{"p":${part},"n":${items.length},"e":[${items.join(',')}]}`);
  return `[${parts.join(',')}]`;
}

/** Durably enqueues `events`; resolves after the commit. */
export async function enqueueEvents(sql: Sql, events: readonly Event[]): Promise<void> {
  // The counter shard follows the backend pid: a connection never waits on itself, and two
  // connections share a row only when their pids collide modulo INGEST_SHARDS.
  await sql`
    WITH accepted AS (
      INSERT INTO inbox (part, n, events)
      SELECT (g->>'p')::int2, (g->>'n')::int4, g->'e'
      FROM json_array_elements(${groupByPartition(events)}::text::json) AS g
      RETURNING n
    )
    UPDATE counters
    SET received = received + (SELECT sum(n) FROM accepted)
    WHERE shard = pg_backend_pid() % ${INGEST_SHARDS}
  `;
}

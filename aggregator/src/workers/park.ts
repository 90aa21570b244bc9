/**
 * Moves a one-event head row that failed to apply on its own into inbox_parked. The event was
 * acknowledged, so it is kept (and counted as pending by /stats); the rest of its partition,
 * other topics included, is no longer held behind it. One statement: the row leaves the inbox
 * only if it lands in inbox_parked. Caller holds the partition lease.
 */
import type { Queryable } from '../db/client';

export interface ParkedEvent {
  topic: string;
  eventId: string;
}

export async function parkHead(tx: Queryable, part: number, headId: number, error: string): Promise<ParkedEvent | null> {
  const [row] = await tx<{ topic: string; event_id: string }[]>`
    WITH moved AS (
      DELETE FROM inbox WHERE part = ${part} AND id = ${headId} AND n = 1
      RETURNING id, topics[1] AS topic, event_ids[1] AS event_id, timestamps[1] AS "timestamp", sources[1] AS source, payloads[1] AS payload
    )
    INSERT INTO inbox_parked (part, inbox_id, topic, event_id, "timestamp", source, payload, error)
    SELECT ${part}, id, topic, event_id, "timestamp", source, payload, ${error} FROM moved
    RETURNING topic, event_id
  `;
  return row ? { topic: row.topic, eventId: row.event_id } : null;
}

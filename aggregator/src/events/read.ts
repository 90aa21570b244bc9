/**
 * One page of a topic's processed events, ordered by seq.
 *
 * No gaps: a topic's events are applied by one transaction at a time (the partition lease) and
 * take their seq inside it, so any snapshot holds a prefix of the topic's seq order. A page that
 * ends at seq S therefore never precedes a later commit with a seq below S.
 *
 * PostgreSQL builds the JSON itself: a 1000-event page is one text value, not 1000 objects
 * parsed and re-serialised in JavaScript, and each payload is spliced in as the text stored.
 *
 * Bounded by bytes as well as by count: a page stops before the event that would take its
 * payload bytes to `maxBytes`, but always holds at least one event (paging never stalls on a
 * large one). Payload sizes come from octet_length(payload::text), which PostgreSQL answers
 * from the TOAST header without reading the value, so sizing a page reads no payload.
 */
import type { Sql } from '../db/client';

export interface Page {
  /** JSON array text of the events. */
  eventsJson: string;
  /** Seq of the last event in the page, or null for an empty page. */
  lastSeq: number | null;
}

/**
 * One event as the API renders it, over a row with the events table's columns. GET /events and
 * GET /subscribe both use it, so a page item and an SSE message are the same JSON.
 */
export const eventJson = (sql: Sql) => sql`
  json_build_object(
    'seq', seq,
    'topic', topic,
    'event_id', event_id,
    'timestamp', to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'source', source,
    'payload', payload
  )`;

/**
 * A topic's events with seq above `after`, in seq order: at most `limit`, and none past the one
 * that reaches `maxBytes` of payload (the first is always included). The rows have the events
 * table's columns, for eventJson, and `bytes_upto`: payload bytes up to and including the row.
 */
export const boundedEvents = (sql: Sql, topic: string, after: number, limit: number, maxBytes: number) => sql`
  SELECT seq, topic, event_id, "timestamp", source, payload, bytes_upto
  FROM (
    SELECT *, sum(octet_length(payload::text)) OVER (ORDER BY seq) AS bytes_upto
    FROM (
      SELECT seq, topic, event_id, "timestamp", source, payload
      FROM events
      WHERE topic = ${topic} AND seq > ${after}
      ORDER BY seq
      LIMIT ${limit}
    ) AS candidates
  ) AS sized
  WHERE bytes_upto - octet_length(payload::text) < ${maxBytes}`;

export async function readPage(sql: Sql, topic: string, after: number, limit: number, maxBytes: number): Promise<Page> {
  const [row] = await sql<{ events: string; last_seq: string | null }[]>`
    SELECT
      coalesce(json_agg(${eventJson(sql)} ORDER BY seq), '[]')::text AS events,
      max(seq) AS last_seq
    FROM (${boundedEvents(sql, topic, after, limit, maxBytes)}) AS page
  `;
  return { eventsJson: row!.events, lastSeq: row!.last_seq === null ? null : Number(row!.last_seq) };
}

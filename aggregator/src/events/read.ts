/**
 * One page of a topic's processed events, ordered by seq.
 *
 * No gaps: a topic's events are applied by one transaction at a time (the partition lease) and
 * take their seq inside it, so any snapshot holds a prefix of the topic's seq order. A page that
 * ends at seq S therefore never precedes a later commit with a seq below S.
 *
 * PostgreSQL builds the JSON itself: a 1000-event page is one text value, not 1000 objects
 * parsed and re-serialised in JavaScript.
 */
import type { Sql } from '../db/client';

export interface Page {
  /** JSON array text of the events. */
  eventsJson: string;
  /** Seq of the last event in the page, or null for an empty page. */
  lastSeq: number | null;
  /** Set when events after `after` were removed by retention (see Expiry). */
  expiry: Expiry | null;
}

/** Events the reader asked for that retention removed. */
export interface Expiry {
  /** The highest seq of the topic that expired: nothing at or below it is kept. */
  expiredThrough: number;
  /** The oldest kept event after the reader's cursor, or null when none is kept yet. */
  firstAvailable: number | null;
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
 * The expiry watermark is read in the page's own statement (one snapshot), and retention moves
 * it in the transaction that drops the events: a page either still holds an event or says it
 * expired, never neither.
 */
export async function readPage(sql: Sql, topic: string, after: number, limit: number): Promise<Page> {
  const [row] = await sql<{ events: string; last_seq: string | null; first_seq: string | null; expired_through: string | null }[]>`
    SELECT
      coalesce(json_agg(${eventJson(sql)} ORDER BY seq), '[]')::text AS events,
      max(seq) AS last_seq,
      min(seq) AS first_seq,
      (SELECT expired_through FROM topics WHERE name = ${topic}) AS expired_through
    FROM (
      SELECT seq, topic, event_id, "timestamp", source, payload
      FROM events
      WHERE topic = ${topic} AND seq > ${after}
      ORDER BY seq
      LIMIT ${limit}
    ) AS page
  `;
  const expiredThrough = Number(row!.expired_through ?? 0);
  return {
    eventsJson: row!.events,
    lastSeq: row!.last_seq === null ? null : Number(row!.last_seq),
    expiry: after < expiredThrough ? { expiredThrough, firstAvailable: row!.first_seq === null ? null : Number(row!.first_seq) } : null,
  };
}

/** Whether events after `after` expired, and the oldest kept one after it (for /subscribe). */
export async function readExpiry(sql: Sql, topic: string, after: number): Promise<Expiry | null> {
  const [row] = await sql<{ expired_through: string | null; first_seq: string | null }[]>`
    SELECT expired_through, (SELECT min(seq) FROM events WHERE topic = ${topic} AND seq > ${after}) AS first_seq
    FROM topics WHERE name = ${topic}
  `;
  const expiredThrough = Number(row?.expired_through ?? 0);
  if (after >= expiredThrough) return null;
  return { expiredThrough, firstAvailable: row!.first_seq === null ? null : Number(row!.first_seq) };
}

/**
 * One page of a topic's processed events, ordered by seq.
 *
 * No gaps: a page holds only events below the read horizon (horizon.ts), below which no event
 * of the topic can appear any more, so a page that ends at seq S never precedes a later commit
 * with a seq below S, whatever order the partitions' transactions commit in.
 *
 * PostgreSQL builds the JSON itself: a 1000-event page is one text value, not 1000 objects
 * parsed and re-serialised in JavaScript, and each payload is spliced in as the text stored.
 *
 * Bounded by bytes as well as by count: a page stops after the event that takes its payload
 * bytes to `maxBytes`, and always holds at least one event (paging never stalls on a large one).
 * The page is walked one event at a time (a recursive CTE over the (topic, seq) key) and stops
 * there: a size needs the payload read (json has no binary cast to text, so octet_length
 * detoasts it), and sizing a window of `limit` candidates instead read up to 1000 payloads of
 * 4 MiB for a page of one (measured: 170 ms for 8 candidates, quadratic over a topic).
 *
 * `events` is partitioned (one table per STORAGE_INTERVAL of deadlines: 31 by default), and
 * every mention of it in a statement is planned and opened once per partition. The walk names it
 * once: it starts from a row that holds no event and carries each event's columns along, so the
 * page needs no join back to `events`. With three mentions (first step, next step, join back) a
 * tail read of one event cost 3-5x more, most on a connection's first executions (custom plans),
 * which is where the idle latency of a fresh or recycled pool went (bench/scenarios/latency.ts).
 */
import type { Sql } from '../db/client';
import { type HorizonBound, horizonCte } from './horizon';

export interface Page {
  /**
   * JSON array text of the events, UTF-8 bytes as PostgreSQL sent them: never decoded into a
   * JavaScript string and encoded back (for a page of 4 MiB events, two more copies per reader).
   */
  eventsJson: Uint8Array;
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
 * A topic's events with seq above `after` and below the horizon, in seq order: at most `limit`,
 * ending with the one that reaches `maxBytes` of payload (the first is always included). The
 * rows have the events table's columns, for eventJson, `bytes_upto`: payload bytes up to and
 * including the row, and `visible`: below the horizon. The enclosing statement defines `horizon`
 * (horizonCte).
 *
 * `pastHorizon`: the walk also takes one step past the horizon, so when it ends there (not at a
 * bound) its last row is the first applied event still held back, `visible` false, with no
 * payload bytes counted (a subscription waits for the horizon to pass it). One walk, one mention
 * of `events`, instead of a second probe for it.
 */
export const boundedEvents = (sql: Sql, topic: string, after: number, limit: number, maxBytes: number, pastHorizon = false) => sql`
  WITH RECURSIVE walk AS (
    -- The start: no event (n = 0), typed as the events columns are.
    SELECT ${after}::int8 AS seq, NULL::text COLLATE "C" AS topic, NULL::text COLLATE "C" AS event_id,
      NULL::timestamptz(6) AS "timestamp", NULL::text AS source, NULL::json AS payload, 0::int8 AS bytes_upto, 0 AS n, true AS visible
    UNION ALL
    SELECT next.seq, next.topic, next.event_id, next."timestamp", next.source, next.payload, walk.bytes_upto + next.bytes, walk.n + 1, next.visible
    FROM walk
    CROSS JOIN LATERAL (
      SELECT e.seq, e.topic, e.event_id, e."timestamp", e.source, e.payload,
        CASE WHEN e.seq < (SELECT h FROM horizon) THEN octet_length(e.payload::text)::int8 ELSE 0 END AS bytes,
        e.seq < (SELECT h FROM horizon) AS visible
      FROM events AS e
      WHERE e.topic = ${topic} AND e.seq > walk.seq ${pastHorizon ? sql`` : sql`AND e.seq < (SELECT h FROM horizon)`}
      ORDER BY e.seq
      LIMIT 1
    ) AS next
    -- The first event always (n = 0); then while the page is under both bounds; never past a
    -- held-back event.
    WHERE walk.visible AND (walk.n = 0 OR (walk.bytes_upto < ${maxBytes} AND walk.n < ${limit}))
  )
  SELECT seq, topic, event_id, "timestamp", source, payload, bytes_upto, visible FROM walk WHERE n > 0`;

/**
 * One page. The expiry watermark is read in the page's own statement (one snapshot), and
 * retention moves it in the transaction that drops the events: a page either still holds an
 * event or says it expired, never neither.
 */
export async function readPage(sql: Sql, bound: HorizonBound, topic: string, after: number, limit: number, maxBytes: number): Promise<Page> {
  const [row] = await sql`
    WITH ${horizonCte(sql, bound)}
    SELECT
      coalesce(json_agg(${eventJson(sql)} ORDER BY seq), '[]')::text AS events,
      max(seq) AS last_seq,
      min(seq) AS first_seq,
      (SELECT expired_through FROM topics WHERE name = ${topic}) AS expired_through
    FROM (${boundedEvents(sql, topic, after, limit, maxBytes)}) AS page
  `.raw();
  const [events, lastSeq, firstSeq, expiredThroughText] = row as unknown as [Buffer, Buffer | null, Buffer | null, Buffer | null];
  const number = (value: Buffer | null) => (value === null ? null : Number(value.toString()));
  const expiredThrough = number(expiredThroughText) ?? 0;
  return {
    eventsJson: events,
    lastSeq: number(lastSeq),
    expiry: after < expiredThrough ? { expiredThrough, firstAvailable: number(firstSeq) } : null,
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

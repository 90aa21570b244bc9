/**
 * What a subscription reads: the same rows, order and JSON shape as GET /events
 * (events/read.ts), one row per event so each becomes its own SSE message with `id: <seq>`.
 *
 * No gaps: reads return only events below the read horizon (events/horizon.ts), below which
 * nothing can appear any more (docs/ARCHITECTURE.md). A stream that sent up to seq S and asks
 * for `seq > S` can never miss an event committed later.
 */
import type { Sql } from '../db/client';
import { type HorizonBound, horizonCte } from '../events/horizon';
import { boundedEvents, eventJson } from '../events/read';

export interface EventRow {
  seq: number;
  /**
   * The event as JSON, exactly as GET /events renders an item: UTF-8 bytes as PostgreSQL sent
   * them (never decoded to a string and encoded back: a read of large events is one copy).
   */
  json: Uint8Array | string;
}

export interface EventRows {
  rows: EventRow[];
  /** The read stopped at `limit` or at `maxBytes`: more may follow at once. */
  full: boolean;
  /**
   * The lowest seq of an event of the topic that is stored but still above the horizon (null:
   * none, or the read is full and did not look): the read should be repeated once the horizon
   * has passed it.
   */
  heldFrom: number | null;
}

/**
 * Up to `limit` events of `topic` with seq above `after`, in seq order, stopping at `maxBytes` of
 * payload (but never empty-handed while an event exists): a subscription holds one read at a
 * time, so this bounds its memory.
 */
export async function readEvents(sql: Sql, bound: HorizonBound, topic: string, after: number, limit: number, maxBytes: number): Promise<EventRows> {
  // A walk that ends on a held-back event returns it last, without its JSON: the held-back seq,
  // from the same snapshot and horizon as the page.
  const rows = (await sql`
    WITH ${horizonCte(sql, bound)}
    SELECT seq, CASE WHEN visible THEN ${eventJson(sql)}::text END AS json, bytes_upto, visible
    FROM (${boundedEvents(sql, topic, after, limit, maxBytes, true)}) AS page
    ORDER BY seq
  `.raw()) as unknown as [Buffer, Buffer | null, Buffer, Buffer][];
  const held = rows.at(-1)?.[3].toString() === 'f' ? rows.pop()! : null;
  const last = rows.at(-1);
  return {
    rows: rows.map(([seq, json]) => ({ seq: Number(seq.toString()), json: json! })),
    full: rows.length === limit || (last !== undefined && Number(last[2].toString()) >= maxBytes),
    heldFrom: held === null ? null : Number(held[0].toString()),
  };
}

/**
 * The highest seq of `topic` below the horizon, 0 when it has none: where a subscription without
 * `after` starts (an event applied later with a lower seq is still delivered).
 */
export async function readHead(sql: Sql, bound: HorizonBound, topic: string): Promise<number> {
  const [row] = await sql<{ head: string }[]>`
    WITH ${horizonCte(sql, bound)}
    SELECT coalesce(max(seq), 0) AS head FROM events WHERE topic = ${topic} AND seq < (SELECT h FROM horizon)
  `;
  return Number(row!.head);
}

/**
 * The highest seq of each topic below the horizon, one index probe per topic ((topic, seq) read
 * backwards). The safety net for a lost NOTIFY: subscriptions behind their topic's head are
 * woken; and a subscriber counts as slow only for events it could have read.
 */
export async function readHeads(sql: Sql, bound: HorizonBound, topics: readonly string[]): Promise<Map<string, number>> {
  const rows = await sql<{ topic: string; head: string | null }[]>`
    WITH ${horizonCte(sql, bound)}
    SELECT t.topic, (SELECT max(seq) FROM events AS e WHERE e.topic = t.topic AND e.seq < (SELECT h FROM horizon)) AS head
    FROM unnest(${topics as string[]}::text[]) AS t(topic)
  `;
  return new Map(rows.filter((row) => row.head !== null).map((row) => [row.topic, Number(row.head)]));
}

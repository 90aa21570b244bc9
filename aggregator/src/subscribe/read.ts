/**
 * What a subscription reads: the same rows, order and JSON shape as GET /events
 * (events/read.ts), one row per event so each becomes its own SSE message with `id: <seq>`.
 *
 * No gaps: a topic's events are applied by one transaction at a time and draw their seq inside
 * it, so every snapshot holds a prefix of the topic's seq order (docs/ARCHITECTURE.md). A stream
 * that sent up to seq S and asks for `seq > S` can never miss an event committed later.
 */
import type { Sql } from '../db/client';
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
}

/**
 * Up to `limit` events of `topic` with seq above `after`, in seq order, stopping at `maxBytes` of
 * payload (but never empty-handed while an event exists): a subscription holds one read at a
 * time, so this bounds its memory.
 */
export async function readEvents(sql: Sql, topic: string, after: number, limit: number, maxBytes: number): Promise<EventRows> {
  const rows = (await sql`
    SELECT seq, ${eventJson(sql)}::text AS json, bytes_upto
    FROM (${boundedEvents(sql, topic, after, limit, maxBytes)}) AS page
    ORDER BY seq
  `.raw()) as unknown as [Buffer, Buffer, Buffer][];
  const last = rows.at(-1);
  return {
    rows: rows.map(([seq, json]) => ({ seq: Number(seq.toString()), json })),
    full: rows.length === limit || (last !== undefined && Number(last[2].toString()) >= maxBytes),
  };
}

/** The highest seq of `topic`, 0 when it has none: where a subscription without `after` starts. */
export async function readHead(sql: Sql, topic: string): Promise<number> {
  const [row] = await sql<{ head: string }[]>`SELECT coalesce(max(seq), 0) AS head FROM events WHERE topic = ${topic}`;
  return Number(row!.head);
}

/**
 * The highest seq of each topic, one index probe per topic (PK (topic, seq) read backwards).
 * The safety net for a lost NOTIFY: subscriptions behind their topic's head are woken.
 */
export async function readHeads(sql: Sql, topics: readonly string[]): Promise<Map<string, number>> {
  const rows = await sql<{ topic: string; head: string | null }[]>`
    SELECT t.topic, (SELECT max(seq) FROM events AS e WHERE e.topic = t.topic) AS head
    FROM unnest(${topics as string[]}::text[]) AS t(topic)
  `;
  return new Map(rows.filter((row) => row.head !== null).map((row) => [row.topic, Number(row.head)]));
}

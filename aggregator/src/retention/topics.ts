/**
 * Per-topic storage as GET /topics reports it, and the retention override PUT /topics sets.
 *
 * The listing counts and sizes each topic's stored events exactly (an index scan and a heap
 * visit per event: about a second per million events). It is an admin view, not a hot path.
 */
import type { Sql } from '../db/client';

export interface TopicStorage {
  topic: string;
  /** Override in seconds, or null: the global RETENTION applies. */
  retentionSeconds: number | null;
  stored: number;
  bytes: number;
  oldestSeq: number | null;
  newestSeq: number | null;
  expired: number;
  expiredThrough: number;
}

type Row = {
  name: string;
  retention_seconds: string | null;
  stored: string;
  bytes: string | null;
  oldest: string | null;
  newest: string | null;
  expired: string;
  expired_through: string;
};

const toStorage = (row: Row): TopicStorage => ({
  topic: row.name,
  retentionSeconds: row.retention_seconds === null ? null : Number(row.retention_seconds),
  stored: Number(row.stored),
  bytes: Number(row.bytes ?? 0),
  oldestSeq: row.oldest === null ? null : Number(row.oldest),
  newestSeq: row.newest === null ? null : Number(row.newest),
  expired: Number(row.expired),
  expiredThrough: Number(row.expired_through),
});

/** Every topic (or one), with what its events occupy now. */
export async function readTopicStorage(sql: Sql, only?: string): Promise<TopicStorage[]> {
  const rows = await sql<Row[]>`
    SELECT t.name, t.retention_seconds, t.expired, t.expired_through, s.stored, s.bytes, s.oldest, s.newest
    FROM topics AS t
    CROSS JOIN LATERAL (
      SELECT count(*) AS stored, sum(pg_column_size(e.*)) AS bytes, min(e.seq) AS oldest, max(e.seq) AS newest
      FROM events AS e WHERE e.topic = t.name
    ) AS s
    WHERE ${only === undefined ? sql`true` : sql`t.name = ${only}`}
    ORDER BY t.name
  `;
  return rows.map(toStorage);
}

/**
 * Sets (or with null clears) a topic's retention. A topic without events yet gets its row now,
 * so its first events already take the override. It applies to events applied from now on;
 * those stored earlier keep the deadline they were stored with.
 */
export async function setTopicRetention(sql: Sql, topic: string, retentionSeconds: number | null): Promise<void> {
  await sql`
    INSERT INTO topics (name, retention_seconds) VALUES (${topic}, ${retentionSeconds})
    ON CONFLICT (name) DO UPDATE SET retention_seconds = excluded.retention_seconds
  `;
}

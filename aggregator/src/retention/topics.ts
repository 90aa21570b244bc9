/**
 * Per-topic storage as GET /topics reports it, and the retention override PUT /topics sets.
 *
 * The listing counts and sizes each topic's stored events exactly (an index scan and a heap
 * visit per event: about a second per million events). It is an admin view, not a hot path.
 */
import type { Sql } from '../db/client';
import { MAINTENANCE_LOCK_KEY } from './maintenance';

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

/**
 * Removes a topic: its stored events and its `topics` row (retention override, expiry counts),
 * in one transaction. What the topic counted moves to counters shard 0 (`deleted`, `expired`) so
 * /stats stays exact. Dedup keys stay: they leave with their generation after DEDUP_WINDOW like
 * every key, so a copy of a deleted event published again within the window is still a
 * duplicate (a late retry must not bring back what was deleted). Events still pending in the
 * inbox are applied afterwards and start the topic again. Null when the topic does not exist.
 */
export async function deleteTopic(sql: Sql, topic: string): Promise<{ deleted: number } | null> {
  // The maintenance lock first: a volume fold (stream-minutes.ts) that read the topic's events
  // before this commits would otherwise write their counts back after it.
  const [row] = await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MAINTENANCE_LOCK_KEY})`;
    return tx<{ existed: boolean; deleted: string }[]>`
    WITH gone AS (
      DELETE FROM topics WHERE name = ${topic} RETURNING expired
    ), removed AS (
      DELETE FROM events WHERE topic = ${topic} RETURNING 1
    ), unrolled AS (
      -- Its log volume counts (migration 0012) go with the events they counted.
      DELETE FROM stream_minutes WHERE topic = ${topic}
    ), counted AS (
      SELECT (SELECT count(*) FROM removed) AS deleted, (SELECT coalesce(sum(expired), 0) FROM gone) AS expired
    )
    UPDATE counters AS c SET deleted = c.deleted + n.deleted, expired = c.expired + n.expired
    FROM counted AS n
    WHERE c.shard = 0
    RETURNING EXISTS (SELECT 1 FROM gone) OR n.deleted > 0 AS existed, n.deleted
  `;
  });
  return row?.existed ? { deleted: Number(row.deleted) } : null;
}

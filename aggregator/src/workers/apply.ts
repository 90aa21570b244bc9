/**
 * Moves one batch of a leased partition from the inbox into events, in one statement.
 *
 * - Claim: the partition's oldest inbox rows, up to about `batchSize` events and `claimBytes`
 *   payload bytes (the first row always, so a large row is never stuck; split.ts makes a row
 *   that keeps failing smaller), deleted as they are read (DELETE … RETURNING), so a crash
 *   before commit leaves them in the inbox untouched.
 * - Dedup: INSERT … ON CONFLICT ON CONSTRAINT events_topic_event_id_key DO NOTHING, in
 *   (inbox id, position) order, so of several copies the lowest inbox id is stored; the lease
 *   guarantees no other transaction applies this topic meanwhile (see lease.ts).
 * - Seq: drawn from events_seq while the lease is held, so it commits in order per topic.
 * - Counts: unique and duplicate totals move in the same transaction as the rows, on the
 *   partition's own counter row, so /stats never sees an event in two places or none.
 */
import type { Queryable } from '../db/client';
import { applyShard } from '../db/schema';

export interface Applied {
  /** Events taken from the inbox. */
  events: number;
  /** Of those, newly stored (the rest were duplicates). */
  unique: number;
}

export async function applyBatch(tx: Queryable, part: number, batchSize: number, claimBytes: number): Promise<Applied> {
  const [row] = await tx<{ events: number; stored: number }[]>`
    WITH claimed AS (
      DELETE FROM inbox
      WHERE part = ${part}
        AND id <= (
          SELECT max(id) FROM (
            SELECT id, sum(n) OVER (ORDER BY id) - n AS before, sum(bytes) OVER (ORDER BY id) - bytes AS before_bytes
            FROM inbox
            WHERE part = ${part}
            ORDER BY id
            LIMIT 1000
          ) AS oldest
          WHERE before < ${batchSize} AND before_bytes < ${claimBytes}
        )
      RETURNING id, topics, event_ids, timestamps, sources, payloads
    ),
    items AS (
      SELECT c.id, e.ord, e.topic, e.event_id, e."timestamp", e.source, e.payload
      FROM claimed AS c,
        unnest(c.topics, c.event_ids, c.timestamps, c.sources, c.payloads)
          WITH ORDINALITY AS e(topic, event_id, "timestamp", source, payload, ord)
    ),
    inserted AS (
      INSERT INTO events (topic, event_id, "timestamp", source, payload)
      SELECT topic, event_id, "timestamp", source, payload
      FROM items
      ORDER BY id, ord
      ON CONFLICT ON CONSTRAINT events_topic_event_id_key DO NOTHING
      RETURNING topic
    ),
    totals AS (
      SELECT (SELECT count(*) FROM items) AS events, (SELECT count(*) FROM inserted) AS stored
    ),
    counted AS (
      UPDATE counters
      SET unique_processed = unique_processed + totals.stored,
          duplicate_dropped = duplicate_dropped + (totals.events - totals.stored)
      FROM totals
      WHERE shard = ${applyShard(part)}
    ),
    new_topics AS (
      INSERT INTO topics (name)
      SELECT DISTINCT topic FROM inserted
      ON CONFLICT (name) DO NOTHING
    )
    SELECT events::int AS events, stored::int AS stored FROM totals
  `;
  return { events: row?.events ?? 0, unique: row?.stored ?? 0 };
}

/**
 * The apply statement and schema before retention (commit bfa563c: one unpartitioned `events`
 * table deduplicated by its UNIQUE (topic, event_id)), kept so the retention scenario can measure
 * today's layout and the partitioned one side by side on the same server.
 */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type postgres from 'postgres';
import { MIGRATIONS_FOLDER } from '../../aggregator/src/db/migrate';
import { applyShard } from '../../aggregator/src/db/schema';

/** A copy of the migrations folder that stops before the retention layout (0006). */
export function legacyMigrations(): string {
  const folder = mkdtempSync(join(tmpdir(), 'logbus-legacy-migrations-'));
  cpSync(MIGRATIONS_FOLDER, folder, { recursive: true });
  const journalPath = join(folder, 'meta', '_journal.json');
  const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { tag: string }[] };
  journal.entries = journal.entries.slice(
    0,
    journal.entries.findIndex((e) => e.tag === '0006_retention'),
  );
  writeFileSync(journalPath, JSON.stringify(journal));
  return folder;
}

/** The lease of that layout (the table was renamed inbox_leases by migration 0008). */
export async function legacyLeasePartition(tx: postgres.TransactionSql): Promise<number | null> {
  const [row] = await tx<{ part: number }[]>`
    SELECT p.part
    FROM inbox_partitions AS p
    WHERE EXISTS (SELECT 1 FROM inbox AS i WHERE i.part = p.part)
    ORDER BY (SELECT min(i.id) FROM inbox AS i WHERE i.part = p.part)
    LIMIT 1
    FOR UPDATE OF p SKIP LOCKED
  `;
  return row ? row.part : null;
}

export async function legacyApplyBatch(tx: postgres.TransactionSql, part: number, batchSize: number): Promise<{ events: number; unique: number }> {
  const [row] = await tx<{ events: number; stored: number }[]>`
    WITH claimed AS (
      DELETE FROM inbox
      WHERE part = ${part}
        AND id <= (
          SELECT max(id) FROM (
            SELECT id, sum(n) OVER (ORDER BY id) - n AS before
            FROM inbox
            WHERE part = ${part}
            ORDER BY id
            LIMIT 1000
          ) AS oldest
          WHERE before < ${batchSize}
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

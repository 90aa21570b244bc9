/**
 * Removes one partition of `events`: its events expire together, counted per topic.
 *
 * Counting happens before the drop, outside the lock, so the lock is held for catalog work only
 * (milliseconds, not a scan of a million rows). That count is exact only if no transaction can
 * still add rows to the partition: the apply writes expires_at = now() + retention with now() its
 * transaction's start, so a partition whose deadlines end at `upper` receives rows only from
 * transactions that started before `upper - minRetention`. `closedFor` checks that none of those
 * is still running; afterwards none can start.
 *
 * The drop, the partition's log volume counts, the topics' `expired` counts and
 * `expired_through` watermarks commit together, so
 * every snapshot satisfies stored == unique_processed - expired, and a reader told "expired up
 * to seq S" finds no event at or below S of that topic.
 */
import type postgres from 'postgres';
import { tableName, withShortLocks } from './ddl';
import type { EventPartition } from './partitions';

export interface TopicCount {
  topic: string;
  events: number;
  lastSeq: number;
}

/**
 * True when no aggregator transaction that started before `cutoff` (epoch ms) is still running:
 * no transaction can add rows whose deadline is before cutoff + minRetention any more.
 */
export async function closedFor(sql: postgres.Sql, cutoff: number): Promise<boolean> {
  const [row] = await sql<{ open: number }[]>`
    SELECT count(*)::int AS open
    FROM pg_stat_activity
    WHERE datname = current_database()
      AND application_name = 'logbus-aggregator'
      AND pid <> pg_backend_pid()
      AND xact_start < ${new Date(cutoff)}
  `;
  return row!.open === 0;
}

export async function countPartition(sql: postgres.Sql, name: string): Promise<TopicCount[]> {
  const rows = await sql.unsafe<{ topic: string; events: string; last_seq: string }[]>(
    `SELECT topic, count(*) AS events, max(seq) AS last_seq FROM ${tableName(name)} GROUP BY topic`,
  );
  return rows.map((row) => ({ topic: row.topic, events: Number(row.events), lastSeq: Number(row.last_seq) }));
}

/**
 * Drops `partition` and records its counts, in one transaction. Returns how long the successful
 * attempt took from BEGIN to COMMIT: the longest anything queued behind its lock could wait.
 */
export async function dropEventPartition(sql: postgres.Sql, partition: EventPartition, counts: TopicCount[]): Promise<number> {
  let began = 0;
  await withShortLocks(sql, async (tx) => {
    began = performance.now();
    await tx.unsafe(`DROP TABLE ${tableName(partition.name)}`);
    await tx`DELETE FROM event_partitions WHERE name = ${partition.name}`;
    // The log volume counts of its events (migration 0012) are keyed by the partition's bound.
    await tx`DELETE FROM stream_minutes WHERE expires_lower = ${new Date(partition.lower)}`;
    if (counts.length > 0) {
      await tx`
        UPDATE topics AS t
        SET expired = t.expired + c.events,
          -- Seq is drawn at ingest and partitions apply in any order, so a kept event (applied
          -- later, a later deadline) can have a lower seq than a dropped one: the watermark stops
          -- below it, keeping "nothing at or below expired_through is kept" true.
          expired_through = greatest(
            t.expired_through,
            coalesce((SELECT min(e.seq) - 1 FROM events AS e WHERE e.topic = c.topic AND e.seq <= c.last_seq), c.last_seq)
          )
        FROM unnest(${counts.map((c) => c.topic)}::text[], ${counts.map((c) => c.events)}::bigint[], ${counts.map((c) => c.lastSeq)}::bigint[])
          AS c(topic, events, last_seq)
        WHERE t.name = c.topic
      `;
    }
  });
  return performance.now() - began;
}

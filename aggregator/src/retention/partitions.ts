/**
 * The partitions of `events`, one per storage interval of deadlines (expires_at), created ahead
 * of time so every apply finds its partition. A partition is created empty with its index and
 * then ATTACHed: ATTACH PARTITION takes SHARE UPDATE EXCLUSIVE on `events`, which does not
 * conflict with the apply's inserts or with reads (CREATE TABLE … PARTITION OF would take ACCESS
 * EXCLUSIVE). Bounds are kept in `event_partitions`, written in the same transaction.
 */
import type postgres from 'postgres';
import { tableName, withShortLocks } from './ddl';

export interface EventPartition {
  name: string;
  /** Epoch ms, inclusive. */
  lower: number;
  /** Epoch ms, exclusive. */
  upper: number;
}

export async function listEventPartitions(sql: postgres.Sql): Promise<EventPartition[]> {
  const rows = await sql<{ name: string; lower: Date; upper: Date }[]>`SELECT name, lower, upper FROM event_partitions ORDER BY lower`;
  return rows.map((row) => ({ name: row.name, lower: row.lower.getTime(), upper: row.upper.getTime() }));
}

/**
 * The ranges of [from, to) that no partition covers, cut at multiples of `interval` (so
 * partitions line up whatever the replicas' start times). Pure.
 */
export function missingRanges(existing: readonly EventPartition[], from: number, to: number, interval: number): [number, number][] {
  const sorted = [...existing].sort((a, b) => a.lower - b.lower);
  const missing: [number, number][] = [];
  for (let start = Math.floor(from / interval) * interval; start < to; start += interval) {
    let cursor = start;
    const end = start + interval;
    for (const p of sorted) {
      if (p.upper <= cursor || p.lower >= end) continue;
      if (p.lower > cursor) missing.push([cursor, p.lower]);
      cursor = Math.max(cursor, p.upper);
      if (cursor >= end) break;
    }
    if (cursor < end) missing.push([cursor, end]);
  }
  return missing;
}

/**
 * The partitions whose every deadline has passed at `now`: a partition holds deadlines in
 * [lower, upper), so only `upper <= now` says all of them have; the rest wait (never early).
 */
export function pastDeadline(partitions: readonly EventPartition[], now: number): EventPartition[] {
  return partitions.filter((p) => p.upper <= now);
}

export const partitionName = (lower: number) => `events_p${lower}`;

/** Creates one empty partition for deadlines in [lower, upper). */
export async function createEventPartition(sql: postgres.Sql, lower: number, upper: number): Promise<void> {
  const name = tableName(partitionName(lower));
  await withShortLocks(sql, async (tx) => {
    await tx.unsafe(`CREATE TABLE ${name} (LIKE events)`);
    await tx.unsafe(`CREATE INDEX ON ${name} (topic, seq)`);
    await tx.unsafe(
      `ALTER TABLE events ATTACH PARTITION ${name} FOR VALUES FROM ('${new Date(lower).toISOString()}') TO ('${new Date(upper).toISOString()}')`,
    );
    await tx`INSERT INTO event_partitions (name, lower, upper) VALUES (${partitionName(lower)}, ${new Date(lower)}, ${new Date(upper)})`;
  });
}

/** Creates the partitions missing between `from` and `to`; returns how many. */
export async function ensureEventPartitions(sql: postgres.Sql, from: number, to: number, interval: number): Promise<number> {
  const missing = missingRanges(await listEventPartitions(sql), from, to, interval);
  for (const [lower, upper] of missing) await createEventPartition(sql, lower, upper);
  return missing.length;
}

/**
 * The partition and counter-shard counts are compiled in (schema.ts) and must match the rows a
 * migration created: a replica hashing topics over 16 partitions next to one using 32 would
 * send a topic's copies to different partitions (two transactions applying one topic at once:
 * seq out of commit order, the wrong copy stored) and write counter rows nobody sums. Every
 * replica compares its constants with the database before it serves, and again now and then
 * while it runs, so a layout changed under it (a newer version's migration) stops it too.
 */
import type { Queryable } from './client';
import { INGEST_SHARDS, PARTITION_COUNT } from './schema';

export class LayoutMismatch extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LayoutMismatch';
  }
}

interface Span {
  n: number;
  lo: number | null;
  hi: number | null;
}

const describe = ({ n, lo, hi }: Span) => (n === 0 ? 'no rows' : `${n} rows, ${lo}..${hi}`);
const exactly = ({ n, lo, hi }: Span, count: number) => n === count && lo === 0 && hi === count - 1;

/** Throws LayoutMismatch naming what differs; resolves when the database matches this build. */
export async function checkLayout(sql: Queryable, partitions = PARTITION_COUNT, ingestShards = INGEST_SHARDS): Promise<void> {
  const [row] = await sql<{ parts: Span; shards: Span }[]>`
    SELECT
      (SELECT json_build_object('n', count(*), 'lo', min(part), 'hi', max(part)) FROM inbox_leases) AS parts,
      (SELECT json_build_object('n', count(*), 'lo', min(shard), 'hi', max(shard)) FROM counters) AS shards
  `;
  const problems: string[] = [];
  if (!exactly(row!.parts, partitions)) {
    problems.push(`inbox_leases has ${describe(row!.parts)}; this build expects ${partitions} rows, 0..${partitions - 1} (PARTITION_COUNT)`);
  }
  const shards = ingestShards + partitions;
  if (!exactly(row!.shards, shards)) {
    problems.push(
      `counters has ${describe(row!.shards)}; this build expects ${shards} rows, 0..${shards - 1} (INGEST_SHARDS ${ingestShards} + PARTITION_COUNT ${partitions})`,
    );
  }
  if (problems.length > 0) {
    throw new LayoutMismatch(
      `database layout does not match this build, refusing to run (replicas of different layouts must never run together): ${problems.join('; ')}`,
    );
  }
}

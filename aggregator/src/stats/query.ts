/**
 * Totals across every replica and restart. One statement, hence one snapshot: publish moves an
 * event into `received` and `pending` in one commit, a worker moves it from `pending` to
 * unique or duplicate in one commit, so every answer satisfies
 * received == unique_processed + duplicate_dropped + pending.
 *
 * `expired` moves in the transaction that drops the events (retention/expire.ts), so the events
 * stored in that snapshot number unique_processed - expired - deleted (`deleted` and a deleted
 * topic's `expired` move to counters in the transaction of DELETE /topics).
 * Parked events (inbox_parked: acknowledged, failed to apply even alone) are part of pending.
 */
import type { Stats } from '../api/contract';
import type { Sql } from '../db/client';

/** /stats without the replica's own uptime. */
export type Totals = Omit<Stats, 'uptime'>;

export async function readTotals(sql: Sql): Promise<Totals> {
  const [row] = await sql<
    {
      received: string;
      unique_processed: string;
      duplicate_dropped: string;
      pending: string;
      parked: string;
      expired: string;
      deleted: string;
      topics: string[];
    }[]
  >`
    SELECT
      sum(received) AS received,
      sum(unique_processed) AS unique_processed,
      sum(duplicate_dropped) AS duplicate_dropped,
      (SELECT coalesce(sum(n), 0) FROM inbox) + (SELECT count(*) FROM inbox_parked) AS pending,
      (SELECT count(*) FROM inbox_parked) AS parked,
      (SELECT coalesce(sum(expired), 0) FROM topics) + sum(expired) AS expired,
      sum(deleted) AS deleted,
      (SELECT coalesce(array_agg(name ORDER BY name), '{}') FROM topics) AS topics
    FROM counters
  `;
  return {
    received: Number(row!.received),
    unique_processed: Number(row!.unique_processed),
    duplicate_dropped: Number(row!.duplicate_dropped),
    pending: Number(row!.pending),
    parked: Number(row!.parked),
    expired: Number(row!.expired),
    deleted: Number(row!.deleted),
    topics: row!.topics,
  };
}

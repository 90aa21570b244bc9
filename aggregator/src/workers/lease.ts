/**
 * Claims an inbox partition for the current transaction.
 *
 * Replicas and workers compete with FOR UPDATE SKIP LOCKED: a partition held by another worker is
 * skipped, never waited on. The row lock lasts until the apply transaction ends (commit, rollback,
 * or the connection dying), so a crashed worker's partition is free again at once. Among free
 * partitions with work, the one holding the oldest inbox row goes first, which bounds lag. One
 * index probe per partition finds both whether it has work and its oldest row (the head of its
 * (part, id) range, past the dead entries the claims leave): with a topic spread over every
 * partition all 32 have work, and an EXISTS probe plus a min() probe each cost twice that.
 */
import type { Queryable } from '../db/client';

/**
 * An apply transaction idle this long between its statements is ended by the server: its
 * replica is frozen or gone (its own statements follow each other within milliseconds; 4 s, not
 * less, so a replica starved of CPU on a loaded machine is not mistaken for a frozen one). Its
 * rows are the oldest waiting, which hold the read horizon (events/horizon.ts), so this bounds
 * how long a frozen replica's batch holds readers back. The session default (db/client.ts,
 * 30 s) still covers every other transaction.
 */
export const APPLY_IDLE_TIMEOUT_MS = 4_000;

export async function leasePartition(tx: Queryable): Promise<number | null> {
  const [row] = await tx<{ part: number }[]>`
    SELECT p.part, set_config('idle_in_transaction_session_timeout', ${String(APPLY_IDLE_TIMEOUT_MS)}, true) AS idle_timeout
    FROM inbox_leases AS p
    CROSS JOIN LATERAL (SELECT i.id FROM inbox AS i WHERE i.part = p.part ORDER BY i.id LIMIT 1) AS head
    ORDER BY head.id
    LIMIT 1
    FOR UPDATE OF p SKIP LOCKED
  `;
  return row ? row.part : null;
}

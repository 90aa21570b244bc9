/**
 * Splits the oldest inbox row of a leased partition in two, in place of applying it: the first
 * `k` events move to a new row with id (head id - 1), the rest stay. A batch that keeps failing
 * (a statement_timeout on a row of tens of thousands of events) is retried on the smaller
 * head, and apply.ts needs no special case: it claims whole rows, oldest first.
 *
 * Order is kept: the head holds the lowest id of its partition, so (head id - 1) is free there
 * (the key is (part, id)) and sorts before every other row of the partition; the first-ack
 * copy still goes first. The events keep their seqs, and both rows' ids stay at or below their
 * lowest seq, which the read horizon relies on (events/horizon.ts). The event counts move together (n and bytes of both rows sum to the
 * old ones), so /stats pending is unchanged. Caller holds the partition lease.
 */
import type { Queryable } from '../db/client';

export interface InboxHead {
  id: number;
  n: number;
}

/** The partition's oldest inbox row, or null when it has none. */
export async function readHead(tx: Queryable, part: number): Promise<InboxHead | null> {
  const [row] = await tx<{ id: string; n: number }[]>`SELECT id, n FROM inbox WHERE part = ${part} ORDER BY id LIMIT 1`;
  return row ? { id: Number(row.id), n: row.n } : null;
}

/** Moves the first `k` (1 <= k < n) events of head row `head` into a row just before it. */
export async function carveHead(tx: Queryable, part: number, head: InboxHead, k: number): Promise<void> {
  await tx`
    WITH piece AS (
      INSERT INTO inbox (part, id, n, bytes, topics, event_ids, timestamps, sources, payloads, seqs, accepted_at)
      SELECT part, id - 1, ${k},
        (SELECT coalesce(sum(octet_length(p::text)), 0) FROM unnest(payloads[1:${k}]) AS p),
        topics[1:${k}], event_ids[1:${k}], timestamps[1:${k}], sources[1:${k}], payloads[1:${k}], seqs[1:${k}], accepted_at
      FROM inbox
      WHERE part = ${part} AND id = ${head.id}
      RETURNING bytes
    )
    UPDATE inbox
    SET n = n - ${k},
        bytes = bytes - (SELECT bytes FROM piece),
        topics = topics[${k + 1}:], event_ids = event_ids[${k + 1}:], timestamps = timestamps[${k + 1}:],
        sources = sources[${k + 1}:], payloads = payloads[${k + 1}:], seqs = seqs[${k + 1}:]
    WHERE part = ${part} AND id = ${head.id}
  `;
}

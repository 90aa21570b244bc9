/**
 * Gives parked events another chance. A cause that made an event fail alone may be temporary (a
 * constraint added by mistake, a trigger since fixed): events parked for at least `afterMs` go
 * back to the end of their partition's inbox, with a new seq: readers may have passed the old
 * one (a parked event does not hold the read horizon), so a re-queued event is a new arrival.
 * If the cause persists, the split brings them down to one event again and they are parked
 * again; nothing is lost either way, and /stats pending is unchanged by the move (both tables
 * count as pending).
 *
 * SKIP LOCKED: replicas doing this at once move disjoint rows, each exactly once.
 */
import type { Queryable } from '../db/client';
import { takeDrawerLock } from '../events/horizon';

/** Moves due parked events back into the inbox (one row each); returns how many moved. */
export async function requeueParked(sql: Queryable, afterMs: number): Promise<number> {
  const rows = await sql`
    WITH locked AS MATERIALIZED (SELECT ${takeDrawerLock(sql)} IS NOT NULL AS ok),
    due AS (
      DELETE FROM inbox_parked
      WHERE id IN (
        SELECT id FROM inbox_parked
        WHERE parked_at <= now() - make_interval(secs => ${afterMs / 1000}) AND (SELECT ok FROM locked)
        ORDER BY id
        LIMIT 1000
        FOR UPDATE SKIP LOCKED
      )
      RETURNING id, part, topic, event_id, "timestamp", source, payload
    )
    INSERT INTO inbox (part, id, n, bytes, topics, event_ids, timestamps, sources, payloads, seqs)
    SELECT part, seq, 1, octet_length(payload::text), ARRAY[topic], ARRAY[event_id], ARRAY["timestamp"], ARRAY[source], ARRAY[payload], ARRAY[seq]
    FROM (
      -- due reads locked first: the drawer lock is held before the first seq is drawn
      -- (events/horizon.ts); nextval is computed after the sort, in parked order.
      SELECT due.*, nextval('events_seq') AS seq FROM due ORDER BY id
    ) AS renumbered
    RETURNING part
  `;
  return rows.length;
}

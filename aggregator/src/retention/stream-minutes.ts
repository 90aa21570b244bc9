/**
 * Folds stored events into the log volume counts (`stream_minutes`, migration 0012), in seq
 * order, outside the apply: the apply pays nothing for the rollups.
 *
 * One statement counts the events with `through` < seq <= upto, upto below the read horizon,
 * and moves `through` to upto: below the horizon no event can appear any more, so a folded seq
 * range is final and every stored event is counted once. The events are found per topic on
 * (topic, seq) (`events_topic_seq_idx`); every applied event's topic is in `topics`, written
 * in its apply transaction. Callers hold the maintenance lock, so folds never run at once and a
 * partition is never dropped under one (its rows leave with it, retention/expire.ts).
 */
import type postgres from 'postgres';
import type { Sql } from '../db/client';
import { type HorizonBound, horizonCte } from '../events/horizon';

/** Seqs one statement folds at most: a few hundred milliseconds of work, so a tick stays short. */
export const FOLD_SPAN = 100_000;

export interface FoldResult {
  /** Every event with a seq at or below this is counted. */
  through: number;
  /** false: events below the horizon were left for the next statement (FOLD_SPAN). */
  caughtUp: boolean;
}

/** Folds the next span of events below the horizon of `bound`. */
export async function foldStreamMinutes(sql: postgres.Sql, bound: HorizonBound, span = FOLD_SPAN): Promise<FoldResult> {
  const [row] = await sql<{ through: string; caught_up: boolean }[]>`
    WITH ${horizonCte(sql as unknown as Sql, bound)},
    mark AS MATERIALIZED (
      SELECT through, least((SELECT h FROM horizon) - 1, through + ${span}::int8) AS upto FROM stream_minutes_folded
    ),
    counted AS (
      INSERT INTO stream_minutes AS m (topic, minute, source, shape, levels, expires_lower, events, bytes)
      SELECT g.topic, g.minute, g.source, g.shape, g.levels,
        coalesce((SELECT p.lower FROM event_partitions AS p WHERE g.expires_at >= p.lower AND g.expires_at < p.upper), 'infinity'),
        sum(g.events), CASE WHEN bool_and(g.bytes IS NOT NULL) THEN sum(g.bytes) END
      FROM (
        SELECT e.topic, s.minute, e.source, s.shape, s.levels, e.expires_at, count(*) AS events,
          CASE WHEN count(s.line_bytes) = count(*) THEN sum(s.line_bytes) END AS bytes
        FROM events AS e
          CROSS JOIN LATERAL logbus_stream_of(e.payload, e."timestamp") AS s
        WHERE e.topic = ANY(ARRAY(SELECT name FROM topics))
          AND e.seq > (SELECT through FROM mark) AND e.seq <= (SELECT upto FROM mark)
        GROUP BY 1, 2, 3, 4, 5, 6
      ) AS g
      GROUP BY 1, 2, 3, 4, 5, 6
      ON CONFLICT (topic, minute, source, shape, levels, expires_lower)
      DO UPDATE SET events = m.events + excluded.events, bytes = m.bytes + excluded.bytes
    ),
    moved AS (
      UPDATE stream_minutes_folded SET through = (SELECT upto FROM mark) WHERE (SELECT upto FROM mark) > through
    )
    SELECT greatest(through, upto)::text AS through, upto >= (SELECT h FROM horizon) - 1 AS caught_up FROM mark`;
  return { through: Number(row!.through), caughtUp: row!.caught_up };
}

/**
 * Events waiting in the inbox above which the fold yields to the apply: under a load the workers
 * cannot keep up with, the fold waits (volume queries read more events live meanwhile, still
 * exact) and catches up once the backlog is applied.
 */
export const FOLD_YIELD_PENDING = 10_000;

/**
 * Folds span after span until caught up with the horizon, `budgetMs` has passed, or more than
 * `yieldPending` events wait in the inbox (null: the fold yielded before its first span).
 */
export async function foldStreamMinutesFor(
  sql: postgres.Sql,
  bound: HorizonBound,
  budgetMs: number,
  yieldPending = Number.POSITIVE_INFINITY,
): Promise<FoldResult | null> {
  const started = performance.now();
  let result: FoldResult | null = null;
  for (;;) {
    if (Number.isFinite(yieldPending)) {
      const [inbox] = await sql<{ behind: boolean }[]>`SELECT coalesce(sum(n), 0) > ${yieldPending} AS behind FROM inbox`;
      if (inbox!.behind) return result;
    }
    result = await foldStreamMinutes(sql, bound);
    if (result.caughtUp || performance.now() - started >= budgetMs) return result;
  }
}

/**
 * Deletes the counts of partitions that no longer exist: a release before 0012 drops partitions
 * without them (its replicas run beside this one during a rolling update or after a rollback).
 * Run once per process start, under the maintenance lock.
 */
export async function dropOrphanStreamMinutes(sql: postgres.Sql): Promise<number> {
  const rows = await sql`
    DELETE FROM stream_minutes AS m
    WHERE m.expires_lower <> 'infinity' AND NOT EXISTS (SELECT 1 FROM event_partitions AS p WHERE p.lower = m.expires_lower)`;
  return rows.count;
}

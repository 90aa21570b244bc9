/**
 * Events stored per topic, for the dashboard, without counting the events table on every poll.
 *
 * Below the read horizon nothing new can appear (events/horizon.ts: a reader that saw seq S never
 * later sees a new event of that topic below S), and events leave only by retention, which
 * adds them to `topics.expired` in the same transaction. So the count of a topic is exact when
 * kept incrementally: remember (last seq, count, expired) per topic and each refresh counts only
 * `last < seq < horizon` (an index range scan on (topic, seq) that is empty when nothing happened) and
 * subtracts what expired since, both from one snapshot. (An event applied and expired between
 * two refreshes, i.e. a retention shorter than the gap between dashboard polls, would be
 * subtracted without having been added.) The first refresh of a process counts everything once.
 */
import type { Sql } from '../db/client';
import { type ReadHorizon, horizonCte } from '../events/horizon';

/** Topics counted, by name; the dashboard shows the largest of them. */
export const MAX_TOPICS = 1000;

/** Answers within this long are served from memory: several open dashboards cost one query. */
const FRESH_MS = 500;

export interface TopicCount {
  topic: string;
  events: number;
  /** The topic's highest seq: a live tail starts after it. */
  last_seq: number | null;
}

export interface TopicCounts {
  topics: TopicCount[];
  /** More topics exist than MAX_TOPICS; the rest are not counted. */
  truncated: boolean;
}

export class TopicCounter {
  private readonly known = new Map<string, { last: number; events: number; expired: number; created: string }>();
  private inflight: Promise<TopicCounts> | null = null;
  private cached: { at: number; counts: TopicCounts } | null = null;

  constructor(
    private readonly sql: Sql,
    private readonly horizon: ReadHorizon,
  ) {}

  /** Current counts; concurrent callers share one refresh, so no delta is added twice. */
  read(): Promise<TopicCounts> {
    if (this.cached && Date.now() - this.cached.at < FRESH_MS) return Promise.resolve(this.cached.counts);
    this.inflight ??= this.refresh()
      .then((counts) => {
        this.cached = { at: Date.now(), counts };
        return counts;
      })
      .finally(() => {
        this.inflight = null;
      });
    return this.inflight;
  }

  private async refresh(): Promise<TopicCounts> {
    const names = [...this.known.keys()];
    const afters = names.map((name) => this.known.get(name)!.last);
    const createds = names.map((name) => this.known.get(name)!.created);
    const bound = await this.horizon.current();
    const rows = await this.sql<{ topic: string; added: string; last: string | null; expired: string; created: string; more: boolean }[]>`
      WITH ${horizonCte(this.sql, bound)},
      listed AS (
        SELECT name, expired, created_at FROM topics ORDER BY name LIMIT ${MAX_TOPICS + 1}
      )
      SELECT l.name AS topic, c.added, c.last, l.expired, l.created_at::text AS created, (SELECT count(*) FROM listed) > ${MAX_TOPICS} AS more
      FROM (SELECT name, expired, created_at FROM listed ORDER BY name LIMIT ${MAX_TOPICS}) AS l
      LEFT JOIN unnest(${names}::text[], ${afters}::int8[], ${createds}::text[]) AS k(name, after, created)
        ON k.name = l.name AND k.created = l.created_at::text
      CROSS JOIN LATERAL (
        SELECT count(*) AS added, max(e.seq) AS last
        FROM events AS e
        WHERE e.topic = l.name AND e.seq > coalesce(k.after, 0) AND e.seq < (SELECT h FROM horizon)
      ) AS c
    `;
    const topics: TopicCount[] = [];
    for (const row of rows) {
      // A topic seen for the first time is counted whole: what expired before is not in it. One
      // deleted (DELETE /topics) and begun again has a new row: counted whole again.
      const seen = this.known.get(row.topic);
      const entry = seen?.created === row.created ? seen : { last: 0, events: 0, expired: Number(row.expired), created: row.created };
      entry.events += Number(row.added) - (Number(row.expired) - entry.expired);
      entry.expired = Number(row.expired);
      if (row.last !== null) entry.last = Number(row.last);
      this.known.set(row.topic, entry);
      topics.push({ topic: row.topic, events: entry.events, last_seq: entry.last || null });
    }
    return { topics, truncated: rows[0]?.more ?? false };
  }
}

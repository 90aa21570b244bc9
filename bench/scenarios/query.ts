/**
 * Scenario: the Loki query API (aggregator/src/query, docs/QUERY.md) over `queryRows` stored
 * events (the issue asks for 10,000,000, the scale scenario's size; --query-rows sets it),
 * bulk-loaded as /publish events spread evenly over the last 24 hours, 1% of each topic's
 * events with "timeout" in the line and 1% at level error; then folded into the log volume
 * counts at once (what maintenance does over the following minutes; retention/stream-minutes.ts).
 * Sequential reads, one in flight:
 * - logs: the newest 1,000 lines of one topic matching `|= "timeout"` over the last hour;
 * - volume: `sum by (level) (count_over_time({topic=...}[1m]))` over 24 hours, step 1 minute,
 *   start on a whole minute as a step-aligned client sends it (what the rollups answer);
 * - grafana: Grafana's log volume query, `sum by (level, detected_level) (count_over_time(
 *   {topic=...} | drop __error__ [1m]))`, the same range;
 * - no topic: `{source="publisher-1"} |= "timeout"` over the last hour (no target; measured);
 * then the aggregator's peak RSS under 8 concurrent volume queries. And the fold's cost to
 * ingest: the same unthrottled publish load on a fresh database with the fold running and with
 * it held off (the bench holds the maintenance lock), side by side in each run.
 */
import postgres from 'postgres';
import { MAINTENANCE_LOCK_KEY } from '../../aggregator/src/retention/maintenance';
import { foldStreamMinutesFor } from '../../aggregator/src/retention/stream-minutes';
import { type BatchPool, topicNames } from '../lib/generate';
import { runLoad } from '../lib/http-load';
import { rssBytes } from '../lib/proc';
import { type Context, recordMachine, ScenarioResult } from '../lib/scenario';
import { latency } from '../lib/summary';
import { waitDrained } from '../lib/stats';

const CHUNK = 1_000_000;
const DAY_MS = 86_400_000;

export function queryResult(ctx: Context): ScenarioResult {
  const rows = ctx.options.queryRows.toLocaleString('en-US');
  return new ScenarioResult('query', `Loki query API over ${rows} stored events (24 h)`, [
    { key: 'logs_p50', label: 'newest 1,000 lines of a topic, |= 1% over 1 h: p50', unit: 'ms' },
    { key: 'logs_p99', label: 'newest 1,000 lines of a topic, |= 1% over 1 h: p99', unit: 'ms' },
    { key: 'volume_p50', label: 'sum by (level) (count_over_time [1m]) of a topic over 24 h: p50', unit: 'ms' },
    { key: 'volume_p99', label: 'sum by (level) (count_over_time [1m]) of a topic over 24 h: p99', unit: 'ms' },
    { key: 'grafana_p50', label: 'Grafana volume query (by level, detected_level) over 24 h: p50', unit: 'ms' },
    { key: 'grafana_p99', label: 'Grafana volume query (by level, detected_level) over 24 h: p99', unit: 'ms' },
    { key: 'notopic_p50', label: 'selector without topic, |= 1% over 1 h: p50', unit: 'ms' },
    { key: 'notopic_p99', label: 'selector without topic, |= 1% over 1 h: p99', unit: 'ms' },
    { key: 'timeouts', label: 'reads refused for the 30 s query time limit (all kinds)', unit: 'n' },
    { key: 'rss_peak', label: 'aggregator peak RSS under 8 concurrent volume queries', unit: 'MB' },
    { key: 'ingest_without', label: 'publish rate with the volume fold held off', unit: 'ev/s' },
    { key: 'ingest_with', label: 'publish rate with the volume fold running', unit: 'ev/s' },
    { key: 'ingest_ratio', label: 'publish rate with / without the volume fold', unit: 'x' },
    { key: 'bulk_load', label: 'bulk load time', unit: 's' },
    { key: 'fold', label: 'folding the bulk load into the volume counts', unit: 's' },
  ]);
}

/** `rows` /publish-shaped events over the topics, evenly over the 24 hours before now. */
async function loadEvents(sql: postgres.Sql, rows: number, topics: number, log: (line: string) => void): Promise<void> {
  const [seq] = await sql<{ first: string }[]>`SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END AS first FROM events_seq`;
  const start = Number(seq!.first);
  const stepMs = DAY_MS / rows;
  for (let from = 0; from < rows; from += CHUNK) {
    const to = Math.min(rows, from + CHUNK) - 1;
    await sql`
      INSERT INTO events (topic, seq, event_id, "timestamp", source, payload, expires_at)
      SELECT 'topic-' || (g % ${topics}), ${start}::int8 + g, 'q-' || g,
        now() - interval '1 day' + (g * ${stepMs}::float8) * interval '1 ms', 'publisher-' || (g % 4),
        json_build_object('level', CASE WHEN (g / ${topics}) % 100 = 3 THEN 'error' ELSE 'info' END,
          'message', CASE WHEN (g / ${topics}) % 100 = 7 THEN 'upstream timeout' ELSE 'request served' END, 'latency_ms', g % 2000),
        now() + interval '6 days'
      FROM generate_series(${from}::bigint, ${to}::bigint) AS g`;
    log(`query: loaded ${(to + 1).toLocaleString('en-US')} of ${rows.toLocaleString('en-US')} rows`);
  }
  await sql`SELECT setval('events_seq', ${start + rows})`;
  await sql`INSERT INTO topics (name) SELECT unnest(${topicNames(topics)}::text[]) ON CONFLICT DO NOTHING`;
  await sql`VACUUM (ANALYZE) events`;
}

/**
 * Folds every loaded event into the log volume counts under the maintenance lock (the
 * replica's own fold waits meanwhile). The horizon bound is the load's: no seq is drawn by
 * anything else during it.
 */
async function foldLoad(url: string, sealed: number): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql`SELECT pg_advisory_lock(${MAINTENANCE_LOCK_KEY})`;
    await foldStreamMinutesFor(sql, { sealed, server: null }, Number.POSITIVE_INFINITY);
    await sql`VACUUM (ANALYZE) stream_minutes`;
  } finally {
    await sql.end();
  }
}

/**
 * Each read's latency in ms, one in flight. A read refused for the query time limit (400 "query
 * timed out") is a result, not a failure: it is counted and its time kept (at least the limit).
 */
async function timedQueries(url: string, paths: string[]): Promise<{ times: number[]; timeouts: number }> {
  const times: number[] = [];
  let timeouts = 0;
  for (const path of paths) {
    const started = performance.now();
    const response = await fetch(`${url}${path}`);
    const body = await response.text();
    if (response.status === 400 && body.startsWith('query timed out')) timeouts++;
    else if (response.status !== 200) throw new Error(`${path}: ${response.status} ${body.slice(0, 200)}`);
    times.push(performance.now() - started);
  }
  return { times, timeouts };
}

const rangePath = (params: Record<string, string>) => `/loki/api/v1/query_range?${new URLSearchParams(params)}`;

/**
 * Publish events/s of an unthrottled load on a fresh database, with the volume fold running or
 * held off: the bench holds the maintenance lock, which the fold needs (the other maintenance
 * runs once a minute and has made its partitions ahead at start).
 */
async function ingestRate(ctx: Context, pool: BatchPool, withFold: boolean): Promise<number> {
  const measured = await ctx.withAggregators(`query_ingest_${withFold ? 'with' : 'without'}`, async ({ aggregators, sql }) => {
    const holder = withFold ? null : await sql.reserve();
    if (holder) await holder`SELECT pg_advisory_lock(${MAINTENANCE_LOCK_KEY})`;
    const load = await runLoad({
      urls: aggregators.urls,
      connections: ctx.options.connections,
      seconds: ctx.options.seconds,
      pool,
      cursor: { next: 0 },
    });
    await waitDrained(aggregators.urls[0]!, ctx.options.drainTimeoutSeconds * 1000, load.endedAt);
    if (holder) {
      await holder`SELECT pg_advisory_unlock(${MAINTENANCE_LOCK_KEY})`;
      holder.release();
    }
    return load.okEvents / load.seconds;
  });
  return measured.value;
}

export async function runQuery(ctx: Context, result: ScenarioResult, pool: BatchPool): Promise<void> {
  const { options } = ctx;
  const measured = await ctx.withAggregators('query', async ({ aggregators, sql, url: databaseUrl }) => {
    const started = performance.now();
    await loadEvents(sql, options.queryRows, options.topics, ctx.log);
    const bulkSeconds = (performance.now() - started) / 1000;
    const folding = performance.now();
    const [last] = await sql<{ seq: string }[]>`SELECT last_value::text AS seq FROM events_seq`;
    await foldLoad(databaseUrl, Number(last!.seq));
    const foldSeconds = (performance.now() - folding) / 1000;
    ctx.log(`query: folded the load into the volume counts in ${foldSeconds.toFixed(0)} s`);
    await ctx.server.admin`CHECKPOINT`;
    const url = aggregators.urls[0]!;
    const nowNs = () => (BigInt(Date.now()) * 1_000_000n).toString();
    const hourAgo = () => (BigInt(Date.now() - 3_600_000) * 1_000_000n).toString();
    // The volume queries start on a whole minute, as a step-aligned client sends them (an
    // unaligned start cuts minute buckets and reads the events instead: docs/QUERY.md).
    const minuteDayAgo = () => (BigInt(Math.floor((Date.now() - DAY_MS) / 60_000) * 60_000) * 1_000_000n).toString();
    const [topic] = topicNames(options.topics);
    const logs = () => rangePath({ query: `{topic="${topic}"} |= "timeout"`, start: hourAgo(), end: nowNs(), limit: '1000' });
    const volume = () =>
      rangePath({ query: `sum by (level) (count_over_time({topic="${topic}"}[1m]))`, start: minuteDayAgo(), end: nowNs(), step: '60s' });
    const grafana = () =>
      rangePath({
        query: `sum by (level, detected_level) (count_over_time({topic="${topic}"} | drop __error__ [1m]))`,
        start: minuteDayAgo(),
        end: nowNs(),
        step: '60s',
      });
    const noTopic = () => rangePath({ query: '{source="publisher-1"} |= "timeout"', start: hourAgo(), end: nowNs(), limit: '1000' });
    // Warm-up: the first requests of a fresh process run unoptimised.
    await timedQueries(url, [logs(), volume(), grafana(), noTopic()]);
    const runs = [];
    for (let r = 0; r < options.runs; r++) {
      const paths = (make: () => string) => Array.from({ length: options.queryReads }, make);
      const measure = async (name: string, make: () => string) => {
        const { times, timeouts } = await timedQueries(url, paths(make));
        const figures = latency(times);
        ctx.log(`query: run ${r + 1}: ${name} p50 ${figures.p50.toFixed(0)} ms, p99 ${figures.p99.toFixed(0)} ms, ${timeouts} timed out`);
        return { ...figures, timeouts };
      };
      const logsMs = await measure('logs', logs);
      const volumeMs = await measure('volume', volume);
      const grafanaMs = await measure('grafana', grafana);
      const noTopicMs = await measure('no topic', noTopic);
      let peak = 0;
      const sampler = setInterval(() => {
        for (const pid of aggregators.pids) peak = Math.max(peak, rssBytes(pid));
      }, 20);
      await Promise.all(Array.from({ length: 8 }, () => timedQueries(url, [volume()])));
      clearInterval(sampler);
      runs.push({ logsMs, volumeMs, grafanaMs, noTopicMs, peak });
      ctx.log(
        `query: run ${r + 1}: logs p50 ${logsMs.p50.toFixed(0)} ms, volume p50 ${volumeMs.p50.toFixed(0)} ms, no topic p50 ${noTopicMs.p50.toFixed(0)} ms`,
      );
    }
    return { runs, bulkSeconds, foldSeconds };
  });
  recordMachine(result, measured);
  for (const run of measured.value.runs) {
    const without = await ingestRate(ctx, pool, false);
    const withFold = await ingestRate(ctx, pool, true);
    ctx.log(`query: ingest with the fold held off ${without.toFixed(0)} ev/s, running ${withFold.toFixed(0)} ev/s`);
    result.runs.record({
      logs_p50: run.logsMs.p50,
      logs_p99: run.logsMs.p99,
      volume_p50: run.volumeMs.p50,
      volume_p99: run.volumeMs.p99,
      grafana_p50: run.grafanaMs.p50,
      grafana_p99: run.grafanaMs.p99,
      notopic_p50: run.noTopicMs.p50,
      notopic_p99: run.noTopicMs.p99,
      timeouts: run.logsMs.timeouts + run.volumeMs.timeouts + run.grafanaMs.timeouts + run.noTopicMs.timeouts,
      rss_peak: run.peak / 1024 / 1024,
      ingest_without: without,
      ingest_with: withFold,
      ingest_ratio: withFold / without,
      bulk_load: measured.value.bulkSeconds,
      fold: measured.value.foldSeconds,
    });
  }
}

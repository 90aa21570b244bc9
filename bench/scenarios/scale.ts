/**
 * Scenario 5: scale. Publish latency (at a fixed rate well under capacity, so it reflects table
 * size rather than queueing) and GET /events page latency, first with `scaleRows[0]` stored
 * events, then with `scaleRows[1]`, on the same database and aggregator. The rows are bulk-loaded
 * with generate_series straight into `events`, over the generator's topics, through the
 * aggregator's own indexes (inserted, not rebuilt, so the indexes look like ones grown by use).
 */
import type postgres from 'postgres';
import { type BatchPool, topicNames } from '../lib/generate';
import { runLoad } from '../lib/http-load';
import { cpuBetween, cpuSnapshot } from '../lib/proc';
import { type Context, recordMachine, ScenarioResult } from '../lib/scenario';
import { latency } from '../lib/summary';
import { waitDrained } from '../lib/stats';

const CHUNK = 1_000_000;
const PAGE = 100;

export function scaleResult(ctx: Context): ScenarioResult {
  const [small, large] = ctx.options.scaleRows.map((n) => n.toLocaleString('en-US'));
  const rows = [];
  for (const [key, size] of [
    ['small', small],
    ['large', large],
  ] as const) {
    rows.push(
      { key: `${key}_publish_p50`, label: `${size} stored: publish p50`, unit: 'ms' as const },
      { key: `${key}_publish_p99`, label: `${size} stored: publish p99`, unit: 'ms' as const },
      { key: `${key}_random_p50`, label: `${size} stored: GET /events at a random offset, p50`, unit: 'ms' as const },
      { key: `${key}_random_p99`, label: `${size} stored: GET /events at a random offset, p99`, unit: 'ms' as const },
      { key: `${key}_tail_p99`, label: `${size} stored: GET /events newest page, p99`, unit: 'ms' as const },
      { key: `${key}_other_cpu`, label: `${size} stored: other processes' CPU during the measurement`, unit: '%' as const },
    );
  }
  rows.push(
    { key: 'publish_ratio', label: 'publish p99, large / small', unit: 'x' as const },
    { key: 'random_ratio', label: 'GET /events random-offset p99, large / small', unit: 'x' as const },
    { key: 'tail_ratio', label: 'GET /events newest-page p99, large / small', unit: 'x' as const },
    { key: 'bulk_load', label: 'bulk load time (both stages)', unit: 's' as const },
  );
  return new ScenarioResult('scale', `Scale (${small} vs ${large} stored events)`, rows);
}

/** Appends `rows` events after the current end of events_seq, chunk by chunk. */
async function bulkLoad(sql: postgres.Sql, rows: number, topics: number, log: (line: string) => void): Promise<void> {
  const [seq] = await sql<{ first: string }[]>`SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END AS first FROM events_seq`;
  const start = Number(seq!.first);
  for (let from = start; from < start + rows; from += CHUNK) {
    const to = Math.min(start + rows, from + CHUNK) - 1;
    await sql`
      INSERT INTO events (topic, seq, event_id, "timestamp", source, payload, expires_at)
      SELECT 'topic-' || (g % ${topics}), g, 'bulk-' || g, timestamptz '2025-01-01' + g * interval '1 ms', 'publisher-' || (g % 4),
        jsonb_build_object('seq', g, 'level', 'info', 'message', 'request served', 'latency_ms', g % 2000, 'user', 'u-' || (g % 10000)),
        -- Well inside the default RETENTION (7d), whose partitions the aggregator created.
        now() + interval '6 days'
      FROM generate_series(${from}::bigint, ${to}::bigint) AS g`;
    log(`scale: loaded ${(to - start + 1).toLocaleString('en-US')} of ${rows.toLocaleString('en-US')} rows`);
  }
  await sql`SELECT setval('events_seq', ${start + rows - 1})`;
  await sql`INSERT INTO topics (name) SELECT unnest(${topicNames(topics)}::text[]) ON CONFLICT DO NOTHING`;
  // Sets hint bits and the visibility map, as autovacuum would have on a table grown by use.
  await sql`VACUUM (ANALYZE) events`;
}

/** Sequential GET /events reads (one in flight), returning each read's latency in ms. */
async function readPages(url: string, requests: { topic: string; after: number }[]): Promise<number[]> {
  const times: number[] = [];
  for (const { topic, after } of requests) {
    const started = performance.now();
    const response = await fetch(`${url}/events?topic=${topic}&after=${after}&limit=${PAGE}`);
    const body = await response.text();
    if (response.status !== 200) throw new Error(`GET /events answered ${response.status}: ${body.slice(0, 200)}`);
    times.push(performance.now() - started);
  }
  return times;
}

interface StageRun {
  urls: string[];
  pids: number[];
  sql: postgres.Sql;
  cursor: { next: number };
}

/**
 * One measurement at the current table size: `reads` sequential page reads of each kind, then a
 * publish load at the fixed rate for `seconds` and its drain.
 */
async function measureStage(ctx: Context, run: StageRun, pool: BatchPool, reads: number, seconds: number) {
  const { options, server } = ctx;
  const before = cpuSnapshot(run.pids, server.postmasterPid);
  const topics = topicNames(Math.min(4, options.topics));
  // Reads first, so they see exactly the stage's stored rows; then the publish load.
  const [seq] = await run.sql<{ max: string }[]>`SELECT last_value AS max FROM events_seq`;
  const max = Number(seq!.max);
  const tails = await Promise.all(
    topics.map(async (topic) => {
      const [row] = await run.sql<{ seq: string }[]>`SELECT seq FROM events WHERE topic = ${topic} ORDER BY seq DESC OFFSET ${PAGE} LIMIT 1`;
      return { topic, after: Number(row?.seq ?? 0) };
    }),
  );
  const random = Array.from({ length: reads }, (_, i) => ({ topic: topics[i % topics.length]!, after: Math.floor(Math.random() * max) }));
  const tail = Array.from({ length: reads }, (_, i) => tails[i % tails.length]!);
  const randomMs = latency(await readPages(run.urls[0]!, random));
  const tailMs = latency(await readPages(run.urls[0]!, tail));
  const load = await runLoad({ urls: run.urls, connections: 10, seconds, pool, cursor: run.cursor, rate: options.scaleRate });
  const drained = await waitDrained(run.urls[0]!, options.drainTimeoutSeconds * 1000, load.endedAt);
  if (load.errors + load.otherStatus + load.tooMany > 0)
    throw new Error(`scale publish load had failures: ${JSON.stringify(load.statuses)}, ${load.errors} errors`);
  const cpu = cpuBetween(before, cpuSnapshot(run.pids, server.postmasterPid));
  return { publish: load.latency, randomMs, tailMs, drain: drained.seconds, otherCpu: cpu.otherPct };
}

export async function runScale(ctx: Context, result: ScenarioResult, pool: BatchPool): Promise<void> {
  const { options } = ctx;
  const [small, large] = options.scaleRows;
  const measured = await ctx.withAggregators('scale', async ({ aggregators, sql }) => {
    const run: StageRun = { urls: aggregators.urls, pids: aggregators.pids, sql, cursor: { next: 0 } };
    const stages: Record<string, Awaited<ReturnType<typeof measureStage>>[]> = { small: [], large: [] };
    let bulkSeconds = 0;
    for (const [stage, rows] of [
      ['small', small],
      ['large', large - small],
    ] as const) {
      const started = performance.now();
      await bulkLoad(sql, rows, options.topics, ctx.log);
      bulkSeconds += (performance.now() - started) / 1000;
      await ctx.server.admin`CHECKPOINT`;
      // A fresh process runs its first requests unoptimised (JIT warm-up); without this pass
      // that cost would land on the small stage alone and flatter the ratio.
      if (stage === 'small') await measureStage(ctx, run, pool, 50, 2);
      for (let r = 0; r < options.runs; r++) stages[stage]!.push(await measureStage(ctx, run, pool, options.scaleReads, options.scaleSeconds));
      ctx.log(`scale: ${stage} stage measured`);
    }
    return { stages, bulkSeconds };
  });
  recordMachine(result, measured);
  const { stages, bulkSeconds } = measured.value;
  for (let r = 0; r < options.runs; r++) {
    const figures: Record<string, number> = {};
    for (const stage of ['small', 'large'] as const) {
      const m = stages[stage]![r]!;
      Object.assign(figures, {
        [`${stage}_publish_p50`]: m.publish.p50,
        [`${stage}_publish_p99`]: m.publish.p99,
        [`${stage}_random_p50`]: m.randomMs.p50,
        [`${stage}_random_p99`]: m.randomMs.p99,
        [`${stage}_tail_p99`]: m.tailMs.p99,
        [`${stage}_other_cpu`]: m.otherCpu,
      });
    }
    result.runs.record(figures);
  }
  // Ratios of the medians, not medians of per-run ratios: runs of the two stages are not paired.
  const f = result.runs.figures();
  const ratio = (key: string) => f[`large_${key}`]!.median / f[`small_${key}`]!.median;
  result.runs.record({
    publish_ratio: ratio('publish_p99'),
    random_ratio: ratio('random_p99'),
    tail_ratio: ratio('tail_p99'),
    bulk_load: bulkSeconds,
  });
  result.data.stages = stages;
}

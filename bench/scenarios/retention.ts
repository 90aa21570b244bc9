/**
 * Scenario 7: retention (issue 13).
 *
 * 1. Apply rate, today's layout vs the retention layout: the same inbox content (events over
 *    the generator's topics with its duplicate share) applied by 4 loops of lease + apply on each
 *    layout, interleaved per run. The retention database carries 2 older key generations of
 *    half as many keys each (the steady state: 3 live generations), so every key is probed
 *    against realistic indexes. Ingest (the inbox
 *    statement) did not change, so this is the part of "ingest + apply" that can differ.
 * 2. Publish p99 while a partition holding `dropRows` events is dropped by the maintenance
 *    (count outside the lock, DROP under a 20 ms lock_timeout), against p99 of the same fixed
 *    publish rate just before.
 * 3. Bytes per dedup key (heap + unique index of event_keys / keys).
 *
 * Dead tuples of the events storage over time are in the soak scenario's timeline.
 */
import postgres from 'postgres';
import { migrateDatabase } from '../../aggregator/src/db/migrate';
import { topicSlotOf } from '../../aggregator/src/db/partition';
import { startKeyGeneration } from '../../aggregator/src/retention/generations';
import { loadConfig } from '../../aggregator/src/config';
import { applyBatch } from '../../aggregator/src/workers/apply';
import { leasePartition } from '../../aggregator/src/workers/lease';
import type { BatchPool } from '../lib/generate';
import { topicNames } from '../lib/generate';
import { runLoad } from '../lib/http-load';
import { legacyApplyBatch, legacyLeasePartition, legacyMigrations } from '../lib/legacy-apply';

import { migrateWithPartitions } from '../lib/layout';
import { type Context, recordMachine, ScenarioResult } from '../lib/scenario';
import { startAggregators } from '../lib/server';

/** The aggregator's default CLAIM_BYTES (the legacy statement has no byte bound; 2,000 small events stay far below it). */
const DEFAULT_CLAIM_BYTES = loadConfig({}).claimBytes;

const LOOPS = 4;
const BATCH = 2_000;
const DAY = 86_400_000;

export function retentionResult(ctx: Context): ScenarioResult {
  const { retentionEvents, dropRows } = ctx.options;
  return new ScenarioResult(
    'retention',
    `Retention (apply ${retentionEvents.toLocaleString('en-US')} events per layout; drop of ${dropRows.toLocaleString('en-US')} events under load)`,
    [
      { key: 'apply_legacy', label: "apply rate, today's layout (UNIQUE on events)", unit: 'ev/s' },
      { key: 'apply_retention', label: 'apply rate, retention layout (partitioned events + key generations)', unit: 'ev/s' },
      { key: 'apply_ratio', label: 'apply rate, retention / today (same run)', unit: 'x' },
      { key: 'drop_p99_base', label: 'publish p99 before the drop', unit: 'ms' },
      { key: 'drop_p99_during', label: 'publish p99 while the partition is dropped', unit: 'ms' },
      { key: 'drop_ratio', label: 'publish p99, during / before', unit: 'x' },
      { key: 'drop_max_during', label: 'publish max latency while the partition is dropped', unit: 'ms' },
      { key: 'key_bytes', label: 'bytes per dedup key (heap + unique index)', unit: 'n' },
    ],
  );
}

/**
 * Fills the inbox with `events` events (a `dupRate` share are copies), 500 per inbox row, in
 * the layout `migrated` has: before retention (one partition per topic, ids from the inbox's
 * sequence), or today's (each event in its key's partition, seq drawn in arrival order, a row's
 * id its first seq).
 */
async function loadInbox(sql: postgres.Sql, events: number, topics: number, dupRate: number, layout: 'legacy' | 'current'): Promise<number> {
  const unique = Math.max(1, Math.round(events * (1 - dupRate)));
  const names = topicNames(topics);
  const generated = sql`
    SELECT g, (${names}::text[])[k % ${topics} + 1] AS topic, 'r-0-' || k AS id,
      json_build_object('seq', k, 'level', 'info', 'message', 'request served', 'latency_ms', k % 2000, 'user', 'u-' || (k % 10000)) AS payload
    FROM generate_series(0, ${events - 1}::int) AS g,
      LATERAL (SELECT CASE WHEN g < ${unique} THEN g ELSE (g::int8 * 7919) % ${unique} END AS k) AS key`;
  if (layout === 'legacy') {
    // One partition per topic (a slot is 1 of 32 like a partition): what that layout routed by.
    const parts = names.map(topicSlotOf);
    await sql`
      INSERT INTO inbox (part, n, topics, event_ids, timestamps, sources, payloads)
      SELECT part, count(*), array_agg(topic ORDER BY g), array_agg(id ORDER BY g), array_agg(now() ORDER BY g),
        array_agg('publisher-' || (g % 4) ORDER BY g), array_agg(payload ORDER BY g)
      FROM (SELECT e.*, (${parts}::int[])[array_position(${names}::text[], e.topic)] AS part FROM (${generated}) AS e) AS e
      GROUP BY part, g / 500
    `;
  } else {
    await sql`
      INSERT INTO inbox (part, id, n, bytes, topics, event_ids, timestamps, sources, payloads, seqs)
      SELECT part, min(seq), count(*), sum(octet_length(payload::text))::int, array_agg(topic ORDER BY g), array_agg(id ORDER BY g),
        array_agg(now() ORDER BY g), array_agg('publisher-' || (g % 4) ORDER BY g), array_agg(payload ORDER BY g), array_agg(seq ORDER BY g)
      FROM (
        SELECT e.*, inbox_partition_of(e.topic, e.id) AS part, nextval('events_seq') AS seq FROM (${generated}) AS e ORDER BY g
      ) AS e
      GROUP BY part, g / 500
    `;
  }
  await sql`VACUUM ANALYZE inbox`;
  return unique;
}

type Apply = (tx: postgres.TransactionSql, part: number, batchSize: number) => Promise<{ events: number; unique: number }>;
type Lease = (tx: postgres.TransactionSql) => Promise<number | null>;

/** Drains the inbox with LOOPS lease + apply loops; returns events/s and the unique count. */
async function drain(url: string, lease: Lease, apply: Apply): Promise<{ rate: number; unique: number; events: number }> {
  const sql = postgres(url, { max: LOOPS + 1, onnotice: () => {} });
  let events = 0;
  let unique = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: LOOPS }, async () => {
      for (;;) {
        const applied = await sql.begin(async (tx) => {
          const part = await lease(tx);
          return part === null ? null : apply(tx, part, BATCH);
        });
        if (applied) {
          events += applied.events;
          unique += applied.unique;
        } else {
          const [left] = await sql<{ any: boolean }[]>`SELECT EXISTS (SELECT 1 FROM inbox) AS any`;
          if (!left!.any) return;
          await Bun.sleep(1);
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await sql.end();
  return { rate: events / seconds, unique, events };
}

async function applyRates(ctx: Context, result: ScenarioResult): Promise<void> {
  const { retentionEvents: events, topics, dupRate } = ctx.options;
  const legacy = await ctx.withDatabase('retention_legacy', async (url) => {
    const folder = legacyMigrations();
    await migrateDatabase(url, folder);
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    const unique = await loadInbox(sql, events, topics, dupRate, 'legacy');
    await sql.end();
    const measured = await drain(url, legacyLeasePartition, legacyApplyBatch);
    return { ...measured, expected: unique };
  });
  const partitioned = await ctx.withDatabase('retention_new', async (url) => {
    await migrateWithPartitions(url);
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    // Older generations full of other keys, as after days of traffic: gen 0 (from the migration) and 1, inserts go to 2.
    for (const gen of [1, 2]) await startKeyGeneration(sql, gen);
    for (const gen of [0, 1]) {
      await sql`INSERT INTO event_keys (topic, event_id, gen) SELECT 'topic-' || (g % ${topics}), 'old-' || ${gen} || '-' || g, ${gen} FROM generate_series(1, ${Math.round(events / 2)}::int) AS g`;
    }
    await sql`VACUUM ANALYZE event_keys`;
    const unique = await loadInbox(sql, events, topics, dupRate, 'current');
    const measured = await drain(url, leasePartition, (tx, part, size) => applyBatch(tx, part, size, DEFAULT_CLAIM_BYTES, 7 * DAY));
    const [keys] = await sql<{ bytes: string; keys: string }[]>`
      SELECT (SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('event_keys') WHERE isleaf) AS bytes, (SELECT count(*) FROM event_keys) AS keys
    `;
    await sql.end();
    return { ...measured, expected: unique, keyBytes: Number(keys!.bytes) / Number(keys!.keys) };
  });
  recordMachine(result, partitioned);
  for (const [name, run] of [
    ['legacy', legacy.value],
    ['retention', partitioned.value],
  ] as const) {
    result.check(
      `${name} apply exact`,
      run.unique === run.expected && run.events === events,
      `${run.unique} unique of ${run.events} applied, expected ${run.expected} of ${events}`,
    );
  }
  result.runs.record({
    apply_legacy: legacy.value.rate,
    apply_retention: partitioned.value.rate,
    apply_ratio: partitioned.value.rate / legacy.value.rate,
    key_bytes: partitioned.value.keyBytes,
  });
  ctx.log(
    `retention: apply ${legacy.value.rate.toFixed(0)} ev/s today vs ${partitioned.value.rate.toFixed(0)} ev/s partitioned; ${partitioned.value.keyBytes.toFixed(1)} bytes per key`,
  );
}

async function dropUnderLoad(ctx: Context, result: ScenarioResult, pool: BatchPool): Promise<void> {
  const { dropRows, scaleRate } = ctx.options;
  const measured = await ctx.withDatabase('retention_drop', async (url) => {
    // 10 s partitions for a 10 min retention: 60 of them, as many as 6h for 2 weeks.
    const aggregators = await startAggregators(ctx.server, url, 1, {
      ...ctx.aggregatorEnv,
      STORAGE_INTERVAL: '10s',
      RETENTION: '10m',
      DEDUP_WINDOW: '10m',
    });
    try {
      const sql = postgres(url, { max: 2, onnotice: () => {} });
      // A partition far enough ahead to load it, then measure 10 s before its deadline passes.
      const leadMs = 35_000 + (dropRows / 40_000) * 1000;
      const [target] = await sql<{ name: string; lower: Date; upper: Date }[]>`
        SELECT name, lower, upper FROM event_partitions WHERE upper > now() + ${leadMs} * interval '1 ms' ORDER BY lower LIMIT 1`;
      const [seq] = await sql<{ first: string }[]>`SELECT last_value + 1 AS first FROM events_seq`;
      const start = Number(seq!.first);
      for (let from = 0; from < dropRows; from += 250_000) {
        const to = Math.min(dropRows, from + 250_000) - 1;
        await sql`
          INSERT INTO events (topic, seq, event_id, "timestamp", source, payload, expires_at)
          SELECT 'drop-' || (g % 8), ${start}::bigint + g, 'bulk-' || g, now(), 'publisher-' || (g % 4),
            json_build_object('seq', g, 'level', 'info', 'message', 'request served', 'latency_ms', g % 2000, 'user', 'u-' || (g % 10000)),
            ${target!.lower}::timestamptz + (g % 1000) * interval '1 ms'
          FROM generate_series(${from}::int, ${to}::int) AS g`;
      }
      await sql`SELECT setval('events_seq', ${start + dropRows})`;
      await sql`INSERT INTO topics (name) SELECT 'drop-' || g FROM generate_series(0, 7) AS g ON CONFLICT DO NOTHING`;
      await sql`VACUUM ANALYZE events`;
      const [clock] = await sql<{ now: Date }[]>`SELECT clock_timestamp() AS now`;
      const untilDeadline = target!.upper.getTime() - clock!.now.getTime();
      if (untilDeadline < 23_000) throw new Error(`loading took too long: ${untilDeadline} ms left before the deadline`);
      await Bun.sleep(untilDeadline - 23_000);

      const cursor = { next: 0 };
      const load = (seconds: number) => runLoad({ urls: aggregators.urls, connections: 10, seconds, pool, cursor, rate: scaleRate });
      const before = await load(10);
      await Bun.sleep(2_000);
      // Polls for the drop while the second load runs: when it happened relative to the deadline.
      let droppedAt: number | null = null;
      const loadStarted = Date.now();
      const during = load(20);
      while (droppedAt === null && Date.now() - loadStarted < 20_000) {
        const [row] = await sql<{ gone: boolean }[]>`SELECT NOT EXISTS (SELECT 1 FROM event_partitions WHERE name = ${target!.name}) AS gone`;
        if (row!.gone) droppedAt = Date.now();
        else await Bun.sleep(50);
      }
      const duringResult = await during;
      const [expired] = await sql<{ n: string }[]>`SELECT coalesce(sum(expired), 0) AS n FROM topics`;
      await sql.end();
      return {
        before,
        during: duringResult,
        droppedAfterDeadlineMs: droppedAt === null ? null : droppedAt - (clock!.now.getTime() + untilDeadline),
        expired: Number(expired!.n),
        problems: aggregators.problems(),
      };
    } finally {
      await aggregators.stop();
    }
  });
  const { before, during, droppedAfterDeadlineMs, expired } = measured.value;
  result.check(
    'partition dropped during the second load',
    droppedAfterDeadlineMs !== null,
    droppedAfterDeadlineMs === null ? 'not dropped within 20 s' : `${(droppedAfterDeadlineMs / 1000).toFixed(2)} s after its deadline`,
  );
  result.check('drop counted every event as expired', expired === dropRows, `${expired} of ${dropRows}`);
  result.check(
    'no publish failed during the drop',
    during.otherStatus + during.errors === 0 && before.otherStatus + before.errors === 0,
    JSON.stringify(during.statuses),
  );
  result.runs.record({
    drop_p99_base: before.latency.p99,
    drop_p99_during: during.latency.p99,
    drop_ratio: during.latency.p99 / before.latency.p99,
    drop_max_during: during.latency.max,
  });
  ctx.log(
    `retention: publish p99 ${before.latency.p99.toFixed(1)} ms before, ${during.latency.p99.toFixed(1)} ms during the drop of ${dropRows.toLocaleString('en-US')} events (max ${during.latency.max.toFixed(1)} ms; dropped ${droppedAfterDeadlineMs} ms after the deadline)`,
  );
}

export async function runRetention(ctx: Context, result: ScenarioResult, pool: BatchPool): Promise<void> {
  await applyRates(ctx, result);
  await dropUnderLoad(ctx, result, pool);
}

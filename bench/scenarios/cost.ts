/**
 * Scenario `cost` (issue 28): what one PostgreSQL spends per 1,000 events on each stage, so
 * docs/SCALING.md can say where one primary ends. The stages run one after another on a fresh
 * migrated database, each through the aggregator's own statements (no HTTP, no aggregator
 * process), and each is measured alone:
 *
 * - ingest: `enqueueEvents` (the inbox statement, seq drawn), INGEST_STATEMENT events a statement
 *   from INGEST_CONNECTIONS connections at once (group commit makes statements of this size);
 * - apply: `leasePartition` + `applyBatch` loops (dedup probe, events + event_keys insert,
 *   counters) until the inbox is empty;
 * - reads: every topic paged from 0 to its end with `readPage` (256 events a page, the horizon
 *   computed in the statement as readers do), i.e. each event read once;
 * - retention: the partitions holding the events counted and dropped (`dropEventPartition`), a
 *   new key generation started and the older ones dropped, as the maintenance does.
 *
 * Per stage: PostgreSQL CPU (postmaster and all its processes, from /proc: background writers
 * and autovacuum included), WAL bytes (exact whatever the load), and the statements' execution
 * time from pg_stat_statements (inflated when other processes take the CPU: wall time, not CPU).
 * A CHECKPOINT precedes each stage, so its first touch of each page logs a full-page image, as
 * the first minutes after every checkpoint do in production.
 */
import postgres from 'postgres';
import type { InboxEvent } from '../../aggregator/src/ingest/inbox-event';
import { loadConfig } from '../../aggregator/src/config';
import { readPage } from '../../aggregator/src/events/read';
import { enqueueEvents } from '../../aggregator/src/ingest/enqueue';
import { countPartition, dropEventPartition } from '../../aggregator/src/retention/expire';
import { dropKeyGeneration, listKeyGenerations, startKeyGeneration } from '../../aggregator/src/retention/generations';
import { listEventPartitions } from '../../aggregator/src/retention/partitions';
import { applyBatch } from '../../aggregator/src/workers/apply';
import { leasePartition } from '../../aggregator/src/workers/lease';
import { topicNames } from '../lib/generate';
import { resetStatements, walBytes } from '../lib/pg-stats';
import { postgresSeconds } from '../lib/proc';
import { migrateWithPartitions } from '../lib/layout';
import { type Context, ScenarioResult } from '../lib/scenario';

const DAY = 86_400_000;
const DEFAULTS = loadConfig({});
export const INGEST_STATEMENT = 1_000;
const INGEST_CONNECTIONS = 2;
const APPLY_LOOPS = 2;
const PAGE = 256;
export const STAGES = ['ingest', 'apply', 'reads', 'retention'] as const;
export type Stage = (typeof STAGES)[number];
/** What a stage's figures are per: published events (duplicates included), events read, events expired. */
const PER: Record<Stage, string> = { ingest: 'published', apply: 'published', reads: 'read', retention: 'expired' };

/** What one stage cost PostgreSQL. */
export interface StageCost {
  seconds: number;
  /** PostgreSQL CPU seconds (all its processes). */
  cpuSeconds: number;
  wal: number;
  /** pg_stat_statements total_exec_time of the database, ms. */
  statementMs: number;
}

export function costResult(ctx: Context): ScenarioResult {
  const rows = STAGES.flatMap((stage) => [
    { key: `${stage}_cpu`, label: `${stage}: PostgreSQL CPU ms per 1,000 ${PER[stage]} events`, unit: 'ms' as const },
    { key: `${stage}_wal`, label: `${stage}: WAL bytes per 1,000 ${PER[stage]} events`, unit: 'n' as const },
    { key: `${stage}_stmt`, label: `${stage}: statement execution ms per 1,000 ${PER[stage]} events (wall, load-inflated)`, unit: 'ms' as const },
    { key: `${stage}_rate`, label: `${stage}: events/s of this stage alone`, unit: 'ev/s' as const },
  ]);
  return new ScenarioResult('cost', `PostgreSQL cost per 1,000 events by stage (${costEvents(ctx).toLocaleString('en-US')} events)`, rows);
}

export const costEvents = (ctx: Context) => (ctx.options.quick ? 40_000 : 200_000);

/** Runs `body` as one measured stage on the server of `admin`, whose postmaster is `postmasterPid`. */
export async function measureStage(admin: postgres.Sql, postmasterPid: number, database: string, body: () => Promise<void>): Promise<StageCost> {
  await admin`CHECKPOINT`;
  await resetStatements(admin);
  const wal0 = await walBytes(admin);
  const cpu0 = postgresSeconds(postmasterPid);
  const t0 = performance.now();
  await body();
  const seconds = (performance.now() - t0) / 1000;
  const cpuSeconds = postgresSeconds(postmasterPid) - cpu0;
  const wal = (await walBytes(admin)) - wal0;
  const [row] = await admin<{ ms: number | null }[]>`
    SELECT sum(total_exec_time) AS ms FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = ${database})`;
  return { seconds, cpuSeconds, wal, statementMs: row?.ms ?? 0 };
}

/** `count` events over `topics` topics, a `dupRate` share re-sending an earlier one. */
export function costEventsOf(count: number, topics: number, dupRate: number, tag: string): InboxEvent[] {
  const names = topicNames(topics);
  const unique = Math.max(1, Math.round(count * (1 - dupRate)));
  return Array.from({ length: count }, (_, i) => {
    const k = i < unique ? i : (i * 7919) % unique;
    const payload = { seq: k, level: 'info', message: 'request served', latency_ms: k % 2000, user: `u-${k % 10_000}` };
    return {
      topic: names[k % topics]!,
      event_id: `${tag}-${k}`,
      timestamp: new Date(Date.UTC(2026, 0, 1) + k).toISOString(),
      source: `publisher-${k % 4}`,
      payload,
      payloadJson: JSON.stringify(payload),
    };
  });
}

/** Ingest statements of INGEST_STATEMENT events from `connections` connections at once. */
export async function ingestAll(sql: postgres.Sql, events: readonly InboxEvent[], connections = INGEST_CONNECTIONS): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (next < events.length) {
        const start = next;
        next += INGEST_STATEMENT;
        await enqueueEvents(sql, events.slice(start, start + INGEST_STATEMENT));
      }
    }),
  );
}

/** Lease + apply loops until the inbox is empty; returns the unique events stored. */
export async function applyAll(sql: postgres.Sql, loops = APPLY_LOOPS): Promise<number> {
  let stored = 0;
  await Promise.all(
    Array.from({ length: loops }, async () => {
      for (;;) {
        const applied = await sql.begin(async (tx) => {
          const part = await leasePartition(tx);
          return part === null ? null : applyBatch(tx, part, DEFAULTS.batchSize, DEFAULTS.claimBytes, 7 * DAY);
        });
        if (applied) stored += applied.unique;
        else {
          const [left] = await sql<{ any: boolean }[]>`SELECT EXISTS (SELECT 1 FROM inbox) AS any`;
          if (!left!.any) return;
          await Bun.sleep(1);
        }
      }
    }),
  );
  return stored;
}

/** Pages every topic from 0 to its end; returns the events read. */
export async function readAll(sql: postgres.Sql, topics: readonly string[]): Promise<number> {
  const [top] = await sql<{ last: string }[]>`SELECT last_value AS last FROM events_seq`;
  // Everything is sealed (ingest ended); not tied to a server: the bench's own server, which does not change.
  const bound = { sealed: Number(top!.last), server: null };
  let read = 0;
  for (const topic of topics) {
    let after = 0;
    for (;;) {
      const page = await readPage(sql, bound, topic, after, PAGE, DEFAULTS.maxPageBytes);
      if (page.lastSeq === null) break;
      read += (JSON.parse(Buffer.from(page.eventsJson).toString()) as unknown[]).length;
      after = page.lastSeq;
    }
  }
  return read;
}

/** Retention's work for everything stored: count and drop each events partition, rotate the key generations. */
async function expireAll(sql: postgres.Sql): Promise<number> {
  let expired = 0;
  for (const partition of await listEventPartitions(sql)) {
    const counts = await countPartition(sql, partition.name);
    if (counts.length === 0) continue;
    await dropEventPartition(sql, partition, counts);
    expired += counts.reduce((n, c) => n + c.events, 0);
  }
  const generations = await listKeyGenerations(sql);
  const newest = generations.at(-1)!.gen;
  await startKeyGeneration(sql, newest + 1);
  for (const g of generations) await dropKeyGeneration(sql, g.gen);
  return expired;
}

export async function runCost(ctx: Context, result: ScenarioResult): Promise<void> {
  const { topics, dupRate } = ctx.options;
  const count = costEvents(ctx);
  const { server } = ctx;
  const db = `bench_cost_${Date.now()}`;
  const url = await server.createDatabase(db, false);
  try {
    await migrateWithPartitions(url);
    const published = costEventsOf(count, topics, dupRate, 'cost');
    const expectedUnique = new Set(published.map((e) => `${e.topic}\n${e.event_id}`)).size;
    const sql = postgres(url, { max: INGEST_CONNECTIONS + APPLY_LOOPS, onnotice: () => {} });
    let stored = 0;
    let read = 0;
    let expired = 0;
    const costs: Record<Stage, StageCost> = {
      ingest: await measureStage(server.admin, server.postmasterPid, db, () => ingestAll(sql, published)),
      apply: await measureStage(server.admin, server.postmasterPid, db, async () => void (stored = await applyAll(sql))),
      reads: await measureStage(server.admin, server.postmasterPid, db, async () => void (read = await readAll(sql, topicNames(topics)))),
      retention: await measureStage(server.admin, server.postmasterPid, db, async () => void (expired = await expireAll(sql))),
    };
    await sql.end();
    result.check('every unique event stored once', stored === expectedUnique, `${stored} stored, ${expectedUnique} unique of ${count} published`);
    result.check('reads returned every stored event', read === stored, `${read} read of ${stored}`);
    result.check('retention dropped every stored event', expired === stored, `${expired} expired of ${stored}`);
    const figures: Record<string, number> = {};
    const events: Record<Stage, number> = { ingest: count, apply: count, reads: read, retention: expired };
    for (const stage of STAGES) {
      const c = costs[stage];
      const n = events[stage];
      figures[`${stage}_cpu`] = (1000 * c.cpuSeconds * 1000) / n;
      figures[`${stage}_wal`] = (1000 * c.wal) / n;
      figures[`${stage}_stmt`] = (1000 * c.statementMs) / n;
      figures[`${stage}_rate`] = n / c.seconds;
      ctx.log(
        `cost ${stage}: ${figures[`${stage}_cpu`]!.toFixed(1)} CPU ms, ${figures[`${stage}_wal`]!.toFixed(0)} WAL bytes, ${figures[`${stage}_stmt`]!.toFixed(1)} statement ms per 1,000 events`,
      );
    }
    result.runs.record(figures);
    result.notes.push(
      `${count.toLocaleString('en-US')} events published (${(dupRate * 100).toFixed(0)} % duplicates, ${topics} topics), ingest statements of ${INGEST_STATEMENT} events; ` +
        'CPU is every PostgreSQL process (background writers, autovacuum included); statement time is wall time and grows with the machine load.',
    );
  } finally {
    await server.dropDatabase(db);
  }
}

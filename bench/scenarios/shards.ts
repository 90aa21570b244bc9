/**
 * Scenario `shards` (issue 28): a stand-in for the Citus design of docs/SCALING.md. The same
 * events are ingested and applied by 1, 2 and 4 separate local PostgreSQL servers at once, each
 * taking the statements one shard would get (its topics' events: ingest with seq drawn, lease,
 * apply with the dedup probe), through the aggregator's own statements. Reported: the aggregate
 * rate per server count, its speedup over one server, and PostgreSQL CPU per 1,000 events (the
 * work one shard does per event must not grow with the shard count). This machine's cores bound
 * the speedup (2 cores: at most about 2x); the experiment shows the per-shard work splits, not
 * absolute speed. An experiment for the document, not a feature: logbus keeps one database URL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../../aggregator/src/db/embedded';
import { migrateDatabase } from '../../aggregator/src/db/migrate';
import { createLogger } from '../../aggregator/src/log';
import { RetentionMaintainer } from '../../aggregator/src/retention/maintenance';
import { CORES, postgresSeconds } from '../lib/proc';
import { type Context, ScenarioResult } from '../lib/scenario';
import { withDatabase } from '../lib/server';
import { applyAll, costEventsOf, ingestAll } from './cost';

const DAY = 86_400_000;
const COUNTS = [1, 2, 4] as const;

export function shardsResult(): ScenarioResult {
  return new ScenarioResult(
    'shards',
    'Shards stand-in: ingest + apply split by topic over 1, 2 and 4 PostgreSQL servers at once',
    COUNTS.flatMap((n) => [
      { key: `rate_${n}`, label: `${n} server(s): aggregate events/s (ingest + apply)`, unit: 'ev/s' as const },
      { key: `speedup_${n}`, label: `${n} server(s): aggregate rate / 1 server`, unit: 'x' as const },
      { key: `cpu_${n}`, label: `${n} server(s): PostgreSQL CPU ms per 1,000 events (all servers)`, unit: 'ms' as const },
    ]),
  );
}

interface Shard {
  server: EmbeddedPostgres;
  dir: string;
  url: string;
}

async function startShard(index: number): Promise<Shard> {
  const dir = mkdtempSync(join(tmpdir(), `logbus-shard-${index}-`));
  const server = await startEmbeddedPostgres({ dataDir: dir });
  const admin = postgres(server.url, { max: 1, onnotice: () => {} });
  await admin.unsafe('CREATE DATABASE shard');
  await admin.end();
  const url = withDatabase(server.url, 'shard');
  await migrateDatabase(url);
  const maintainer = new RetentionMaintainer(url, createLogger('silent'), {
    retentionMs: 7 * DAY,
    dedupWindowMs: 7 * DAY,
    storageIntervalMs: DAY / 4,
    maxStorageBytes: 0,
  });
  await maintainer.tick(true);
  await maintainer.stop();
  return { server, dir, url };
}

export async function runShards(ctx: Context, result: ScenarioResult): Promise<void> {
  const { topics, dupRate } = ctx.options;
  const total = ctx.options.quick ? 40_000 : 200_000;
  const shards: Shard[] = [];
  try {
    for (let i = 0; i < Math.max(...COUNTS); i++) shards.push(await startShard(i));
    const rates: Record<number, number> = {};
    const figures: Record<string, number> = {};
    for (const n of COUNTS) {
      // Distinct event ids per round: each round starts on tables holding the previous rounds' keys.
      const events = costEventsOf(total, topics, dupRate, `r${n}`);
      const byShard = Array.from({ length: n }, (_, s) => events.filter((e) => Number(e.topic.slice(6)) % n === s));
      const used = shards.slice(0, n);
      const pools = used.map((s) => postgres(s.url, { max: 4, onnotice: () => {} }));
      for (const s of used) {
        const admin = postgres(s.server.url, { max: 1, onnotice: () => {} });
        await admin`CHECKPOINT`;
        await admin.end();
      }
      const cpu0 = used.reduce((t, s) => t + postgresSeconds(s.server.pid), 0);
      const t0 = performance.now();
      const stored = await Promise.all(
        used.map(async (_, s) => {
          await ingestAll(pools[s]!, byShard[s]!);
          return applyAll(pools[s]!);
        }),
      );
      const seconds = (performance.now() - t0) / 1000;
      const cpu = used.reduce((t, s) => t + postgresSeconds(s.server.pid), 0) - cpu0;
      await Promise.all(pools.map((p) => p.end()));
      const expected = new Set(events.map((e) => `${e.topic}\n${e.event_id}`)).size;
      const got = stored.reduce((a, b) => a + b, 0);
      result.check(`${n} server(s): every unique event stored once`, got === expected, `${got} stored, ${expected} unique`);
      rates[n] = total / seconds;
      figures[`rate_${n}`] = rates[n]!;
      figures[`speedup_${n}`] = rates[n]! / rates[1]!;
      figures[`cpu_${n}`] = (1000 * cpu * 1000) / total;
      ctx.log(
        `shards ${n}: ${rates[n]!.toFixed(0)} ev/s, ${figures[`speedup_${n}`]!.toFixed(2)}x, ${figures[`cpu_${n}`]!.toFixed(1)} PostgreSQL CPU ms per 1,000 events`,
      );
    }
    result.runs.record(figures);
    result.notes.push(
      `${total.toLocaleString('en-US')} events a round (${(dupRate * 100).toFixed(0)} % duplicates, ${topics} topics split by topic); ${CORES} cores on this machine bound the speedup, and the bench process driving every shard shares them.`,
    );
  } finally {
    for (const s of shards) {
      await s.server.stop().catch(() => {});
      rmSync(s.dir, { recursive: true, force: true });
      rmSync(s.server.databaseDir, { recursive: true, force: true });
    }
  }
}

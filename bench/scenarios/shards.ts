/**
 * Scenario `shards` (issue 28): a stand-in for the Citus design of docs/SCALING.md. The same
 * events are ingested and applied by 1, 2 and 4 separate local PostgreSQL servers at once, each
 * taking the statements one shard would get (its topics' events: ingest with seq drawn, lease,
 * apply with the dedup probe), through the aggregator's own statements. Reported: the aggregate
 * rate per server count, its speedup over one server, the per-server efficiency (speedup over
 * min(servers, cores): 1.0 when each server adds a full server's rate), and PostgreSQL CPU per 1,000 events (the
 * work one shard does per event must not grow with the shard count). This machine's cores bound
 * the speedup (2 cores: at most about 2x); the experiment shows the per-shard work splits, not
 * absolute speed. An experiment for the document, not a feature: logbus keeps one database URL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../../aggregator/src/db/embedded';
import type { InboxEvent } from '../../aggregator/src/ingest/inbox-event';
import { CORES, cpuSeconds, postgresSeconds } from '../lib/proc';
import { migrateWithPartitions } from '../lib/layout';
import { type Context, ScenarioResult } from '../lib/scenario';
import { withDatabase } from '../lib/server';
import { applyAll, costEventsOf, ingestAll } from './cost';

const COUNTS = [1, 2, 4] as const;
/** Ingest connections and apply loops per server: one each, about a core's worth of PostgreSQL work. */
const LANES = 1;

export function shardsResult(): ScenarioResult {
  return new ScenarioResult(
    'shards',
    'Shards stand-in: ingest + apply split by topic over 1, 2 and 4 PostgreSQL servers at once',
    COUNTS.flatMap((n) => [
      { key: `rate_${n}`, label: `${n} server(s): aggregate events/s (ingest + apply)`, unit: 'ev/s' as const },
      { key: `speedup_${n}`, label: `${n} server(s): aggregate rate / 1 server`, unit: 'x' as const },
      { key: `efficiency_${n}`, label: `${n} server(s): per-server efficiency, speedup / min(servers, cores)`, unit: 'x' as const },
      { key: `cpu_${n}`, label: `${n} server(s): PostgreSQL CPU ms per 1,000 events (all servers)`, unit: 'ms' as const },
      { key: `driver_${n}`, label: `${n} server(s): bench process (the client) CPU ms per 1,000 events`, unit: 'ms' as const },
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
  await migrateWithPartitions(url);
  return { server, dir, url };
}

/** One round: every server ingests, then applies, its topics' events, all servers at once. */
async function runRound(used: Shard[], events: InboxEvent[]) {
  const n = used.length;
  const byShard = Array.from({ length: n }, (_, s) => events.filter((e) => Number(e.topic.slice(6)) % n === s));
  const pools = used.map((s) => postgres(s.url, { max: 2, onnotice: () => {} }));
  for (const s of used) {
    const admin = postgres(s.server.url, { max: 1, onnotice: () => {} });
    await admin`CHECKPOINT`;
    await admin.end();
  }
  const cpu0 = used.reduce((t, s) => t + postgresSeconds(s.server.pid), 0);
  const driver0 = cpuSeconds(process.pid);
  const t0 = performance.now();
  const stored = await Promise.all(
    pools.map(async (pool, s) => {
      await ingestAll(pool, byShard[s]!, LANES);
      return applyAll(pool, LANES);
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const postgresCpu = used.reduce((t, s) => t + postgresSeconds(s.server.pid), 0) - cpu0;
  const driverCpu = cpuSeconds(process.pid) - driver0;
  await Promise.all(pools.map((p) => p.end()));
  return {
    seconds,
    postgresCpu,
    driverCpu,
    stored: stored.reduce((a, b) => a + b, 0),
    expected: new Set(events.map((e) => `${e.topic}\n${e.event_id}`)).size,
  };
}

export async function runShards(ctx: Context, result: ScenarioResult): Promise<void> {
  const { topics, dupRate } = ctx.options;
  const total = ctx.options.quick ? 40_000 : 120_000;
  const shards: Shard[] = [];
  try {
    for (let i = 0; i < Math.max(...COUNTS); i++) shards.push(await startShard(i));
    for (let round = 1; round <= ctx.options.runs; round++) {
      const figures: Record<string, number> = {};
      for (const n of COUNTS) {
        // Distinct event ids per round: each round starts on tables holding the earlier rounds' keys.
        const measured = await runRound(shards.slice(0, n), costEventsOf(total, topics, dupRate, `r${round}-${n}`));
        result.check(
          `${n} server(s): every unique event stored once`,
          measured.stored === measured.expected,
          `${measured.stored} stored, ${measured.expected} unique`,
        );
        figures[`rate_${n}`] = total / measured.seconds;
        figures[`speedup_${n}`] = figures[`rate_${n}`]! / figures.rate_1!;
        // What each server adds, against what this machine can add: past CORES servers share the cores.
        figures[`efficiency_${n}`] = figures[`speedup_${n}`]! / Math.min(n, CORES);
        figures[`cpu_${n}`] = (1000 * measured.postgresCpu * 1000) / total;
        figures[`driver_${n}`] = (1000 * measured.driverCpu * 1000) / total;
        ctx.log(
          `shards round ${round}, ${n}: ${figures[`rate_${n}`]!.toFixed(0)} ev/s, ${figures[`speedup_${n}`]!.toFixed(2)}x (efficiency ${figures[`efficiency_${n}`]!.toFixed(2)}), ${figures[`cpu_${n}`]!.toFixed(1)} PostgreSQL + ${figures[`driver_${n}`]!.toFixed(1)} client CPU ms per 1,000 events`,
        );
      }
      result.runs.record(figures);
    }
    result.notes.push(
      `${total.toLocaleString('en-US')} events a round (${(dupRate * 100).toFixed(0)} % duplicates, ${topics} topics split by topic), one ingest connection and one apply loop per server (about one core's worth); ${CORES} cores on this machine bound the speedup, and the bench process driving every server shares them.`,
    );
  } finally {
    for (const s of shards) {
      await s.server.stop().catch(() => {});
      rmSync(s.dir, { recursive: true, force: true });
      rmSync(s.server.databaseDir, { recursive: true, force: true });
    }
  }
}

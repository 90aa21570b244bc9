/**
 * Scenario: how many topics the load is spread over. The same closed-loop HTTP load as
 * `sustained` (connections, batches, duplicates, seconds) sent to one topic, to 3 and to 64,
 * each on a fresh database, and the direct raw-SQL ceiling (`INSERT … ON CONFLICT DO NOTHING`,
 * 8 connections, the 3-topic events) in the same round: one hot topic should be applied as fast
 * as many (its events spread over every inbox partition), and 3 topics should reach the
 * physical limit of permanent dedup. PostgreSQL CPU per 1,000 events and the top statements
 * show where the time goes.
 */
import { runDirect } from '../lib/ceiling';
import { BatchPool } from '../lib/generate';
import { runLoad } from '../lib/http-load';
import { resetStatements, topStatements } from '../lib/pg-stats';
import { type Context, recordMachine, ScenarioResult, workPerEvent } from '../lib/scenario';
import { processed, readStats, waitDrained } from '../lib/stats';

export const TOPIC_COUNTS = [1, 3, 64] as const;
const DIRECT_CLIENTS = 8;

export function topicsResult(): ScenarioResult {
  const perCount = TOPIC_COUNTS.flatMap((n) => [
    { key: `e2e_${n}`, label: `${n} topic(s): end-to-end processed events/s (load + drain)`, unit: 'ev/s' as const },
    { key: `accepted_${n}`, label: `${n} topic(s): accepted events/s`, unit: 'ev/s' as const },
    { key: `drain_${n}`, label: `${n} topic(s): drain after the load`, unit: 's' as const },
    { key: `p99_${n}`, label: `${n} topic(s): publish latency p99`, unit: 'ms' as const },
    { key: `pg_ms_${n}`, label: `${n} topic(s): PostgreSQL CPU ms per 1,000 events`, unit: 'ms' as const },
    { key: `pg_cpu_${n}`, label: `${n} topic(s): PostgreSQL CPU (% of one core)`, unit: '%' as const },
    { key: `agg_cpu_${n}`, label: `${n} topic(s): aggregator CPU (% of one core)`, unit: '%' as const },
  ]);
  return new ScenarioResult('topics', 'One hot topic, 3 topics, 64 topics (same load), and the direct raw-SQL ceiling', [
    ...perCount,
    { key: 'direct', label: `direct INSERT … ON CONFLICT DO NOTHING, ${DIRECT_CLIENTS} connections: events/s`, unit: 'ev/s' },
    { key: 'direct_pg_ms', label: 'direct: PostgreSQL CPU ms per 1,000 events', unit: 'ms' },
    { key: 'hot_ratio', label: 'end-to-end, 1 topic / 64 topics (same round)', unit: 'x' },
    { key: 'three_ratio', label: 'end-to-end, 3 topics / direct ceiling (same round)', unit: 'x' },
  ]);
}

/** One round: the three loads and the ceiling, one after another on the same server. */
export async function runTopics(ctx: Context, result: ScenarioResult): Promise<void> {
  const { options, server } = ctx;
  const pools = new Map(
    TOPIC_COUNTS.map((n) => [n, new BatchPool({ batches: 2_000, batchSize: options.batch, dupRate: options.dupRate, topics: n, seed: 0x7091c + n })]),
  );
  const record: Record<string, number> = {};
  for (const n of TOPIC_COUNTS) {
    const measured = await ctx.withAggregators(`topics_${n}`, async ({ aggregators, db }) => {
      const [url] = aggregators.urls;
      await resetStatements(server.admin);
      const load = await runLoad({
        urls: aggregators.urls,
        connections: options.connections,
        seconds: options.seconds,
        pool: pools.get(n)!,
        cursor: { next: 0 },
      });
      const drained = await waitDrained(url!, options.drainTimeoutSeconds * 1000, load.endedAt);
      const final = await readStats(url!);
      return { load, drained, final, statements: await topStatements(server.admin, db, 4) };
    });
    recordMachine(result, measured);
    const { load, drained, final, statements } = measured.value;
    const events = processed(final);
    record[`e2e_${n}`] = events / (load.seconds + drained.seconds);
    record[`accepted_${n}`] = load.okEvents / load.seconds;
    record[`drain_${n}`] = drained.seconds;
    record[`p99_${n}`] = load.latency.p99;
    record[`pg_ms_${n}`] = workPerEvent(measured, events).pgMs;
    record[`pg_cpu_${n}`] = measured.cpu.postgresPct;
    record[`agg_cpu_${n}`] = measured.cpu.aggregatorPct;
    const balanced = final.received === events && final.pending === 0 && load.errors + load.otherStatus === 0;
    result.check(
      `${n} topic(s): every 202 applied, no errors`,
      balanced,
      `received ${final.received}, processed ${events}, errors ${load.errors + load.otherStatus}`,
    );
    result.statements[`${n} topic(s), last run`] = statements;
    ctx.log(`topics ${n}: e2e ${Math.round(record[`e2e_${n}`]!)} ev/s, drain ${drained.seconds.toFixed(2)} s, p99 ${load.latency.p99.toFixed(1)} ms`);
  }

  const direct = await ctx.withDatabase('topics_direct', (url) =>
    runDirect({
      url,
      clients: DIRECT_CLIENTS,
      workers: 0,
      claim: 0,
      seconds: options.seconds,
      pool: pools.get(3)!,
      drainTimeoutMs: options.drainTimeoutSeconds * 1000,
    }),
  );
  recordMachine(result, direct);
  record.direct = direct.value.events / direct.value.seconds;
  record.direct_pg_ms = workPerEvent(direct, direct.value.events).pgMs;
  record.hot_ratio = record.e2e_1! / record.e2e_64!;
  record.three_ratio = record.e2e_3! / record.direct;
  result.runs.record(record);
  ctx.log(
    `topics: 1/64 = ${record.hot_ratio.toFixed(2)}x, 3 topics / direct = ${record.three_ratio.toFixed(2)}x (direct ${Math.round(record.direct)} ev/s)`,
  );
}

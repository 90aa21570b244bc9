/**
 * Scenario 3: sustained load over HTTP. autocannon, `connections` keep-alive connections, batches
 * of `batch` events with ~37% duplicates, for `seconds`; then the time until pending == 0 and the
 * end-to-end processed rate over load + drain (the figure held against the naive ceiling).
 */
import type { BatchPool } from '../lib/generate';
import { runLoad } from '../lib/http-load';
import { resetStatements, topStatements } from '../lib/pg-stats';
import { type Context, recordMachine, ScenarioResult, workPerEvent } from '../lib/scenario';
import { processed, readStats, StatsSampler, waitDrained } from '../lib/stats';

export function sustainedResult(): ScenarioResult {
  return new ScenarioResult('sustained', 'Sustained load over HTTP (autocannon)', [
    { key: 'req_s', label: 'accepted requests/s (2xx)', unit: 'req/s' },
    { key: 'accepted', label: 'accepted events/s', unit: 'ev/s' },
    { key: 'p50', label: 'latency p50', unit: 'ms' },
    { key: 'p95', label: 'latency p95', unit: 'ms' },
    { key: 'p99', label: 'latency p99', unit: 'ms' },
    { key: 'max', label: 'latency max', unit: 'ms' },
    { key: 'errors', label: 'errors (connection, timeout, non-2xx other than 429)', unit: 'n' },
    { key: 'status429', label: '429 responses (backpressure)', unit: 'n' },
    { key: 'processed_during', label: 'processed events/s during the load', unit: 'ev/s' },
    { key: 'pending_end', label: 'pending when the load stopped', unit: 'n' },
    { key: 'pending_max', label: 'largest pending seen (1 s samples)', unit: 'n' },
    { key: 'drain', label: 'drain time after the load (until pending == 0)', unit: 's' },
    { key: 'e2e', label: 'end-to-end processed events/s (load + drain)', unit: 'ev/s' },
    { key: 'ratio', label: 'end-to-end / naive raw-SQL ceiling of the same round', unit: 'x' },
    { key: 'wal', label: 'WAL bytes per event processed', unit: 'n' },
    { key: 'pg_ms', label: 'PostgreSQL CPU ms per 1,000 events processed', unit: 'ms' },
    { key: 'agg_cpu', label: 'aggregator CPU during load + drain (% of one core, all replicas)', unit: '%' },
    { key: 'pg_cpu', label: 'PostgreSQL CPU during load + drain (% of one core)', unit: '%' },
    { key: 'bench_cpu', label: 'load generator CPU (% of one core)', unit: '%' },
  ]);
}

/**
 * One sustained run. `naiveOfRound` gives the naive ceiling measured just before in the same
 * round (NaN when the ceiling did not run), so the ratio pairs runs made under the same
 * conditions on a shared machine.
 */
export async function runSustained(ctx: Context, result: ScenarioResult, pool: BatchPool, naiveOfRound: () => number): Promise<void> {
  const { options, server } = ctx;
  const measured = await ctx.withAggregators('sustained', async ({ aggregators, db }) => {
    const [url] = aggregators.urls;
    await resetStatements(server.admin);
    const sampler = new StatsSampler(url!, 1000);
    const load = await runLoad({ urls: aggregators.urls, connections: options.connections, seconds: options.seconds, pool, cursor: { next: 0 } });
    const atEnd = await readStats(url!);
    const drained = await waitDrained(url!, options.drainTimeoutSeconds * 1000, load.endedAt);
    const samples = sampler.stop();
    const final = await readStats(url!);
    return {
      load,
      atEnd,
      drained,
      final,
      samples,
      maxPending: Math.max(sampler.maxPending, atEnd.pending),
      statements: await topStatements(server.admin, db),
    };
  });
  recordMachine(result, measured);
  const { load, atEnd, drained, final, samples, maxPending, statements } = measured.value;
  const { cpu } = measured;
  const e2e = processed(final) / (load.seconds + drained.seconds);
  const work = workPerEvent(measured, processed(final));
  result.runs.record({
    req_s: load.ok / load.seconds,
    accepted: load.okEvents / load.seconds,
    p50: load.latency.p50,
    p95: load.latency.p95,
    p99: load.latency.p99,
    max: load.latency.max,
    errors: load.errors + load.otherStatus,
    status429: load.tooMany,
    processed_during: processed(atEnd) / load.seconds,
    pending_end: atEnd.pending,
    pending_max: maxPending,
    drain: drained.seconds,
    e2e,
    ratio: e2e / naiveOfRound(),
    wal: work.wal,
    pg_ms: work.pgMs,
    agg_cpu: cpu.aggregatorPct,
    pg_cpu: cpu.postgresPct,
    bench_cpu: cpu.benchPct,
  });

  // Everything acknowledged was applied; requests cut off when the load stopped may or may not
  // have committed, so received may exceed the 202s by at most one batch per connection.
  const unacknowledged = final.received - load.okEvents;
  const balanced = final.received === processed(final) && final.pending === 0;
  const accounted = balanced && unacknowledged >= 0 && unacknowledged <= options.connections * options.batch;
  result.check(
    'sustained /stats accounts for every 202',
    accounted,
    `received ${final.received}, 202s carried ${load.okEvents}, processed ${processed(final)}, pending ${final.pending}`,
  );
  if (load.otherStatus > 0) result.notes.push(`sustained: non-2xx statuses ${JSON.stringify(load.statuses)}`);
  result.statements['The aggregator under the sustained load, last run'] = statements;
  result.data.pendingTimeline = samples.map((s) => ({ t: Number(s.t.toFixed(1)), pending: s.pending, processed: processed(s) }));
  ctx.log(
    `sustained: ${Math.round(load.okEvents / load.seconds)} ev/s accepted, p99 ${load.latency.p99.toFixed(1)} ms, pending ${atEnd.pending} at end, ` +
      `drain ${drained.seconds.toFixed(2)} s, e2e ${Math.round(e2e)} ev/s`,
  );
}

/**
 * Scenario 6: an idle aggregator's CPU. After a small publish (so timers, pools and workers have
 * all been exercised) and its drain, a few seconds to settle, then utime+stime from
 * /proc/<pid>/stat over three equal windows; PostgreSQL's CPU over the same windows shows any
 * polling the aggregator makes it do.
 */
import type { BatchPool } from '../lib/generate';
import { resetStatements, topStatements } from '../lib/pg-stats';
import { cpuSeconds, postgresSeconds } from '../lib/proc';
import { type Context, recordMachine, ScenarioResult } from '../lib/scenario';
import { waitDrained } from '../lib/stats';

const WINDOWS = 3;

export function idleResult(ctx: Context): ScenarioResult {
  const window = ctx.options.idleSeconds / WINDOWS;
  return new ScenarioResult('idle', `Idle (${WINDOWS} windows of ${window.toFixed(0)} s)`, [
    { key: 'cpu', label: 'aggregator CPU, % of one core', unit: '%' },
    { key: 'pg_cpu', label: 'PostgreSQL CPU, % of one core', unit: '%' },
  ]);
}

export async function runIdle(ctx: Context, result: ScenarioResult, pool: BatchPool): Promise<void> {
  const windowMs = (ctx.options.idleSeconds / WINDOWS) * 1000;
  const { admin } = ctx.server;
  const measured = await ctx.withAggregators('idle', async ({ aggregators, db }) => {
    const [url] = aggregators.urls;
    await fetch(`${url}/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: pool.body(0) });
    await waitDrained(url!, 30_000);
    await Bun.sleep(3_000);
    await resetStatements(admin);
    const windows: { cpu: number; pg: number }[] = [];
    const aggregatorCpu = () => aggregators.pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0) / aggregators.pids.length;
    for (let i = 0; i < WINDOWS; i++) {
      const started = performance.now();
      const [agg0, pg0] = [aggregatorCpu(), postgresSeconds(ctx.server.postmasterPid)];
      await Bun.sleep(windowMs);
      const seconds = (performance.now() - started) / 1000;
      windows.push({ cpu: (100 * (aggregatorCpu() - agg0)) / seconds, pg: (100 * (postgresSeconds(ctx.server.postmasterPid) - pg0)) / seconds });
    }
    return { windows, statements: await topStatements(admin, db, 5) };
  });
  recordMachine(result, measured);
  const { windows, statements } = measured.value;
  for (const w of windows) result.runs.record({ cpu: w.cpu, pg_cpu: w.pg });
  result.statements['What the idle aggregator asked PostgreSQL during the idle windows'] = statements;
  ctx.log(`idle: aggregator ${windows.map((w) => w.cpu.toFixed(2)).join(', ')} % of a core`);
}

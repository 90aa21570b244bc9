/**
 * Scenario 7: recovery after a PostgreSQL restart. Three replicas (or --replicas, if more) on a
 * PostgreSQL of the scenario's own (the shared server must stay up), under a light steady
 * publish; the server is stopped (fast shutdown) for OUTAGE_MS and started again, --runs times.
 * Measured: milliseconds from "ready to accept connections" until every replica answers /ready
 * with 200 and accepts a publish. faults-postgres.test.ts asserts the contract (recovery by
 * itself, nothing lost or doubled) with a bound that only catches "never"; the speed is this
 * figure, so a slower recovery shows up as a number rather than as a flaky test.
 */
import { startDedicatedPostgres } from '../../aggregator/local/dedicated-postgres';
import { type Context, ScenarioResult } from '../lib/scenario';
import { startAggregators } from '../lib/server';

const OUTAGE_MS = 3_000;
const LOAD_EVERY_MS = 50;

export function recoveryResult(): ScenarioResult {
  return new ScenarioResult('recovery', `Recovery after a PostgreSQL restart (${OUTAGE_MS / 1000} s outage)`, [
    { key: 'recovery', label: 'PostgreSQL up -> every replica ready and accepting', unit: 'ms' },
    { key: 'first', label: 'PostgreSQL up -> first replica ready and accepting', unit: 'ms' },
  ]);
}

async function answers(url: string, id: string): Promise<boolean> {
  try {
    const ready = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(10_000) });
    await ready.arrayBuffer();
    if (ready.status !== 200) return false;
    const event = { topic: 'recovery', event_id: id, timestamp: new Date().toISOString(), source: 'bench', payload: {} };
    const published = await fetch(`${url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(event),
      signal: AbortSignal.timeout(10_000),
    });
    await published.arrayBuffer();
    return published.status === 202;
  } catch {
    return false;
  }
}

/** Milliseconds from `since` until `url` is ready and accepts a publish (polled every 20 ms). */
async function recoveredAfter(url: string, since: number, tag: string): Promise<number> {
  for (let i = 0; ; i++) {
    if (await answers(url, `${tag}-${i}`)) return performance.now() - since;
    if (performance.now() - since > 120_000) throw new Error(`${url} did not recover within 120 s`);
    await Bun.sleep(20);
  }
}

export async function runRecovery(ctx: Context, result: ScenarioResult): Promise<void> {
  const pg = await startDedicatedPostgres('logbus-bench-recovery-');
  const replicas = Math.max(3, ctx.options.replicas);
  const aggregators = await startAggregators(ctx.server, pg.url, replicas, ctx.aggregatorEnv);
  const pids = [...aggregators.pids];
  let loading = true;
  // A light load, so the pools hold busy connections when the server goes away.
  const load = (async () => {
    for (let i = 0; loading; i++) {
      await answers(aggregators.urls[i % replicas]!, `load-${i}`);
      await Bun.sleep(LOAD_EVERY_MS);
    }
  })();
  try {
    for (let run = 1; run <= ctx.options.runs; run++) {
      await Bun.sleep(1_000);
      await pg.stop();
      await Bun.sleep(OUTAGE_MS);
      await pg.start();
      const upAt = performance.now();
      const times = await Promise.all(aggregators.urls.map((url, i) => recoveredAfter(url, upAt, `r${run}-${i}`)));
      result.runs.record({ recovery: Math.max(...times), first: Math.min(...times) });
      ctx.log(`recovery ${run}/${ctx.options.runs}: replicas back after ${times.map((t) => t.toFixed(0)).join(', ')} ms`);
    }
    const alive = aggregators.pids.every((pid, i) => pid === pids[i] && processAlive(pid));
    result.check('replicas recovered without a restart', alive, alive ? `${replicas} replicas, same pids` : 'a replica process exited');
  } finally {
    loading = false;
    await load;
    await aggregators.stop();
    await pg.destroy();
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Scenario 2: the seed workload over HTTP. 20,000 events (30% duplicates) in batches of 50 from
 * 8 concurrent clients; publish time, drain time, end-to-end rate, and /stats checked exactly.
 */
import { BatchPool } from '../lib/generate';
import { type Context, recordMachine, ScenarioResult } from '../lib/scenario';
import { readStats, waitDrained } from '../lib/stats';

export function seedResult(): ScenarioResult {
  return new ScenarioResult('seed', 'Seed workload over HTTP (20,000 events, 30% duplicates, 8 clients)', [
    { key: 'publish', label: 'publish time (all 202s received)', unit: 's' },
    { key: 'drain', label: 'drain time (until /stats pending == 0)', unit: 's' },
    { key: 'e2e', label: 'end-to-end events/s (publish + drain)', unit: 'ev/s' },
  ]);
}

export function seedPool(ctx: Context, seed: number): BatchPool {
  const { options } = ctx;
  return new BatchPool({
    batches: Math.ceil(options.seedEvents / options.batch),
    batchSize: options.batch,
    dupRate: options.seedDupRate,
    topics: options.topics,
    seed,
  });
}

/** Posts requests 0..count-1 from `clients` loops, round-robin over the replicas; any non-202 throws. */
async function publishAll(urls: string[], pool: BatchPool, count: number, clients: number): Promise<void> {
  let next = 0;
  const client = async (c: number) => {
    for (let i = next++; i < count; i = next++) {
      const response = await fetch(`${urls[(c + i) % urls.length]}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: pool.body(i),
      });
      const text = await response.text();
      if (response.status !== 202) throw new Error(`request ${i}: ${response.status} ${text.slice(0, 200)}`);
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
}

export async function runSeed(ctx: Context, result: ScenarioResult, pool: BatchPool): Promise<void> {
  const { options } = ctx;
  const events = pool.eventsPerLap;
  const unique = pool.uniqueInFirst(pool.batches);
  const measured = await ctx.withAggregators('seed', async ({ aggregators }) => {
    const [url] = aggregators.urls;
    const started = performance.now();
    await publishAll(aggregators.urls, pool, pool.batches, options.seedClients);
    const published = (performance.now() - started) / 1000;
    const drained = await waitDrained(url!, options.drainTimeoutSeconds * 1000);
    return { published, drained, final: await readStats(url!) };
  });
  recordMachine(result, measured);
  const { published, drained, final } = measured.value;
  result.runs.record({ publish: published, drain: drained.seconds, e2e: events / (published + drained.seconds) });
  const expected = `received ${events}, unique ${unique}, duplicates ${events - unique}, pending 0`;
  const got = `received ${final.received}, unique ${final.unique_processed}, duplicates ${final.duplicate_dropped}, pending ${final.pending}`;
  const exact = final.received === events && final.unique_processed === unique && final.duplicate_dropped === events - unique && final.pending === 0;
  result.check('seed /stats exact', exact, exact ? got : `expected ${expected}; got ${got}`);
  if (!exact) ctx.log(`SEED STATS WRONG: expected ${expected}; got ${got}`);
  ctx.log(
    `seed: publish ${published.toFixed(2)} s, drain ${drained.seconds.toFixed(2)} s, ${Math.round(events / (published + drained.seconds))} ev/s, stats ${exact ? 'exact' : 'WRONG'}`,
  );
}

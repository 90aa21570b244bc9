/**
 * Scenario: events/s per ingest protocol, side by side in one run. The same pool of events
 * (with its duplicates) goes to /publish, OTLP (protobuf and JSON), Loki (snappy protobuf and
 * JSON) and the bulk API, each into a fresh database and aggregator, from the same number of
 * clients. Bodies are encoded before the clock starts, so the figures are the server's cost of
 * decoding, mapping, validating and storing. /stats is checked exactly after each: every
 * protocol must store the same unique count and count the same duplicates.
 */
import type { BatchPool } from '../lib/generate';
import { PROTOCOLS, type Protocol, REQUESTS } from '../lib/protocol-bodies';
import { type Context, recordMachine, ScenarioResult } from '../lib/scenario';
import { readStats, waitDrained } from '../lib/stats';

export function protocolsResult(): ScenarioResult {
  return new ScenarioResult('protocols', 'Ingest protocols side by side (same events, seed-sized pool, 8 clients)', [
    ...PROTOCOLS.map((p) => ({ key: p, label: `${p}: accepted events/s (all 2xx received)`, unit: 'ev/s' as const })),
    ...PROTOCOLS.filter((p) => p !== 'publish').map((p) => ({ key: `${p}_ratio`, label: `${p} / publish`, unit: 'x' as const })),
  ]);
}

async function send(urls: string[], bodies: (string | Uint8Array)[], protocol: Protocol, clients: number): Promise<void> {
  const { path, contentType, ok } = REQUESTS[protocol];
  let next = 0;
  const client = async (c: number) => {
    for (let i = next++; i < bodies.length; i = next++) {
      const response = await fetch(`${urls[(c + i) % urls.length]}${path}`, {
        method: 'POST',
        headers: { 'content-type': contentType },
        body: bodies[i] as BodyInit,
      });
      const text = await response.text();
      if (response.status !== ok) throw new Error(`${protocol} request ${i}: ${response.status} ${text.slice(0, 200)}`);
      if (protocol === 'bulk' && text.includes('"errors":true')) throw new Error(`bulk request ${i}: item errors ${text.slice(0, 200)}`);
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
}

export async function runProtocols(ctx: Context, result: ScenarioResult, pool: BatchPool): Promise<void> {
  const { options } = ctx;
  const events = pool.eventsPerLap;
  const unique = pool.uniqueInFirst(pool.batches);
  const rates: Partial<Record<Protocol, number>> = {};
  let measuredAll: Awaited<ReturnType<typeof ctx.withAggregators<unknown>>> | null = null;
  for (const protocol of PROTOCOLS) {
    const bodies = Array.from({ length: pool.batches }, (_, i) => REQUESTS[protocol].body(pool.columns(i), pool.body(i)));
    const measured = await ctx.withAggregators(`protocols_${protocol.replace('-', '_')}`, async ({ aggregators }) => {
      const started = performance.now();
      await send(aggregators.urls, bodies, protocol, options.seedClients);
      const seconds = (performance.now() - started) / 1000;
      await waitDrained(aggregators.urls[0]!, options.drainTimeoutSeconds * 1000);
      return { seconds, final: await readStats(aggregators.urls[0]!) };
    });
    measuredAll ??= measured;
    const { seconds, final } = measured.value;
    rates[protocol] = events / seconds;
    const exact = final.received === events && final.unique_processed === unique && final.duplicate_dropped === events - unique;
    result.check(
      `${protocol} /stats exact`,
      exact,
      `received ${final.received}/${events}, unique ${final.unique_processed}/${unique}, duplicates ${final.duplicate_dropped}/${events - unique}`,
    );
    ctx.log(`protocols: ${protocol} ${Math.round(events / seconds)} ev/s, stats ${exact ? 'exact' : 'WRONG'}`);
  }
  if (measuredAll) recordMachine(result, measuredAll);
  const base = rates.publish ?? Number.NaN;
  result.runs.record({
    ...rates,
    ...Object.fromEntries(PROTOCOLS.filter((p) => p !== 'publish').map((p) => [`${p}_ratio`, (rates[p] ?? Number.NaN) / base])),
  });
}

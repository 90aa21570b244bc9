/**
 * Scenario `standby` (issue 28, docs/SCALING.md "Reads from streaming replicas (hot standby)"):
 * the lag a reader on a hot standby sees, beside a reader on the primary. Two embedded servers of
 * its own, a primary and a synchronous streaming standby; two aggregators on the primary, one
 * reading GET /events there, one with READ_DATABASE_URL on the standby. 20 single-event
 * publishes 0.3-1 s apart; for each, the time from its 202 until it is on both readers' pages
 * (both polled every 5 ms at once).
 */
import { startStreamingPair } from '../../aggregator/local/streaming-pair';
import postgres from 'postgres';
import { loadAverage } from '../lib/proc';
import { type Context, ScenarioResult } from '../lib/scenario';
import { startAggregators, withDatabase } from '../lib/server';

const PUBLISHES = 20;
const TOPIC = 'standby';
const READERS = ['primary', 'standby'] as const;

export function standbyResult(): ScenarioResult {
  return new ScenarioResult('standby', `Reads on a hot standby: publish (202) to visible, ${PUBLISHES} publishes 0.3-1 s apart`, [
    ...READERS.flatMap((reader) => [
      { key: `${reader}_p50`, label: `202 -> on GET /events read on the ${reader}, p50`, unit: 'ms' as const },
      { key: `${reader}_p90`, label: `202 -> on GET /events read on the ${reader}, p90`, unit: 'ms' as const },
    ]),
    { key: 'ratio_p50', label: 'standby / primary, p50', unit: 'x' as const },
  ]);
}

const median90 = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
  return { p50: at(0.5), p90: at(0.9) };
};

/** performance.now() when `eventId` is first on a GET /events page of `url`. */
async function visibleAt(url: string, eventId: string, after: number): Promise<number> {
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline) {
    const response = await fetch(`${url}/events?topic=${TOPIC}&after=${after}`);
    const { events } = (await response.json()) as { events: { event_id: string }[] };
    if (events.some((e) => e.event_id === eventId)) return performance.now();
    await Bun.sleep(5);
  }
  throw new Error(`${eventId} not on GET /events of ${url} within 30 s`);
}

export async function runStandby(ctx: Context, result: ScenarioResult): Promise<void> {
  const pair = await startStreamingPair();
  try {
    const admin = postgres(pair.primaryUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe('CREATE DATABASE bench_standby');
    await admin.end();
    const primaryUrl = withDatabase(pair.primaryUrl, 'bench_standby');
    const standbyUrl = withDatabase(pair.standbyUrl, 'bench_standby');
    const onPrimary = await startAggregators(ctx.server, primaryUrl, 1, { ...ctx.aggregatorEnv });
    const onStandby = await startAggregators(ctx.server, primaryUrl, 1, { ...ctx.aggregatorEnv, WORKERS: '0', READ_DATABASE_URL: standbyUrl });
    const lags: Record<(typeof READERS)[number], number[]> = { primary: [], standby: [] };
    try {
      let seed = 28;
      for (let i = 0; i < PUBLISHES; i++) {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        await Bun.sleep(300 + (seed % 700));
        const eventId = `standby-${i}`;
        const body = JSON.stringify([{ topic: TOPIC, event_id: eventId, timestamp: new Date().toISOString(), source: 'bench', payload: { i } }]);
        const response = await fetch(`${onPrimary.urls[0]}/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        const acknowledged = performance.now();
        if (response.status !== 202) throw new Error(`publish answered ${response.status}`);
        // Every earlier event is visible on both: page from the start of this run's topic is cheap (20 events).
        const [primaryAt, standbyAt] = await Promise.all([visibleAt(onPrimary.urls[0]!, eventId, 0), visibleAt(onStandby.urls[0]!, eventId, 0)]);
        lags.primary.push(primaryAt - acknowledged);
        lags.standby.push(standbyAt - acknowledged);
      }
    } finally {
      await onPrimary.stop();
      await onStandby.stop();
    }
    const figures: Record<string, number> = { load1: loadAverage() };
    for (const reader of READERS) {
      const { p50, p90 } = median90(lags[reader]);
      figures[`${reader}_p50`] = p50;
      figures[`${reader}_p90`] = p90;
    }
    figures.ratio_p50 = figures.standby_p50! / figures.primary_p50!;
    ctx.log(
      `standby: primary p50 ${figures.primary_p50!.toFixed(0)} ms, p90 ${figures.primary_p90!.toFixed(0)} ms; standby p50 ${figures.standby_p50!.toFixed(0)} ms, p90 ${figures.standby_p90!.toFixed(0)} ms`,
    );
    result.runs.record(figures);
    result.check('every publish visible on both readers', true, `${PUBLISHES} publishes`);
  } finally {
    await pair.destroy();
  }
}

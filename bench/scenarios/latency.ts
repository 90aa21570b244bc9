/**
 * Scenario 11 (issue 21): an idle aggregator's live latency. 20 single-event publishes spaced
 * 0.5-2 s apart (a fixed pseudo-random schedule); for each, the time from its 202 until it is on
 * GET /events (polled every 5 ms) and on a /subscribe stream opened before the first publish.
 * With one replica, and with three (published to replica i mod 3, paged on the next one,
 * subscribed on the last: a wake-up crosses replicas). Target: p90 <= 100 ms for both.
 */
import { loadAverage } from '../lib/proc';
import type { Context } from '../lib/scenario';
import { ScenarioResult } from '../lib/scenario';
import { startAggregators } from '../lib/server';

const PUBLISHES = 20;
const TOPIC = 'live';
const REPLICAS = [1, 3] as const;

export function latencyResult(): ScenarioResult {
  const rows = REPLICAS.flatMap((n) => [
    { key: `events_p50_${n}`, label: `${n} replica(s): 202 -> on GET /events, p50`, unit: 'ms' as const },
    { key: `events_p90_${n}`, label: `${n} replica(s): 202 -> on GET /events, p90`, unit: 'ms' as const },
    { key: `subscribe_p50_${n}`, label: `${n} replica(s): 202 -> on /subscribe, p50`, unit: 'ms' as const },
    { key: `subscribe_p90_${n}`, label: `${n} replica(s): 202 -> on /subscribe, p90`, unit: 'ms' as const },
  ]);
  return new ScenarioResult('latency', `Idle latency: publish (202) to visible, ${PUBLISHES} publishes 0.5-2 s apart`, rows);
}

const percentile = (values: readonly number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};

/** Arrival time (performance.now()) of each event_id on a /subscribe stream. */
async function subscribe(url: string, arrivals: Map<string, number>): Promise<() => void> {
  const controller = new AbortController();
  const response = await fetch(`${url}/subscribe?topic=${TOPIC}&after=0`, { signal: controller.signal });
  if (response.status !== 200 || !response.body) throw new Error(`/subscribe answered ${response.status}`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  void (async () => {
    let buffer = '';
    for (;;) {
      const chunk = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (chunk.done) return;
      buffer += chunk.value;
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const data = buffer
          .slice(0, end)
          .split('\n')
          .find((line) => line.startsWith('data: '));
        buffer = buffer.slice(end + 2);
        if (data) arrivals.set((JSON.parse(data.slice(6)) as { event_id: string }).event_id, performance.now());
      }
    }
  })();
  return () => controller.abort();
}

async function onEventsPage(url: string, eventId: string, after: number): Promise<{ at: number; seq: number }> {
  for (const deadline = performance.now() + 30_000; performance.now() < deadline; await Bun.sleep(5)) {
    const page = (await (await fetch(`${url}/events?topic=${TOPIC}&after=${after}`)).json()) as { events: { event_id: string; seq: number }[] };
    const found = page.events.find((e) => e.event_id === eventId);
    if (found) return { at: performance.now(), seq: found.seq };
  }
  throw new Error(`${eventId} not on GET /events within 30 s`);
}

export async function runLatency(ctx: Context, result: ScenarioResult): Promise<void> {
  const figures: Record<string, number> = { load1: loadAverage() };
  for (const replicas of REPLICAS) {
    const db = `bench_latency_${replicas}`;
    const url = await ctx.server.createDatabase(db, true);
    const aggregators = await startAggregators(ctx.server, url, replicas, { ...ctx.aggregatorEnv });
    const arrivals = new Map<string, number>();
    const stop = await subscribe(aggregators.urls.at(-1)!, arrivals);
    const toEvents: number[] = [];
    const toSubscribe: number[] = [];
    try {
      let seed = 21;
      let after = 0;
      for (let i = 0; i < PUBLISHES; i++) {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        await Bun.sleep(500 + (seed % 1500));
        const eventId = `live-${replicas}-${i}`;
        const body = JSON.stringify([{ topic: TOPIC, event_id: eventId, timestamp: new Date().toISOString(), source: 'bench', payload: { i } }]);
        const response = await fetch(`${aggregators.urls[i % replicas]}/publish`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
        const acknowledged = performance.now();
        if (response.status !== 202) throw new Error(`publish answered ${response.status}`);
        const paged = await onEventsPage(aggregators.urls[(i + 1) % replicas]!, eventId, after);
        after = paged.seq;
        toEvents.push(paged.at - acknowledged);
        for (const deadline = performance.now() + 30_000; !arrivals.has(eventId) && performance.now() < deadline; ) await Bun.sleep(1);
        const arrived = arrivals.get(eventId);
        if (arrived === undefined) throw new Error(`${eventId} not on /subscribe within 30 s`);
        toSubscribe.push(arrived - acknowledged);
      }
    } finally {
      stop();
      await aggregators.stop();
      await ctx.server.dropDatabase(db);
    }
    figures[`events_p50_${replicas}`] = percentile(toEvents, 50);
    figures[`events_p90_${replicas}`] = percentile(toEvents, 90);
    figures[`subscribe_p50_${replicas}`] = percentile(toSubscribe, 50);
    figures[`subscribe_p90_${replicas}`] = percentile(toSubscribe, 90);
    ctx.log(
      `latency (${replicas} replica(s)): GET /events p50 ${figures[`events_p50_${replicas}`]!.toFixed(0)} ms, p90 ${figures[`events_p90_${replicas}`]!.toFixed(0)} ms; /subscribe p50 ${figures[`subscribe_p50_${replicas}`]!.toFixed(0)} ms, p90 ${figures[`subscribe_p90_${replicas}`]!.toFixed(0)} ms`,
    );
  }
  result.runs.record(figures);
  result.check('every publish visible on GET /events and /subscribe', true, `${PUBLISHES} publishes x ${REPLICAS.length} layouts`);
}

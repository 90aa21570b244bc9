/**
 * Scenario 4: soak. The sustained load for `soakSeconds`, sampling every 5 s the aggregator's
 * RSS (VmRSS), the inbox's dead tuples and /stats; compares the first and last minute.
 */
import type { BatchPool } from '../lib/generate';
import { runLoad } from '../lib/http-load';
import { checkpoints, eventsBytes, eventsDeadTuples, inboxDeadTuples, walBytes } from '../lib/pg-stats';
import { cpuBetween, type CpuSnapshot, cpuSnapshot, rssBytes } from '../lib/proc';
import { type Context, recordMachine, ScenarioResult } from '../lib/scenario';
import { processed, readStats, waitDrained } from '../lib/stats';

const SAMPLE_MS = 5_000;
const MB = 2 ** 20;

interface Sample {
  t: number;
  rssMB: number;
  deadTuples: number;
  /** Dead tuples of the events partitions and key generations (retention). */
  eventsDead: number;
  pending: number;
  processed: number;
  /** Size of `events` with its indexes. */
  eventsMB: number;
  /** WAL written since the start. */
  walMB: number;
  /** Checkpoints since the start. */
  checkpoints: number;
  /** Who used the CPU up to now, to tell a slow minute caused by others from a degradation. */
  cpu: CpuSnapshot;
}

export function soakResult(): ScenarioResult {
  return new ScenarioResult('soak', 'Soak (sustained load, one long run)', [
    { key: 'accepted_first', label: 'accepted events/s, first window', unit: 'ev/s' },
    { key: 'accepted_last', label: 'accepted events/s, last window', unit: 'ev/s' },
    { key: 'processed_first', label: 'processed events/s, first window', unit: 'ev/s' },
    { key: 'processed_last', label: 'processed events/s, last window', unit: 'ev/s' },
    { key: 'processed_ratio', label: 'processed last / first', unit: 'x' },
    { key: 'other_first', label: "other processes' CPU, first window", unit: '%' },
    { key: 'other_last', label: "other processes' CPU, last window", unit: '%' },
    { key: 'rss_first', label: 'aggregator RSS at the end of the first window', unit: 'MB' },
    { key: 'rss_last', label: 'aggregator RSS at the end', unit: 'MB' },
    { key: 'rss_max', label: 'aggregator RSS max', unit: 'MB' },
    { key: 'rss_growth', label: 'RSS max after the first window / RSS at its end', unit: 'x' },
    // Dead tuples saw-tooth between autovacuum runs, so peaks of halves are compared, not of
    // minutes: a minute may or may not hold a peak.
    { key: 'dead_first', label: 'inbox dead tuples, peak in the first half', unit: 'n' },
    { key: 'dead_last', label: 'inbox dead tuples, peak in the second half', unit: 'n' },
    { key: 'events_dead_first', label: 'events + keys dead tuples, peak in the first half', unit: 'n' },
    { key: 'events_dead_last', label: 'events + keys dead tuples, peak in the second half', unit: 'n' },
    { key: 'pending_max', label: 'largest pending seen', unit: 'n' },
    { key: 'events_mb', label: 'events table + indexes at the end', unit: 'MB' },
    { key: 'wal_mb_s', label: 'WAL written, MB/s', unit: 'MB' },
    { key: 'checkpoints', label: 'checkpoints during the soak', unit: 'n' },
    { key: 'p99', label: 'latency p99 over the whole soak', unit: 'ms' },
    { key: 'errors', label: 'errors (incl. non-2xx other than 429)', unit: 'n' },
    { key: 'status429', label: '429 responses', unit: 'n' },
    { key: 'drain', label: 'drain time after the soak', unit: 's' },
  ]);
}

/** Value of `samples` nearest to time t. */
const at = (samples: Sample[], t: number) => samples.reduce((best, s) => (Math.abs(s.t - t) < Math.abs(best.t - t) ? s : best));
const maxOf = (samples: Sample[], from: number, to: number, pick: (s: Sample) => number) =>
  samples.filter((s) => s.t >= from && s.t <= to).reduce((max, s) => Math.max(max, pick(s)), 0);

export async function runSoak(ctx: Context, result: ScenarioResult, pool: BatchPool): Promise<void> {
  const { options } = ctx;
  const seconds = options.soakSeconds;
  // "First and last minute"; shorter soaks (--quick) compare their first and last third.
  const window = Math.min(60, seconds / 3);
  const { admin } = ctx.server;
  const measured = await ctx.withAggregators('soak', async ({ aggregators, sql }) => {
    const [url] = aggregators.urls;
    const samples: Sample[] = [];
    const started = performance.now();
    const [wal0, checkpoints0] = [await walBytes(admin), await checkpoints(admin)];
    const sample = async () => {
      const t = (performance.now() - started) / 1000;
      const rss = Math.max(...aggregators.pids.map(rssBytes));
      const cpu = cpuSnapshot(aggregators.pids, ctx.server.postmasterPid);
      const stats = await readStats(url!).catch(() => null);
      const [deadTuples, events, wal, checkpointCount, eventsDead] = await Promise.all([
        inboxDeadTuples(sql),
        eventsBytes(sql),
        walBytes(admin),
        checkpoints(admin),
        eventsDeadTuples(sql),
      ]).catch(() => [Number.NaN, Number.NaN, Number.NaN, Number.NaN, Number.NaN]);
      if (!stats) return;
      samples.push({
        t,
        rssMB: rss / MB,
        deadTuples: deadTuples!,
        eventsDead: eventsDead!,
        pending: stats.pending,
        processed: processed(stats),
        eventsMB: events! / MB,
        walMB: (wal! - wal0) / MB,
        checkpoints: checkpointCount! - checkpoints0,
        cpu,
      });
    };
    await sample();
    const timer = setInterval(sample, SAMPLE_MS);
    const load = await runLoad({ urls: aggregators.urls, connections: options.connections, seconds, pool, cursor: { next: 0 } });
    clearInterval(timer);
    await sample();
    const drained = await waitDrained(url!, options.drainTimeoutSeconds * 1000, load.endedAt);
    return { load, samples, drained };
  });
  recordMachine(result, measured);
  const { load, samples, drained } = measured.value;
  const end = load.seconds;
  const okSum = (from: number, to: number) => load.okPerSecond.slice(from, to).reduce((a, b) => a + b, 0);
  const w = Math.floor(window);
  const lastFrom = Math.max(w, Math.floor(end) - w);
  const processedRate = (from: number, to: number) =>
    (at(samples, to).processed - at(samples, from).processed) / (at(samples, to).t - at(samples, from).t);
  const rssFirst = at(samples, window).rssMB;
  const otherCpu = (from: number, to: number) => cpuBetween(at(samples, from).cpu, at(samples, to).cpu).otherPct;
  const figures = {
    accepted_first: (okSum(0, w) * options.batch) / w,
    accepted_last: (okSum(lastFrom, lastFrom + w) * options.batch) / w,
    processed_first: processedRate(0, window),
    processed_last: processedRate(end - window, end),
    processed_ratio: 0,
    other_first: otherCpu(0, window),
    other_last: otherCpu(end - window, end),
    rss_first: rssFirst,
    rss_last: samples.at(-1)!.rssMB,
    rss_max: Math.max(...samples.map((s) => s.rssMB)),
    rss_growth: maxOf(samples, window, end, (s) => s.rssMB) / rssFirst,
    dead_first: maxOf(samples, 0, end / 2, (s) => s.deadTuples),
    dead_last: maxOf(samples, end / 2, end, (s) => s.deadTuples),
    events_dead_first: maxOf(samples, 0, end / 2, (s) => s.eventsDead),
    events_dead_last: maxOf(samples, end / 2, end, (s) => s.eventsDead),
    pending_max: Math.max(...samples.map((s) => s.pending)),
    events_mb: samples.at(-1)!.eventsMB,
    wal_mb_s: samples.at(-1)!.walMB / samples.at(-1)!.t,
    checkpoints: samples.at(-1)!.checkpoints,
    p99: load.latency.p99,
    errors: load.errors + load.otherStatus,
    status429: load.tooMany,
    drain: drained.seconds,
  };
  figures.processed_ratio = figures.processed_last / figures.processed_first;
  result.runs.record(figures);
  result.data.window = window;
  result.data.timeline = samples.map(({ cpu: _, ...s }) => ({
    ...s,
    t: Number(s.t.toFixed(1)),
    rssMB: Number(s.rssMB.toFixed(1)),
    eventsMB: Number(s.eventsMB.toFixed(1)),
    walMB: Number(s.walMB.toFixed(1)),
  }));
  result.notes.push(timelineTable(samples, window));
  ctx.log(
    `soak: processed ${Math.round(figures.processed_first)} -> ${Math.round(figures.processed_last)} ev/s, RSS ${rssFirst.toFixed(0)} -> ${figures.rss_last.toFixed(0)} MB, dead tuples max ${Math.max(figures.dead_first, figures.dead_last)}`,
  );
}

/** A markdown timeline, one row per window-sized step (about ten rows for any soak length). */
function timelineTable(samples: Sample[], window: number): string {
  const step = Math.max(SAMPLE_MS / 1000, window / 2);
  const lines = [
    "| t (s) | processed events/s since previous row | pending | RSS (MB) | inbox dead tuples | events + indexes (MB) | WAL MB/s since previous row | checkpoints so far | other processes' CPU since previous row |",
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  let previous: Sample | null = null;
  for (let t = 0; t <= samples.at(-1)!.t + 0.1; t += step) {
    const s = at(samples, t);
    if (previous === s) continue;
    const per = (pick: (x: Sample) => number) => (previous ? (pick(s) - pick(previous)) / (s.t - previous.t) : Number.NaN);
    const rate = previous ? Math.round(per((x) => x.processed)).toLocaleString('en-US') : '';
    const wal = previous ? per((x) => x.walMB).toFixed(1) : '';
    const other = previous ? `${cpuBetween(previous.cpu, s.cpu).otherPct.toFixed(1)}%` : '';
    lines.push(
      `| ${s.t.toFixed(0)} | ${rate} | ${s.pending.toLocaleString('en-US')} | ${s.rssMB.toFixed(0)} | ${s.deadTuples.toLocaleString('en-US')} | ${s.eventsMB.toFixed(0)} | ${wal} | ${s.checkpoints} | ${other} |`,
    );
    previous = s;
  }
  return `Soak timeline:\n\n${lines.join('\n')}`;
}

/** GET /stats: one read, waiting for the backlog to drain, and sampling it during a run. */

import type { Stats as StatsBody } from '../../aggregator/src/api/contract';

/** The counters of /stats a benchmark compares (topics and uptime left out). */
export type Stats = Pick<StatsBody, 'received' | 'unique_processed' | 'duplicate_dropped' | 'pending'>;

export const processed = (s: Stats) => s.unique_processed + s.duplicate_dropped;

export async function readStats(baseUrl: string): Promise<Stats> {
  const response = await fetch(`${baseUrl}/stats`, { signal: AbortSignal.timeout(30_000) });
  if (!response.ok) throw new Error(`GET /stats answered ${response.status}: ${await response.text()}`);
  const body = (await response.json()) as StatsBody;
  return { received: body.received, unique_processed: body.unique_processed, duplicate_dropped: body.duplicate_dropped, pending: body.pending };
}

export interface Drained {
  /** Seconds from `since` until /stats said pending == 0; NaN if it did not within the timeout. */
  seconds: number;
  stats: Stats;
}

/**
 * Polls /stats every `intervalMs` until pending == 0. The figure is as precise as the interval
 * (20 ms by default) plus one /stats round trip. `since` (a performance.now() value, default now)
 * is where the clock starts, e.g. the moment the load stopped.
 */
export async function waitDrained(baseUrl: string, timeoutMs: number, since = performance.now(), intervalMs = 20): Promise<Drained> {
  const started = since;
  for (;;) {
    const stats = await readStats(baseUrl);
    const elapsed = performance.now() - started;
    if (stats.pending === 0) return { seconds: elapsed / 1000, stats };
    if (elapsed > timeoutMs) return { seconds: Number.NaN, stats };
    await Bun.sleep(intervalMs);
  }
}

export interface Sample extends Stats {
  /** Seconds since the sampler started. */
  t: number;
}

/** Reads /stats every `intervalMs` in the background until stopped; failures are skipped. */
export class StatsSampler {
  readonly samples: Sample[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly started = performance.now();

  constructor(
    private readonly baseUrl: string,
    intervalMs: number,
  ) {
    const sample = () =>
      readStats(this.baseUrl).then(
        (stats) => void this.samples.push({ ...stats, t: (performance.now() - this.started) / 1000 }),
        () => {},
      );
    void sample();
    this.timer = setInterval(sample, intervalMs);
  }

  stop(): Sample[] {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    return this.samples;
  }

  /** Largest backlog seen. */
  get maxPending(): number {
    return this.samples.reduce((max, s) => Math.max(max, s.pending), 0);
  }
}

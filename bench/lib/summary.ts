/** Percentiles of one run's samples and the median-with-spread of a figure across runs. */

/** Nearest-rank percentile (p in 0..100) of ascending samples; NaN when there are none. */
function rank(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export interface Latency {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  count: number;
}

/** p50/p95/p99/max of latency samples in ms (one sort for all four). */
export function latency(samples: readonly number[]): Latency {
  const sorted = Float64Array.from(samples).sort();
  return { p50: rank(sorted, 50), p95: rank(sorted, 95), p99: rank(sorted, 99), max: rank(sorted, 100), count: sorted.length };
}

/** A figure over several runs: the median is the value, min and max its spread. */
export interface Figure {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

export function figure(runs: readonly number[]): Figure {
  const finite = runs.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, runs: [...runs] };
  const sorted = [...finite].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, runs: [...runs] };
}

/**
 * Collects named numbers run by run, then turns each name into a Figure. A scenario records
 * `{ "events/s": 1234, … }` per run and the report reads `figures()`.
 */
export class RunSet {
  private readonly values = new Map<string, number[]>();

  record(run: Record<string, number>): void {
    for (const [name, value] of Object.entries(run)) {
      let list = this.values.get(name);
      if (!list) this.values.set(name, (list = []));
      list.push(value);
    }
  }

  figures(): Record<string, Figure> {
    return Object.fromEntries([...this.values].map(([name, runs]) => [name, figure(runs)]));
  }
}

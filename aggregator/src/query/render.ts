/** Loki's response bodies (the shapes Grafana parses), from evaluated results. Pure. */
import type { StreamResult } from './log-query';
import { streamKey } from './entry';
import type { Series, Steps, Value } from './metric-query';

/** A sample value as Prometheus and Loki write it. */
export function formatSample(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

/** Seconds as a JSON number (Loki writes evaluation times as float seconds). */
const seconds = (ns: bigint) => Number(ns) / 1e9;

/** Series in label order, as Loki returns them. */
function sortedSeries(series: Series[]): Series[] {
  const keyed = series.map((s) => [streamKey(s.labels), s] as const);
  keyed.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return keyed.map(([, s]) => s);
}

export function streamsBody(result: StreamResult[], encodingFlags: string[]): unknown {
  const data: Record<string, unknown> = { resultType: 'streams', result };
  if (encodingFlags.length > 0) data.encodingFlags = encodingFlags;
  return { status: 'success', data };
}

export function matrixBody(value: Value, steps: Steps): unknown {
  const at = (k: number) => seconds(steps.startNs + BigInt(steps.stepNs) * BigInt(k));
  if (value.kind === 'scalar') {
    const values = Array.from({ length: steps.count }, (_, k) => [at(k), formatSample(value.value)]);
    return { status: 'success', data: { resultType: 'matrix', result: [{ metric: {}, values }] } };
  }
  const result = [];
  for (const series of sortedSeries(value.series)) {
    const values: [number, string][] = [];
    for (let k = 0; k < steps.count; k++) if (series.present[k]) values.push([at(k), formatSample(series.values[k]!)]);
    if (values.length > 0) result.push({ metric: series.labels, values });
  }
  return { status: 'success', data: { resultType: 'matrix', result } };
}

/** An instant query's result: evaluated at the one step of `steps`. */
export function vectorBody(value: Value, steps: Steps): unknown {
  const time = seconds(steps.startNs);
  if (value.kind === 'scalar') return { status: 'success', data: { resultType: 'scalar', result: [time, formatSample(value.value)] } };
  const result = sortedSeries(value.series)
    .filter((s) => s.present[0])
    .map((s) => ({ metric: s.labels, value: [time, formatSample(s.values[0]!)] }));
  return { status: 'success', data: { resultType: 'vector', result } };
}

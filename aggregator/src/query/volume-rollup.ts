/**
 * Grafana's log volume query, `sum by (level, detected_level) (count_over_time({topic="x"} | drop
 * __error__ [1m]))`, answered from the per-minute counts of `stream_minutes` (migration 0012)
 * instead of every payload of the range: a day of a busy topic is a few thousand rows, not a
 * million events.
 *
 * The shape: `sum` (by or without nothing but topic, source, level, detected_level) of
 * `count_over_time` or `bytes_over_time`, whose matchers name only those four labels and whose
 * only stages drop labels the grouping does not keep; start, step and range whole minutes, so
 * every window (t - range, t] is a union of minute buckets. Any other query, or a range holding
 * an event whose level SQL could not read ('unreadable') or a line whose bytes it could not count,
 * takes the in-process path (metric-query.ts). `rate` stays there too: a sum of per-stream
 * quotients differs from the quotient of the sum in the last bit.
 *
 * The rows say what decides the level (shape, levels); the labels come from toEntry reading a
 * payload of that shape holding only those fields, so both paths derive them with one code.
 * Maintenance folds events into the rollups every few seconds (retention/stream-minutes.ts);
 * the events above the fold's mark and below this read's horizon are counted here from the
 * events themselves, in the same statement and the same SQL, so the counts are exact however
 * far the fold lags (it only costs time: a few seconds of ingest read live).
 */
import type { Sql } from '../db/client';
import { horizonCte } from '../events/horizon';
import type { Labels } from './entry';
import { streamKey, toEntry } from './entry';
import type { MetricExpr } from './logql/ast';
import { groupLabels, type MetricContext, type Series, tooManySeries } from './metric-query';
import { candidateTopics } from './scan';

type Aggregate = Extract<MetricExpr, { kind: 'aggregate' }>;
type Range = Extract<MetricExpr, { kind: 'range' }>;

/** Labels a rollup row decides: logbus's own two and the level pair. */
const ROLLUP_LABELS = new Set(['topic', 'source', 'level', 'detected_level']);
const MINUTE_NS = 60_000_000_000n;

/** The range aggregation under `expr` when the expression fits the rollups, else null. */
export function volumeShape(expr: Aggregate): Range | null {
  const inner = expr.inner;
  if (expr.op !== 'sum' || inner.kind !== 'range' || (inner.op !== 'count_over_time' && inner.op !== 'bytes_over_time')) return null;
  const grouping = expr.grouping ?? { without: false, labels: [] };
  if (grouping.without || !grouping.labels.every((name) => ROLLUP_LABELS.has(name))) return null;
  if (!inner.selector.matchers.every((m) => ROLLUP_LABELS.has(m.name))) return null;
  const stagesFit = inner.selector.stages.every(
    (stage) => stage.kind === 'drop' && stage.names.every((name) => typeof name === 'string' && !grouping.labels.includes(name)),
  );
  return stagesFit ? inner : null;
}

interface Row {
  minute: string;
  topic: string;
  source: string;
  shape: 'loki' | 'otlp' | 'elastic' | 'plain' | 'unreadable';
  levels: string;
  events: string;
  bytes: string | null;
}

/** A payload of `shape` that toEntry reads with the level of the stored one (`levels`, JSON text). */
function levelPayload(shape: Row['shape'], levels: string): string {
  switch (shape) {
    case 'loki':
      return `{"line":"","time_unix_nano":"0","labels":${levels}}`;
    case 'otlp': {
      // The resource's level-like attributes come as [key, value] pairs in document order.
      const { severity_text, severity_number, resource } = JSON.parse(levels) as Record<string, unknown>;
      const attributes = Array.isArray(resource) ? Object.fromEntries(resource as [string, unknown][]) : null;
      return JSON.stringify({ body: '', severity_text, severity_number, resource: attributes });
    }
    case 'elastic':
      return `{"message":"","@timestamp":0,"level":${levels}}`;
    default:
      return `{"level":${levels}}`;
  }
}

/**
 * The series of `expr` from the rollups, or null when the query must read the events instead
 * (not aligned to minutes, or a row in range the rollups cannot answer for).
 */
export async function volumeFromRollups(expr: Aggregate, range: Range, ctx: MetricContext): Promise<Series[] | null> {
  const { steps } = ctx;
  const stepNs = BigInt(steps.stepNs);
  const rangeNs = BigInt(Math.round(range.rangeMs * 1e6));
  if (steps.startNs % MINUTE_NS !== 0n || stepNs % MINUTE_NS !== 0n || rangeNs % MINUTE_NS !== 0n) return null;
  const topics = await candidateTopics(ctx.tx, range.selector.matchers);
  if (topics !== null && topics.length === 0) return [];
  const first = steps.startNs / MINUTE_NS;
  const s = Number(stepNs / MINUTE_NS);
  const r = Number(rangeNs / MINUTE_NS);
  const last = first + BigInt(s * (steps.count - 1));
  const tx = ctx.tx;
  // Buckets first - r + 1 .. last: every minute some window (t - range, t] covers.
  const lo = (first - BigInt(r)).toString();
  const hi = last.toString();
  const rows = await tx<Row[]>`
    WITH ${horizonCte(tx as unknown as Sql, ctx.bound)},
    folded AS MATERIALIZED (SELECT through FROM stream_minutes_folded)
    SELECT minute::text, topic, source, shape, levels, sum(events)::text AS events,
      CASE WHEN bool_and(bytes IS NOT NULL) THEN sum(bytes)::text END AS bytes
    FROM (
      SELECT minute, topic, source, shape, levels, events, bytes
      FROM stream_minutes
      WHERE minute > ${lo}::int8 AND minute <= ${hi}::int8
        ${topics === null ? tx`` : tx`AND topic = ANY(${topics}::text[])`}
      UNION ALL
      -- Not folded yet: found by seq on (topic, seq), counted as the fold counts them.
      SELECT s.minute, e.topic, e.source, s.shape, s.levels, 1, s.line_bytes
      FROM events AS e
        CROSS JOIN LATERAL logbus_stream_of(e.payload, e."timestamp") AS s
      WHERE e.topic = ANY(${topics === null ? tx`ARRAY(SELECT name FROM topics)` : tx`${topics}::text[]`})
        AND e.seq > (SELECT through FROM folded) AND e.seq < (SELECT h FROM horizon)
        AND s.minute > ${lo}::int8 AND s.minute <= ${hi}::int8
    ) AS counted
    GROUP BY minute, topic, source, shape, levels`;
  const bytes = range.op === 'bytes_over_time';
  const matches = (labels: Labels, names?: string[]) =>
    range.selector.matchers.every((m) => (names && !names.includes(m.name)) || m.test(labels[m.name] ?? ''));
  // A row the rollups cannot answer for matters only if its topic and source may match.
  if (rows.some((row) => row.shape === 'unreadable' && matches({ topic: row.topic, source: row.source }, ['topic', 'source']))) return null;
  const series = new Map<string, Series>();
  const derived = new Map<string, Labels>();
  for (const row of rows) {
    if (row.shape === 'unreadable') continue;
    const key = `${row.topic}\n${row.source}\n${row.shape}\n${row.levels}`;
    let labels = derived.get(key);
    if (!labels) {
      labels = toEntry({ topic: row.topic, source: row.source, micros: '0', payload: levelPayload(row.shape, row.levels) }).labels;
      derived.set(key, labels);
    }
    if (!matches(labels)) continue;
    if (bytes && row.bytes === null) return null;
    const kept = groupLabels(labels, expr.grouping);
    const id = streamKey(kept);
    let one = series.get(id);
    if (!one) {
      if (series.size >= ctx.limits.maxSeries) tooManySeries(ctx.limits);
      one = { labels: kept, values: new Float64Array(steps.count), present: new Uint8Array(steps.count) };
      series.set(id, one);
    }
    // Minute m is in the window ending at T_k = first + k*s when T_k - r < m <= T_k.
    const m = Number(BigInt(row.minute) - first);
    const from = Math.max(0, Math.ceil(m / s));
    const to = Math.min(steps.count - 1, Math.floor((m + r - 1) / s));
    const amount = Number(bytes ? row.bytes : row.events);
    for (let k = from; k <= to; k++) {
      one.values[k]! += amount;
      one.present[k] = 1;
    }
  }
  return [...series.values()];
}

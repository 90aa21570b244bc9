/**
 * Metric queries, evaluated at start, start+step, ... <= end. A range aggregation counts each
 * entry into every evaluation time t with t - range < ts <= t (Loki's windows: end included,
 * start excluded), so one pass over the entries fills every step; vector aggregations, vector(n)
 * and arithmetic then work step by step on those arrays.
 */
import type { TransactionSql } from 'postgres';
import { QueryRejected } from '../errors';
import type { HorizonBound } from '../events/horizon';
import { type Labels, streamKey } from './entry';
import { type BinaryOp, type Grouping, type MetricExpr, requiredSubstrings } from './logql/ast';
import type { QueryLimits } from './limits';
import { runPipeline } from './pipeline';
import { scanEntries } from './scan';
import { volumeFromRollups, volumeShape } from './volume-rollup';

export interface Steps {
  startNs: bigint;
  /** Step in nanoseconds (a whole number). */
  stepNs: number;
  count: number;
}

export interface Series {
  labels: Labels;
  values: Float64Array;
  /** 1 where the series has a sample at that step. */
  present: Uint8Array;
}

export type Value = { kind: 'scalar'; value: number } | { kind: 'vector'; series: Series[] };

interface Context {
  tx: TransactionSql;
  bound: HorizonBound;
  steps: Steps;
  limits: QueryLimits;
  deadline: number;
  /** false: never answer from the rollups (volume-rollup.ts); tests compare both paths. */
  rollups?: boolean;
}

/** The evaluation times of start..end by step; over maxPoints is a 400 as in Loki. */
export function stepsOf(startNs: bigint, endNs: bigint, stepMs: number, limits: QueryLimits): Steps {
  const stepNs = Math.max(1, Math.round(stepMs * 1e6));
  const count = Number((endNs - startNs) / BigInt(stepNs)) + 1;
  if (count > limits.maxPoints) {
    throw new QueryRejected(
      `exceeded maximum resolution of ${limits.maxPoints} points per timeseries. Try decreasing the query resolution (?step=XX)`,
    );
  }
  return { startNs, stepNs, count };
}

function newSeries(labels: Labels, count: number): Series {
  return { labels, values: new Float64Array(count), present: new Uint8Array(count) };
}

export function tooManySeries(limits: QueryLimits): never {
  throw new QueryRejected(`maximum of series (${limits.maxSeries}) reached for a single query`);
}

async function rangeAggregation(expr: Extract<MetricExpr, { kind: 'range' }>, ctx: Context): Promise<Value> {
  const { steps, limits } = ctx;
  const rangeNs = Math.round(expr.rangeMs * 1e6);
  const lastNs = steps.startNs + BigInt(steps.stepNs) * BigInt(steps.count - 1);
  const series = new Map<string, Series>();
  const bytes = expr.op === 'bytes_over_time' || expr.op === 'bytes_rate';
  const scan = scanEntries(ctx.tx, ctx.bound, {
    startNs: steps.startNs - BigInt(rangeNs) + 1n,
    endNs: lastNs + 1n,
    matchers: expr.selector.matchers,
    contains: requiredSubstrings(expr.selector.stages),
    direction: 'forward',
    chunkRows: limits.chunkRows,
    maxScanBytes: limits.maxScanBytes,
    deadline: ctx.deadline,
  });
  for await (const entries of scan) {
    for (const entry of entries) {
      const processed = runPipeline(expr.selector.stages, entry.labels, entry.line);
      if (processed === null) continue;
      const key = streamKey(processed.labels);
      let one = series.get(key);
      if (!one) {
        if (series.size >= limits.maxSeries) tooManySeries(limits);
        one = newSeries(processed.labels, steps.count);
        series.set(key, one);
      }
      // Steps k with t_k - range < ts <= t_k, t_k = start + k * step.
      const offset = Number(BigInt(entry.ns) - steps.startNs);
      const first = Math.max(0, Math.ceil(offset / steps.stepNs));
      const last = Math.min(steps.count - 1, Math.ceil((offset + rangeNs) / steps.stepNs) - 1);
      const amount = bytes ? Buffer.byteLength(processed.line) : 1;
      for (let k = first; k <= last; k++) {
        one.values[k]! += amount;
        one.present[k] = 1;
      }
    }
  }
  if (expr.op === 'rate' || expr.op === 'bytes_rate') {
    for (const one of series.values()) for (let k = 0; k < steps.count; k++) one.values[k]! /= expr.rangeMs / 1000;
  }
  return { kind: 'vector', series: [...series.values()] };
}

export function groupLabels(labels: Labels, grouping: Grouping | null): Labels {
  if (grouping === null) return {};
  const out: Labels = {};
  if (grouping.without) {
    for (const [name, value] of Object.entries(labels)) if (!grouping.labels.includes(name)) out[name] = value;
  } else {
    for (const name of grouping.labels) if (labels[name] !== undefined && labels[name] !== '') out[name] = labels[name]!;
  }
  return out;
}

function aggregate(expr: Extract<MetricExpr, { kind: 'aggregate' }>, inner: Series[], ctx: Context): Series[] {
  const { count } = ctx.steps;
  const groups = new Map<string, { labels: Labels; members: Series[] }>();
  for (const one of inner) {
    const labels = groupLabels(one.labels, expr.grouping);
    const key = streamKey(labels);
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { labels, members: [] }));
    group.members.push(one);
  }
  if (expr.op === 'topk' || expr.op === 'bottomk') {
    // The chosen series keep their own labels, present only at the steps where they rank.
    const out = new Map<Series, Series>();
    for (const { members } of groups.values()) {
      for (let k = 0; k < count; k++) {
        const ranked = members
          .filter((s) => s.present[k])
          .sort((a, b) => (expr.op === 'topk' ? b.values[k]! - a.values[k]! : a.values[k]! - b.values[k]!));
        for (const s of ranked.slice(0, expr.k!)) {
          let chosen = out.get(s);
          if (!chosen) out.set(s, (chosen = newSeries(s.labels, count)));
          chosen.values[k] = s.values[k]!;
          chosen.present[k] = 1;
        }
      }
    }
    return [...out.values()];
  }
  const result: Series[] = [];
  for (const { labels, members } of groups.values()) {
    const one = newSeries(labels, count);
    for (let k = 0; k < count; k++) {
      let n = 0;
      let acc = 0;
      for (const s of members) {
        if (!s.present[k]) continue;
        const v = s.values[k]!;
        acc =
          n === 0
            ? expr.op === 'count'
              ? 1
              : v
            : expr.op === 'min'
              ? Math.min(acc, v)
              : expr.op === 'max'
                ? Math.max(acc, v)
                : expr.op === 'count'
                  ? acc + 1
                  : acc + v;
        n++;
      }
      if (n === 0) continue;
      one.values[k] = expr.op === 'avg' ? acc / n : acc;
      one.present[k] = 1;
    }
    result.push(one);
  }
  return result;
}

function arithmetic(op: BinaryOp, a: number, b: number): number {
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      return a / b;
    case '%':
      return a % b;
    case '^':
      return a ** b;
    case '==':
      return a === b ? 1 : 0;
    case '!=':
      return a !== b ? 1 : 0;
    case '>':
      return a > b ? 1 : 0;
    case '>=':
      return a >= b ? 1 : 0;
    case '<':
      return a < b ? 1 : 0;
    case '<=':
      return a <= b ? 1 : 0;
  }
}

const isComparison = (op: BinaryOp) => op === '==' || op === '!=' || op === '>' || op === '>=' || op === '<' || op === '<=';

/** One point of a binary operation; null when a comparison without `bool` filters it out. */
function combine(expr: Extract<MetricExpr, { kind: 'binary' }>, left: number, right: number, keep: number): number | null {
  const value = arithmetic(expr.op, left, right);
  if (!isComparison(expr.op) || expr.returnBool) return value;
  return value === 1 ? keep : null;
}

function binary(expr: Extract<MetricExpr, { kind: 'binary' }>, left: Value, right: Value, count: number): Value {
  if (left.kind === 'scalar' && right.kind === 'scalar') return { kind: 'scalar', value: arithmetic(expr.op, left.value, right.value) };
  const pointwise = (series: Series[], other: (s: Series, k: number) => number | null, vectorOnLeft: boolean) =>
    series.map((s) => {
      const out = newSeries(s.labels, count);
      for (let k = 0; k < count; k++) {
        const o = other(s, k);
        if (!s.present[k] || o === null) continue;
        const mine = s.values[k]!;
        const value = vectorOnLeft ? combine(expr, mine, o, mine) : combine(expr, o, mine, o);
        if (value === null) continue;
        out.values[k] = value;
        out.present[k] = 1;
      }
      return out;
    });
  if (left.kind === 'vector' && right.kind === 'scalar') return { kind: 'vector', series: pointwise(left.series, () => right.value, true) };
  if (left.kind === 'scalar' && right.kind === 'vector') return { kind: 'vector', series: pointwise(right.series, () => left.value, false) };
  // Vector and vector: one-to-one on identical label sets.
  const rights = new Map((right as { series: Series[] }).series.map((s) => [streamKey(s.labels), s]));
  const matched = (left as { series: Series[] }).series.filter((s) => rights.has(streamKey(s.labels)));
  return {
    kind: 'vector',
    series: pointwise(
      matched,
      (s, k) => {
        const r = rights.get(streamKey(s.labels))!;
        return r.present[k] ? r.values[k]! : null;
      },
      true,
    ),
  };
}

export async function evaluate(expr: MetricExpr, ctx: Context): Promise<Value> {
  switch (expr.kind) {
    case 'scalar':
      return { kind: 'scalar', value: expr.value };
    case 'vector': {
      const one = newSeries({}, ctx.steps.count);
      one.values.fill(expr.value);
      one.present.fill(1);
      return { kind: 'vector', series: [one] };
    }
    case 'range':
      return rangeAggregation(expr, ctx);
    case 'aggregate': {
      const range = ctx.rollups === false ? null : volumeShape(expr);
      const counted = range === null ? null : await volumeFromRollups(expr, range, ctx);
      if (counted !== null) return { kind: 'vector', series: counted };
      const inner = await evaluate(expr.inner, ctx);
      if (inner.kind !== 'vector') throw new QueryRejected(`${expr.op} needs a vector, not a scalar`);
      return { kind: 'vector', series: aggregate(expr, inner.series, ctx) };
    }
    case 'binary': {
      const left = await evaluate(expr.left, ctx);
      const right = await evaluate(expr.right, ctx);
      return binary(expr, left, right, ctx.steps.count);
    }
  }
}

export type { Context as MetricContext };

/**
 * The query string of the Loki API as Grafana sends it: times as nanosecond integers (float
 * seconds and RFC 3339 accepted too), `limit`, `direction`, `step` (`500ms`, or seconds). Pure;
 * a bad value is a QueryRejected (400) naming the parameter.
 */
import { QueryRejected } from '../errors';
import { parseDuration } from './logql/literals';
import type { QueryLimits } from './limits';

export type Query = Record<string, string | string[] | undefined>;

const NS_PER_MS = 1_000_000n;

/** One value of a parameter (the last, when it is repeated). */
export function param(query: Query, name: string): string | undefined {
  const value = query[name];
  return Array.isArray(value) ? value.at(-1) : value;
}

/** Unix nanoseconds from an integer (nanoseconds), a decimal (seconds) or RFC 3339 text. */
export function parseTime(text: string, name: string): bigint {
  const value = text.trim();
  if (/^-?\d{1,19}$/.test(value)) return BigInt(value);
  if (/^-?\d+\.\d*$/.test(value)) {
    const [whole, fraction = ''] = value.split('.');
    const negative = whole!.startsWith('-');
    const nanos = BigInt(whole!) * 1_000_000_000n + (negative ? -1n : 1n) * BigInt(fraction.slice(0, 9).padEnd(9, '0'));
    return nanos;
  }
  const rfc = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i.exec(value);
  if (rfc) {
    const ms = Date.parse(`${rfc[1]}${rfc[3]!.toUpperCase()}`);
    if (Number.isFinite(ms)) return BigInt(ms) * NS_PER_MS + BigInt((rfc[2] ?? '').padEnd(9, '0'));
  }
  throw new QueryRejected(
    `invalid parameter "${name}": cannot parse ${JSON.stringify(text.slice(0, 64))} as a timestamp (nanoseconds, seconds with a decimal point, or RFC 3339)`,
  );
}

export interface RangeParams {
  query: string;
  startNs: bigint;
  endNs: bigint;
  limit: number;
  direction: 'forward' | 'backward';
  /** Metric step in ms (Loki's default: range / 250 points, at least 1 s). */
  stepMs: number;
}

export function requireQuery(query: Query): string {
  const text = param(query, 'query');
  if (text === undefined || text.trim() === '') throw new QueryRejected('invalid parameter "query": a LogQL query is required');
  return text;
}

export function parseLimit(query: Query, limits: QueryLimits): number {
  const text = param(query, 'limit');
  if (text === undefined || text === '') return limits.defaultLimit;
  const limit = Number(text);
  if (!Number.isInteger(limit) || limit < 1) throw new QueryRejected(`invalid parameter "limit": ${JSON.stringify(text)} is not a positive integer`);
  if (limit > limits.maxLimit)
    throw new QueryRejected(`max entries limit per query exceeded, limit > max_entries_limit (${limit} > ${limits.maxLimit})`);
  return limit;
}

export function parseDirection(query: Query): 'forward' | 'backward' {
  const text = (param(query, 'direction') ?? 'backward').toLowerCase();
  if (text !== 'forward' && text !== 'backward')
    throw new QueryRejected(`invalid parameter "direction": ${JSON.stringify(text)}, expected forward or backward`);
  return text;
}

/** start..end (defaults: the last hour), checked against the widest range allowed. */
export function parseRange(query: Query, limits: QueryLimits, nowNs: bigint): { startNs: bigint; endNs: bigint } {
  const endText = param(query, 'end');
  const startText = param(query, 'start');
  const endNs = endText ? parseTime(endText, 'end') : nowNs;
  const startNs = startText ? parseTime(startText, 'start') : endNs - 3_600_000n * NS_PER_MS;
  if (endNs < startNs) throw new QueryRejected('invalid parameter "end": the end timestamp must not be before the start time');
  if (endNs - startNs > BigInt(limits.maxRangeMs) * NS_PER_MS) {
    throw new QueryRejected(
      `the query time range exceeds the limit (query length: ${formatMs(Number((endNs - startNs) / NS_PER_MS))}, limit: ${formatMs(limits.maxRangeMs)})`,
    );
  }
  return { startNs, endNs };
}

function formatMs(ms: number): string {
  return `${Math.floor(ms / 3_600_000)}h${Math.floor((ms % 3_600_000) / 60_000)}m${(ms % 60_000) / 1000}s`;
}

export function parseStep(query: Query, startNs: bigint, endNs: bigint): number {
  const text = param(query, 'step');
  if (text === undefined || text === '') return Math.max(1000, Math.floor(Number((endNs - startNs) / NS_PER_MS) / 250 / 1000) * 1000);
  const seconds = /^\d+(\.\d+)?$/.test(text) ? Number(text) * 1000 : parseDuration(text);
  if (seconds === null || !(seconds > 0)) throw new QueryRejected(`invalid parameter "step": ${JSON.stringify(text)} is not a positive duration`);
  return seconds;
}

export function parseRangeParams(query: Query, limits: QueryLimits, nowNs: bigint): RangeParams {
  const { startNs, endNs } = parseRange(query, limits, nowNs);
  return {
    query: requireQuery(query),
    startNs,
    endNs,
    limit: parseLimit(query, limits),
    direction: parseDirection(query),
    stepMs: parseStep(query, startNs, endNs),
  };
}

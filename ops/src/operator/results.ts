/**
 * A finished run's result, read from its pod's log (pure parsers, unit-tested): the publisher
 * prints its JSON summary last (PUBLISHER_JSON=true, a pretty-printed object starting with a
 * line "{" and ending with a line "}"); k6 prints the text summary of k6/load.js handleSummary.
 */
import type { RunResult } from './resources.ts';

interface PublisherSummary {
  accepted: number;
  duplicates_injected: number;
  failed: number;
  events_per_sec: number;
  latency_ms: { p50: number; p95: number; p99: number } | null;
  verify?: { ok: boolean; problems: string[] };
  verify_error?: string;
}

/** The publisher's summary from its log, or null when the log holds none. */
export function publisherResult(log: string, verifyAsked: boolean): RunResult | null {
  const lines = log.split('\n');
  const end = lines.lastIndexOf('}');
  if (end < 0) return null;
  const start = lines.lastIndexOf('{', end);
  if (start < 0) return null;
  let s: PublisherSummary;
  try {
    s = JSON.parse(lines.slice(start, end + 1).join('\n'));
  } catch {
    return null;
  }
  const r: RunResult = {
    accepted: s.accepted,
    duplicates: s.duplicates_injected,
    failures: s.failed,
    throughput: String(s.events_per_sec),
    ...(s.latency_ms ? { latencyMs: { p50: String(s.latency_ms.p50), p95: String(s.latency_ms.p95), p99: String(s.latency_ms.p99) } } : {}),
  };
  if (verifyAsked) {
    r.verified = !!s.verify?.ok;
    if (!r.verified) r.message = s.verify_error ?? s.verify?.problems.join('; ') ?? 'no verification in the summary';
  }
  return r;
}

/** The k6 summary (k6/load.js handleSummary) from its log, or null when absent. */
export function k6Result(log: string): RunResult | null {
  const num = (re: RegExp) => {
    const m = re.exec(log);
    return m ? Number(m[1]) : undefined;
  };
  const requests = num(/requests\s+(\d+)/);
  if (requests === undefined) return null;
  const rate = /requests\s+\d+ \(([\d.]+)\/s\)/.exec(log)?.[1];
  const failedPct = num(/failed rate\s+([\d.]+) %/) ?? 0;
  const p95 = /latency\s+avg [\d.]+ ms, p95 ([\d.]+) ms/.exec(log)?.[1];
  return {
    accepted: num(/accepted (\d+)/),
    duplicates: num(/\(duplicates (\d+)\)/),
    failures: Math.round((failedPct / 100) * requests),
    ...(rate ? { throughput: rate } : {}),
    ...(p95 ? { latencyMs: { p95 } } : {}),
    verified: /invariant\s+ok/.test(log),
  };
}

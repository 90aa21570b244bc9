/**
 * The end-of-run summary, as text for people and as JSON (--json) for scripts and the bench
 * harness. Field names in the JSON follow the aggregator's snake_case /stats names.
 */
import type { ExpectedStats, Plan } from "./generate.ts";
import type { Counters, Rejection } from "./send.ts";
import type { Verification } from "./verify.ts";

/** Request latency percentiles in ms over every HTTP exchange that got a response. */
export interface Latency {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Everything a run reports; `ok` decides the exit code. */
export interface Summary {
  ok: boolean;
  url: string;
  seed: number;
  events: number;
  unique: number;
  duplicates_injected: number;
  topics: number;
  batch: number;
  concurrency: number;
  sent: number;
  accepted: number;
  failed: number;
  requests: number;
  retries: number;
  retry_reasons: Record<string, number>;
  maybe_redelivered: number;
  elapsed_ms: number;
  events_per_sec: number;
  latency_ms: Latency | null;
  expected: ExpectedStats;
  rejections: Rejection[];
  verify?: Verification;
  verify_error?: string;
}

/** Nearest-rank percentile of an ascending array (p in 0..100). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** p50/p95/p99/max, rounded to 0.1 ms; null when no request got a response. */
export function latencyOf(samples: readonly number[]): Latency | null {
  if (samples.length === 0) return null;
  const sorted = [...samples].sort((a, b) => a - b);
  const r = (n: number) => Math.round(n * 10) / 10;
  return {
    p50: r(percentile(sorted, 50)),
    p95: r(percentile(sorted, 95)),
    p99: r(percentile(sorted, 99)),
    max: r(sorted.at(-1)!),
  };
}

/** Assemble the summary from the plan, the sender's counters and the optional verification. */
export function summarize(input: {
  url: URL;
  plan: Plan;
  expected: ExpectedStats;
  batch: number;
  concurrency: number;
  counters: Counters;
  elapsedMs: number;
  verify?: Verification;
  verifyError?: string;
  verifyRequested: boolean;
}): Summary {
  const { plan, counters: c } = input;
  const verified = !input.verifyRequested || (input.verify?.ok === true && !input.verifyError);
  return {
    ok: c.failed === 0 && c.accepted === plan.events && verified,
    url: input.url.href,
    seed: plan.seed,
    events: plan.events,
    unique: plan.unique,
    duplicates_injected: plan.duplicates,
    topics: plan.topics.length,
    batch: input.batch,
    concurrency: input.concurrency,
    sent: c.sent,
    accepted: c.accepted,
    failed: c.failed,
    requests: c.requests,
    retries: c.retries,
    retry_reasons: { ...c.retryReasons },
    maybe_redelivered: c.maybeRedelivered,
    elapsed_ms: Math.round(input.elapsedMs),
    events_per_sec: input.elapsedMs > 0 ? Math.round((c.accepted / input.elapsedMs) * 1000) : 0,
    latency_ms: latencyOf(c.latenciesMs),
    expected: input.expected,
    rejections: c.rejections,
    ...(input.verify ? { verify: input.verify } : {}),
    ...(input.verifyError ? { verify_error: input.verifyError } : {}),
  };
}

const n = (x: number) => x.toLocaleString("en-US");

/** Human-readable summary, one fact per line. */
export function formatSummary(s: Summary): string {
  const reasons = Object.entries(s.retry_reasons).map(([k, v]) => `${k} ×${v}`).join(", ");
  const lines = [
    `publisher → ${s.url} (seed ${s.seed})`,
    `  events         ${n(s.events)} = ${n(s.unique)} unique + ${
      n(s.duplicates_injected)
    } duplicates injected, ${s.topics} topics`,
    `  sent           ${n(s.sent)} in ${
      n(s.requests)
    } requests (batch ${s.batch}, concurrency ${s.concurrency})`,
    `  accepted       ${n(s.accepted)}`,
    `  failures       ${n(s.failed)}`,
    `  retries        ${n(s.retries)}${reasons ? ` (${reasons})` : ""}`,
    `  throughput     ${n(s.events_per_sec)} events/s over ${(s.elapsed_ms / 1000).toFixed(2)} s`,
    s.latency_ms
      ? `  latency        p50 ${s.latency_ms.p50} ms  p95 ${s.latency_ms.p95} ms  p99 ${s.latency_ms.p99} ms  (max ${s.latency_ms.max} ms)`
      : "  latency        no responses",
    `  expected       received +${n(s.expected.received)}, unique_processed +${
      n(s.expected.unique_processed)
    }, duplicate_dropped +${n(s.expected.duplicate_dropped)}` +
    (s.maybe_redelivered ? ` (duplicates up to +${n(s.maybe_redelivered)} more from retried requests)` : ""),
  ];
  for (const r of s.rejections) {
    lines.push(
      `  failed         ${n(r.events)} events in ${r.batches} batches: ${r.why}, ${r.reason}${
        r.body ? `: ${r.body}` : ""
      }`,
    );
  }
  if (s.verify) {
    const d = s.verify.delta;
    const facts = `received +${n(d.received)}, unique_processed +${
      n(d.unique_processed)
    }, duplicate_dropped +${n(d.duplicate_dropped)}, pending ${s.verify.after.pending} (drained in ${
      (s.verify.drain_ms / 1000).toFixed(2)
    } s)`;
    lines.push(`  verify         ${s.verify.ok ? "ok" : "MISMATCH"}: ${facts}`);
    for (const p of s.verify.problems) lines.push(`                 ${p}`);
  }
  if (s.verify_error) lines.push(`  verify         FAILED: ${s.verify_error}`);
  return lines.join("\n");
}

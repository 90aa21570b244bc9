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

/** What a run sends: generated (with its seed) or read from --ndjson (distinct keys as unique). */
export interface RunShape {
  seed: number | null;
  /** "generated", or the --ndjson path ("stdin" for -). */
  source: string;
  events: number;
  unique: number;
  duplicates: number;
  topics: number;
}

/** The shape of a generated run. */
export function shapeOfPlan(plan: Plan): RunShape {
  const { seed, events, unique, duplicates } = plan;
  return { seed, source: "generated", events, unique, duplicates, topics: plan.topics.length };
}

/** Everything a run reports; `ok` decides the exit code. */
export interface Summary {
  ok: boolean;
  /** Stopped by Ctrl-C or SIGTERM (exit code 130 or 143). */
  interrupted: boolean;
  url: string;
  seed: number | null;
  source: string;
  events: number;
  unique: number;
  duplicates_injected: number;
  topics: number;
  batch: number;
  concurrency: number;
  sent: number;
  accepted: number;
  failed: number;
  /** Interrupted: events whose request was cut off (stored or not: unknown) and never sent. */
  in_flight: number;
  not_sent: number;
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
  shape: RunShape;
  expected: ExpectedStats;
  interrupted?: boolean;
  batch: number;
  concurrency: number;
  counters: Counters;
  elapsedMs: number;
  verify?: Verification;
  verifyError?: string;
  verifyRequested: boolean;
}): Summary {
  const { shape, counters: c } = input;
  const interrupted = input.interrupted === true;
  const verified = !input.verifyRequested || (input.verify?.ok === true && !input.verifyError);
  return {
    ok: !interrupted && c.failed === 0 && c.accepted === shape.events && verified,
    interrupted,
    url: input.url.href,
    seed: shape.seed,
    source: shape.source,
    events: shape.events,
    unique: shape.unique,
    duplicates_injected: shape.duplicates,
    topics: shape.topics,
    batch: input.batch,
    concurrency: input.concurrency,
    sent: c.sent,
    accepted: c.accepted,
    failed: c.failed,
    in_flight: c.interruptedInFlight,
    not_sent: c.notSent,
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
  const generated = s.seed !== null;
  const lines = [
    `publisher → ${s.url} (${generated ? `seed ${s.seed}` : `events from ${s.source}`})`,
    `  events         ${n(s.events)} = ${n(s.unique)} ${generated ? "unique" : "distinct"} + ${
      n(s.duplicates_injected)
    } ${generated ? "duplicates injected" : "repeated in the input"}, ${s.topics} topics`,
    `  sent           ${n(s.sent)} answered by the server, in ${
      n(s.requests)
    } requests (batch ${s.batch}, concurrency ${s.concurrency})`,
    `  accepted       ${n(s.accepted)}`,
    `  failures       ${n(s.failed)}`,
    ...(s.interrupted
      ? [
        `  interrupted    ${
          n(s.in_flight)
        } in flight (may or may not be stored: re-send them, dedup drops copies), ${n(s.not_sent)} not sent`,
      ]
      : []),
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
    if (s.verify.already_stored > 0) {
      lines.push(
        `                 ${n(s.verify.already_stored)} of these events were stored before this run`,
      );
    }
    for (const p of s.verify.problems) lines.push(`                 ${p}`);
  }
  if (s.verify_error) lines.push(`  verify         FAILED: ${s.verify_error}`);
  return lines.join("\n");
}

/**
 * --verify: compare /stats before and after the run. The contract makes this exact: received ==
 * unique_processed + duplicate_dropped + pending, and pending drains to 0. Unique must grow by
 * exactly the generated unique count. Duplicates must grow by the injected count, plus at most the
 * copies our own retries may have delivered a second time (at-least-once; dedup absorbs them).
 * Assumes no other publisher writes to the aggregator during the run.
 */
import type { ExpectedStats } from "./generate.ts";
import { type Deadline, requestWithRetry, sleep } from "./retry.ts";
import { endpoint } from "./send.ts";

/** The /stats fields verification relies on. */
export interface Stats {
  received: number;
  unique_processed: number;
  duplicate_dropped: number;
  pending: number;
}

/** The outcome of --verify, printed in the summary and the --json output. */
export interface Verification {
  ok: boolean;
  problems: string[];
  before: Stats;
  after: Stats;
  delta: ExpectedStats;
  expected: ExpectedStats;
  maybe_redelivered: number;
  /** --ndjson: events of the input the aggregator already held before the run (stored as duplicates). */
  already_stored: number;
  /** Time from the last 202 until /stats showed pending == 0. */
  drain_ms: number;
}

/** How to reach /stats. */
export interface StatsContext {
  readonly url: URL;
  readonly token?: string;
  readonly timeoutMs: number;
  readonly attempts: number;
  readonly deadline: Deadline;
}

/** Thrown when /stats cannot be read or never drains before the deadline. */
export class VerifyError extends Error {
  override name = "VerifyError";
}

/** GET /stats with the same retry policy as publishing (a GET is safe to repeat). */
export async function fetchStats(ctx: StatsContext): Promise<Stats> {
  const headers: Record<string, string> = ctx.token ? { authorization: `Bearer ${ctx.token}` } : {};
  const url = endpoint(ctx.url, "/stats");
  const result = await requestWithRetry(
    (signal) => fetch(url, { headers, signal }),
    { attempts: ctx.attempts, timeoutMs: ctx.timeoutMs, deadline: ctx.deadline },
  );
  if (!result.ok && (result.status === 401 || result.status === 403)) {
    throw new VerifyError(
      `--verify reads GET /stats, which needs a token with the read scope; ${
        result.status === 401 ? "the token was not accepted" : "this token lacks it"
      } (HTTP ${result.status}: ${result.body?.trim() ?? ""}). Use a token with the publish and read ` +
        `scopes, or leave out --verify.`,
    );
  }
  if (!result.ok) {
    throw new VerifyError(`GET ${url} failed (${result.why}: ${result.reason}) ${result.body ?? ""}`.trim());
  }
  const body = JSON.parse(result.body);
  const stats = {} as Stats;
  for (const key of ["received", "unique_processed", "duplicate_dropped", "pending"] as const) {
    if (typeof body?.[key] !== "number") {
      throw new VerifyError(`GET ${url}: "${key}" is not a number: ${result.body}`);
    }
    stats[key] = body[key];
  }
  return stats;
}

/** Poll /stats until pending == 0; the aggregator's workers apply the inbox asynchronously. */
export async function waitForIdle(ctx: StatsContext, pollMs = 200): Promise<Stats> {
  for (;;) {
    const stats = await fetchStats(ctx);
    if (stats.pending === 0) return stats;
    try {
      await sleep(Math.min(pollMs, ctx.deadline.remainingMs), ctx.deadline.signal);
    } catch {
      throw new VerifyError(`deadline passed with ${stats.pending} events still pending`);
    }
  }
}

/** Check the before/after difference against what was generated (pure). */
export function compareStats(
  before: Stats,
  after: Stats,
  expected: ExpectedStats,
  maybeRedelivered: number,
  drainMs = 0,
  /**
   * Your own events (--ndjson) may have been stored by an earlier run: each such event counts as
   * a duplicate instead of a unique one, so unique may fall short by k while duplicates grow by k.
   */
  storedBefore: "none" | "possible" = "none",
): Verification {
  const delta: ExpectedStats = {
    received: after.received - before.received,
    unique_processed: after.unique_processed - before.unique_processed,
    duplicate_dropped: after.duplicate_dropped - before.duplicate_dropped,
  };
  const problems: string[] = [];
  if (after.pending !== 0) problems.push(`pending is ${after.pending}, not 0`);
  const uniqueOk = storedBefore === "possible"
    ? delta.unique_processed >= 0 && delta.unique_processed <= expected.unique_processed
    : delta.unique_processed === expected.unique_processed;
  if (!uniqueOk) {
    const want = storedBefore === "possible" ? "at most" : "exactly";
    problems.push(
      `unique_processed grew by ${delta.unique_processed}, expected ${want} ${expected.unique_processed}`,
    );
  }
  // Events stored before the run come back as duplicates, one for each unique one missing.
  const storedAlready = uniqueOk ? expected.unique_processed - delta.unique_processed : 0;
  const minDup = expected.duplicate_dropped + storedAlready;
  const maxDup = minDup + maybeRedelivered;
  if (delta.duplicate_dropped < minDup || delta.duplicate_dropped > maxDup) {
    const range = maybeRedelivered === 0 ? `exactly ${minDup}` : `${minDup}..${maxDup}`;
    problems.push(`duplicate_dropped grew by ${delta.duplicate_dropped}, expected ${range}`);
  }
  if (
    delta.received !== delta.unique_processed + delta.duplicate_dropped + (after.pending - before.pending)
  ) {
    problems.push(`received grew by ${delta.received}, not unique + duplicates (contract invariant broken)`);
  }
  return {
    ok: problems.length === 0,
    problems,
    before,
    after,
    delta,
    expected,
    maybe_redelivered: maybeRedelivered,
    already_stored: storedAlready,
    drain_ms: drainMs,
  };
}

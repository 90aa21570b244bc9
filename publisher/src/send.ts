/**
 * The sender: a fixed pool of `concurrency` workers pulling batches from one lazy iterator, each
 * batch POSTed to /publish through requestWithRetry. Delivery is at-least-once: a batch whose
 * earlier attempt may have been committed is re-sent, and the aggregator's (topic, event_id)
 * dedup turns the extra copy into a counted duplicate.
 */
import type { Batch } from "./generate.ts";
import type { RateLimiter } from "./rate_limit.ts";
import { type Deadline, requestWithRetry, type RetryResult } from "./retry.ts";

/** A group of batches that failed the same way, with the server's error body. */
export interface Rejection {
  why: "rejected" | "exhausted" | "deadline" | "not sent" | "partial";
  reason: string;
  status?: number;
  body?: string;
  batches: number;
  events: number;
}

/** Running totals, read live by the progress line and at the end by the summary. */
export interface Counters {
  /** Events in requests the server answered at least once (a refused connection sends nothing). */
  sent: number;
  /** Events in requests not yet settled (live, for the progress line). */
  inFlight: number;
  /** Events whose request was cut off by an interrupt: stored or not, we cannot tell. */
  interruptedInFlight: number;
  /** Events never sent because the run was interrupted. */
  notSent: number;
  /** Events acknowledged by a 202. */
  accepted: number;
  /** Events given up on: rejected, out of attempts or time, or never sent after a stop. */
  failed: number;
  /** HTTP attempts, retries included. */
  requests: number;
  retries: number;
  retryReasons: Record<string, number>;
  /** Upper bound on extra copies the server may have stored because an ambiguous attempt was retried. */
  maybeRedelivered: number;
  /** One entry per HTTP exchange that got a response. */
  latenciesMs: number[];
  rejections: Rejection[];
}

/** Fresh zeroed counters. */
export function newCounters(): Counters {
  return {
    sent: 0,
    inFlight: 0,
    interruptedInFlight: 0,
    notSent: 0,
    accepted: 0,
    failed: 0,
    requests: 0,
    retries: 0,
    retryReasons: {},
    maybeRedelivered: 0,
    latenciesMs: [],
    rejections: [],
  };
}

/** Everything the sender needs besides the batches. */
export interface SendContext {
  readonly url: URL;
  readonly token?: string;
  readonly concurrency: number;
  readonly attempts: number;
  readonly timeoutMs: number;
  readonly deadline: Deadline;
  readonly limiter?: RateLimiter;
  readonly counters: Counters;
  readonly random?: () => number;
  /** Ctrl-C / SIGTERM: take no new batch; the deadline (which aborts in-flight requests) follows it. */
  readonly interrupt?: AbortSignal;
}

/** Resolve an aggregator path against the base URL, keeping any base path prefix. */
export function endpoint(base: URL, path: string): URL {
  const dir = base.pathname.endsWith("/") ? base : new URL(`${base.pathname}/`, base);
  return new URL(path.replace(/^\//, ""), dir);
}

/** Send every batch; resolves when all are accepted or given up on (never rejects). */
export async function sendBatches(batches: Iterable<Batch>, ctx: SendContext): Promise<Counters> {
  const iterator = batches[Symbol.iterator]();
  const { counters, deadline } = ctx;
  // A 401 (bad token) or 403 (a token without the publish scope) will fail every later batch the
  // same way, and after the deadline nothing may be sent.
  let stop = false;
  const worker = async () => {
    while (!stop && !ctx.interrupt?.aborted) {
      const next = iterator.next();
      if (next.done) return;
      const batch = next.value;
      try {
        await ctx.limiter?.take(batch.events, deadline.signal);
      } catch {
        stop = true;
        if (ctx.interrupt?.aborted) counters.notSent += batch.events;
        else record(counters, { why: "deadline", reason: "deadline before sending" }, batch);
        return;
      }
      const result = await postBatch(batch, ctx);
      if (!result.ok && (result.status === 401 || result.status === 403 || result.why === "deadline")) {
        stop = true;
      }
    }
  };
  await Promise.all(Array.from({ length: ctx.concurrency }, worker));
  for (const batch of { [Symbol.iterator]: () => iterator }) {
    if (ctx.interrupt?.aborted) counters.notSent += batch.events;
    else record(counters, { why: "not sent", reason: "stopped after an earlier failure" }, batch);
  }
  return counters;
}

async function postBatch(batch: Batch, ctx: SendContext): Promise<RetryResult> {
  const { counters } = ctx;
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (ctx.token) headers.authorization = `Bearer ${ctx.token}`;
  const url = endpoint(ctx.url, "/publish");
  const bytes = encoder.encode(batch.body);
  let answered = false;
  counters.inFlight += batch.events;
  const result = await requestWithRetry(
    (signal) => {
      counters.requests++;
      return fetch(url, { method: "POST", headers, body: streamOf(bytes), signal });
    },
    { attempts: ctx.attempts, timeoutMs: ctx.timeoutMs, deadline: ctx.deadline, random: ctx.random },
    {
      onRetry(reason) {
        counters.retries++;
        counters.retryReasons[reason] = (counters.retryReasons[reason] ?? 0) + 1;
      },
      onExchange(latencyMs) {
        counters.latenciesMs.push(latencyMs);
        if (!answered) counters.sent += batch.events;
        answered = true;
      },
    },
  );
  counters.inFlight -= batch.events;
  if (!result.ok && result.why === "deadline" && ctx.interrupt?.aborted) {
    counters.interruptedInFlight += batch.events;
    return result;
  }
  if (!result.ok) {
    record(counters, result, batch);
    return result;
  }
  counters.maybeRedelivered += result.ambiguous * batch.events;
  const accepted = acceptedCount(result.body, batch.events);
  counters.accepted += accepted;
  if (accepted < batch.events) {
    const partial = {
      why: "partial" as const,
      reason: `HTTP ${result.status}`,
      status: result.status,
      body: result.body,
    };
    record(counters, partial, { events: batch.events - accepted });
  }
  return result;
}

const encoder = new TextEncoder();

/**
 * The body as a one-chunk stream, not a string. Deno's fetch silently re-sends a request with a
 * replayable body once when a kept-alive connection closes before the response (denoland/deno
 * #32566, #35610); we measured it against our fault proxy: the aggregator got the batch twice and
 * we saw neither an error nor a retry. A stream cannot be replayed, so fetch surfaces the failure
 * and every re-send goes through our retry loop, where it is counted and bounded.
 */
function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
}

/** The contract's 202 body is {"accepted": n}; anything else counts the batch as accepted whole. */
function acceptedCount(body: string, events: number): number {
  try {
    const n = JSON.parse(body)?.accepted;
    return Number.isInteger(n) ? Math.min(n, events) : events;
  } catch {
    return events;
  }
}

function record(
  counters: Counters,
  failure: Omit<Rejection, "batches" | "events">,
  batch: { events: number },
) {
  counters.failed += batch.events;
  const body = failure.body?.slice(0, 500);
  const same = counters.rejections.find((r) =>
    r.why === failure.why && r.reason === failure.reason && r.body === body
  );
  if (same) {
    same.batches++;
    same.events += batch.events;
  } else if (counters.rejections.length < 20) {
    counters.rejections.push({
      why: failure.why,
      reason: failure.reason,
      status: failure.status,
      body,
      batches: 1,
      events: batch.events,
    });
  }
}

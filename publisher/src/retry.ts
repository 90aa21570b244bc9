/**
 * The at-least-once request loop: bounded attempts, one overall deadline, exponential backoff with
 * full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter") on network errors,
 * timeouts, 5xx and 429, and the server's Retry-After when it sends one. 400/401/413/415 and other
 * 4xx are final: re-sending the same bytes cannot succeed.
 */

/** Backoff base and cap: the first retry waits up to 100 ms, later ones at most 5 s. */
export const BACKOFF = { baseMs: 100, capMs: 5_000 } as const;

/**
 * An overall deadline as a signal, with a timer we can clear (AbortSignal.timeout cannot be).
 * An interrupt (Ctrl-C) ends it early, which aborts every request and backoff sleep at once.
 */
export class Deadline {
  readonly at: number;
  readonly #controller = new AbortController();
  readonly #timer: ReturnType<typeof setTimeout>;
  constructor(ms: number, interrupt?: AbortSignal) {
    this.at = Date.now() + ms;
    this.#timer = setTimeout(() => this.#controller.abort(new DOMException("deadline", "TimeoutError")), ms);
    interrupt?.addEventListener("abort", () => this.#controller.abort(interrupt.reason), { once: true });
  }
  get signal(): AbortSignal {
    return this.#controller.signal;
  }
  get remainingMs(): number {
    return Math.max(0, this.at - Date.now());
  }
  /** Clear the timer; call once the run is over. */
  dispose(): void {
    clearTimeout(this.#timer);
  }
}

/** How one logical request is retried. */
export interface RetryPolicy {
  readonly attempts: number;
  readonly timeoutMs: number;
  readonly deadline: Deadline;
  readonly random?: () => number;
  readonly backoff?: { baseMs: number; capMs: number };
}

/** Called for every retry and every HTTP exchange; feeds the summary and the progress line. */
export interface RetryHooks {
  onRetry?(reason: string, attempt: number, delayMs: number): void;
  onExchange?(latencyMs: number, status: number): void;
}

/** The end of a logical request. `ambiguous` counts failed attempts the server may have applied. */
export type RetryResult =
  | { ok: true; status: number; body: string; attempts: number; ambiguous: number }
  | {
    ok: false;
    /** rejected: final status; exhausted: out of attempts; deadline: out of time. */
    why: "rejected" | "exhausted" | "deadline";
    reason: string;
    status?: number;
    body?: string;
    attempts: number;
    ambiguous: number;
  };

/** 408, 429 and every 5xx are worth another attempt; other 4xx never are. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * 429 and 503 mean the aggregator refused before enqueueing (backlog bound, database down or
 * draining), so a retry cannot double-deliver. Any other failure may have been committed first.
 */
export function isDefiniteRefusal(status: number): boolean {
  return status === 429 || status === 503;
}

/** Retry-After as ms: delta-seconds or an HTTP date (RFC 9110 §10.2.3); undefined if absent/invalid. */
export function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

/** Full jitter: uniform in [0, min(cap, base × 2^(failures−1))). */
export function backoffDelay(
  failures: number,
  random: () => number,
  { baseMs, capMs }: { baseMs: number; capMs: number } = BACKOFF,
): number {
  return random() * Math.min(capMs, baseMs * 2 ** (failures - 1));
}

/** Sleep `ms`, rejecting early with the signal's reason when it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

interface Failure {
  reason: string;
  status?: number;
  body?: string;
  retryAfterMs?: number;
  ambiguous: boolean;
}

/**
 * Run `send` until it yields a 2xx, a final status, or the attempts or deadline run out. The
 * response body is read under the same timeout, so a server that stalls mid-body is retried too.
 */
export async function requestWithRetry(
  send: (signal: AbortSignal) => Promise<Response>,
  policy: RetryPolicy,
  hooks: RetryHooks = {},
): Promise<RetryResult> {
  const random = policy.random ?? Math.random;
  const backoff = policy.backoff ?? BACKOFF;
  const deadline = policy.deadline;
  let ambiguous = 0;
  let last: Failure = { reason: "deadline", ambiguous: false };
  for (let attempt = 1; attempt <= policy.attempts; attempt++) {
    if (deadline.signal.aborted) {
      return { ok: false, why: "deadline", ...last, attempts: attempt - 1, ambiguous };
    }
    const started = performance.now();
    try {
      const signal = AbortSignal.any([AbortSignal.timeout(policy.timeoutMs), deadline.signal]);
      const response = await send(signal);
      const body = await response.text();
      hooks.onExchange?.(performance.now() - started, response.status);
      if (response.ok) return { ok: true, status: response.status, body, attempts: attempt, ambiguous };
      const status = response.status;
      if (!isRetryableStatus(status)) {
        return {
          ok: false,
          why: "rejected",
          reason: `HTTP ${status}`,
          status,
          body,
          attempts: attempt,
          ambiguous,
        };
      }
      last = {
        reason: `HTTP ${status}`,
        status,
        body,
        retryAfterMs: parseRetryAfter(response.headers.get("retry-after"), Date.now()),
        ambiguous: !isDefiniteRefusal(status),
      };
    } catch (e) {
      const err = e as Error;
      const timedOut = err?.name === "TimeoutError";
      last = {
        reason: timedOut ? "timeout" : "network error",
        body: timedOut ? undefined : describe(err),
        ambiguous: true,
      };
      if (deadline.signal.aborted) {
        return { ok: false, why: "deadline", ...last, attempts: attempt, ambiguous: ambiguous + 1 };
      }
    }
    if (last.ambiguous) ambiguous++;
    if (attempt === policy.attempts) break;
    const delay = last.retryAfterMs !== undefined
      ? last.retryAfterMs + random() * backoff.baseMs
      : backoffDelay(attempt, random, backoff);
    if (Date.now() + delay >= deadline.at) {
      return { ok: false, why: "deadline", ...last, attempts: attempt, ambiguous };
    }
    hooks.onRetry?.(last.reason, attempt, delay);
    try {
      await sleep(delay, deadline.signal);
    } catch {
      return { ok: false, why: "deadline", ...last, attempts: attempt, ambiguous };
    }
  }
  return { ok: false, why: "exhausted", ...last, attempts: policy.attempts, ambiguous };
}

/** "fetch failed" alone says nothing; Deno puts the socket-level detail in `cause`. */
function describe(err: Error | undefined): string | undefined {
  const cause = (err as { cause?: { message?: string } } | undefined)?.cause;
  return cause?.message ? `${err?.message}: ${cause.message}` : err?.message;
}

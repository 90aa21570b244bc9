import assert from "node:assert/strict";
import {
  backoffDelay,
  Deadline,
  isRetryableStatus,
  parseRetryAfter,
  requestWithRetry,
  type RetryPolicy,
} from "./retry.ts";

const FAST = { baseMs: 1, capMs: 4 };

/** A fake server: each call plays the next scripted step. */
function script(steps: Array<number | "network" | "hang" | [number, Record<string, string>]>) {
  let calls = 0;
  const send = (signal: AbortSignal): Promise<Response> => {
    const step = steps[Math.min(calls++, steps.length - 1)];
    if (step === "network") return Promise.reject(new TypeError("connection reset"));
    if (step === "hang") {
      return new Promise((_, reject) =>
        signal.addEventListener("abort", () => reject(signal.reason), { once: true })
      );
    }
    const [status, headers] = typeof step === "number" ? [step, {}] : step;
    return Promise.resolve(new Response(JSON.stringify({ status }), { status, headers }));
  };
  return { send, calls: () => calls };
}

async function withPolicy<T>(over: Partial<RetryPolicy>, fn: (p: RetryPolicy) => Promise<T>): Promise<T> {
  const deadline = new Deadline(10_000);
  try {
    return await fn({ attempts: 5, timeoutMs: 1_000, deadline, backoff: FAST, ...over });
  } finally {
    deadline.dispose();
    over.deadline?.dispose();
  }
}

Deno.test("retry policy", async (t) => {
  await t.step("Retry-After is read as seconds or an HTTP date", () => {
    const now = Date.UTC(2025, 0, 1, 0, 0, 0);
    assert.equal(parseRetryAfter("3", now), 3_000);
    assert.equal(parseRetryAfter(" 0 ", now), 0);
    assert.equal(parseRetryAfter("Wed, 01 Jan 2025 00:00:05 GMT", now), 5_000);
    assert.equal(parseRetryAfter("Tue, 31 Dec 2024 23:00:00 GMT", now), 0);
    assert.equal(parseRetryAfter("soon", now), undefined);
    assert.equal(parseRetryAfter(null, now), undefined);
  });

  await t.step("full jitter stays within min(cap, base × 2^n)", () => {
    const top = () => 0.999999;
    assert.ok(backoffDelay(1, top) < 100 && backoffDelay(1, top) > 99);
    assert.ok(backoffDelay(4, top) < 800 && backoffDelay(4, top) > 799);
    assert.ok(backoffDelay(30, top) < 5_000 && backoffDelay(30, top) > 4_999);
    assert.equal(backoffDelay(3, () => 0), 0);
  });

  await t.step("429, 408 and 5xx are retried; 400, 401, 413, 415 and other 4xx are not", () => {
    for (const s of [408, 429, 500, 502, 503, 504]) assert.ok(isRetryableStatus(s), String(s));
    for (const s of [400, 401, 403, 404, 413, 415, 422]) assert.ok(!isRetryableStatus(s), String(s));
  });

  await t.step("network errors, 503 and timeouts are retried until a 202", async () => {
    const server = script(["network", 503, "hang", 202]);
    const reasons: string[] = [];
    const result = await withPolicy(
      { timeoutMs: 50 },
      (p) => requestWithRetry(server.send, p, { onRetry: (reason) => reasons.push(reason) }),
    );
    assert.equal(result.ok, true);
    assert.equal(result.attempts, 4);
    assert.deepEqual(reasons, ["network error", "HTTP 503", "timeout"]);
    // The 503 was a refusal; the reset and the timeout may have been committed server-side.
    assert.equal(result.ambiguous, 2);
  });

  await t.step("final statuses are never retried and keep the server's error body", async () => {
    for (const status of [400, 401, 413, 415]) {
      const server = script([status, 202]);
      const result = await withPolicy({}, (p) => requestWithRetry(server.send, p));
      assert.equal(server.calls(), 1);
      assert.deepEqual(result, {
        ok: false,
        why: "rejected",
        reason: `HTTP ${status}`,
        status,
        body: JSON.stringify({ status }),
        attempts: 1,
        ambiguous: 0,
      });
    }
  });

  await t.step("Retry-After is honoured", async () => {
    const server = script([[429, { "Retry-After": "1" }], 202]);
    const delays: number[] = [];
    const started = Date.now();
    const result = await withPolicy(
      {},
      (p) => requestWithRetry(server.send, p, { onRetry: (_r, _a, ms) => delays.push(ms) }),
    );
    assert.equal(result.ok, true);
    assert.ok(delays[0] >= 1_000 && delays[0] < 1_001 + FAST.baseMs, String(delays[0]));
    assert.ok(Date.now() - started >= 1_000);
  });

  await t.step("attempts are bounded", async () => {
    const server = script([500]);
    const result = await withPolicy({ attempts: 3 }, (p) => requestWithRetry(server.send, p));
    assert.equal(server.calls(), 3);
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.why, "exhausted");
    assert.equal(!result.ok && result.status, 500);
  });

  await t.step("the overall deadline ends retries, in flight or waiting", async () => {
    const hanging = script(["hang"]);
    const started = Date.now();
    const result = await withPolicy(
      { attempts: 100, timeoutMs: 60, deadline: new Deadline(250) },
      (p) => requestWithRetry(hanging.send, p),
    );
    assert.equal(!result.ok && result.why, "deadline");
    // ~250 ms; 100 attempts would take many seconds. 3 s leaves a loaded machine room.
    assert.ok(Date.now() - started < 3_000);

    // A Retry-After longer than the time left gives up at once instead of sleeping past it.
    const slow = script([[503, { "Retry-After": "30" }]]);
    const early = Date.now();
    const r2 = await withPolicy({ deadline: new Deadline(5_000) }, (p) => requestWithRetry(slow.send, p));
    assert.equal(!r2.ok && r2.why, "deadline");
    assert.equal(slow.calls(), 1);
    assert.ok(Date.now() - early < 3_000); // at once, not after 30 s
  });
});

import assert from "node:assert/strict";
import { RateLimiter } from "./rate_limit.ts";

Deno.test("rate limiter", async (t) => {
  await t.step("the first batch goes at once, later ones keep the average rate", () => {
    let clock = 1_000;
    const limiter = new RateLimiter(100, () => clock);
    assert.equal(limiter.reserve(50), 0);
    assert.equal(limiter.reserve(50), 500);
    assert.equal(limiter.reserve(100), 1_000);
    clock += 600;
    assert.equal(limiter.reserve(10), 1_400);
  });

  await t.step("idle time is not saved up as a burst", () => {
    let clock = 0;
    const limiter = new RateLimiter(10, () => clock);
    limiter.reserve(10);
    clock = 60_000;
    assert.equal(limiter.reserve(10), 0);
    assert.equal(limiter.reserve(10), 1_000);
  });

  await t.step("take() really waits", async () => {
    const limiter = new RateLimiter(200);
    const started = performance.now();
    for (let i = 0; i < 3; i++) await limiter.take(10);
    const elapsed = performance.now() - started;
    // ~100 ms; the upper bound only catches a wait of the wrong order, with room for a loaded machine.
    assert.ok(elapsed >= 95 && elapsed < 2_000, `${elapsed} ms`);
  });
});

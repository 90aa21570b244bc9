import assert from "node:assert/strict";
import { planRun } from "./generate.ts";
import { progressText } from "./progress.ts";
import { formatSummary, latencyOf, percentile, shapeOfPlan, summarize } from "./report.ts";
import { newCounters } from "./send.ts";
import { compareStats } from "./verify.ts";

const shape = shapeOfPlan(planRun({ events: 1_000, dupRate: 0.3, topics: 2, seed: 5, epochMs: 0 }));
const expected = { received: 1_000, unique_processed: 700, duplicate_dropped: 300 };

Deno.test("summary and progress", async (t) => {
  await t.step("nearest-rank percentiles", () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.deepEqual([percentile(xs, 50), percentile(xs, 95), percentile(xs, 99), percentile(xs, 100)], [
      50,
      95,
      99,
      100,
    ]);
    assert.equal(percentile([7], 99), 7);
    assert.equal(latencyOf([]), null);
    assert.deepEqual(latencyOf([3, 1, 2]), { p50: 2, p95: 3, p99: 3, max: 3 });
  });

  await t.step("a clean run is ok and reports every figure the issue asks for", () => {
    const counters = {
      ...newCounters(),
      sent: 1_000,
      accepted: 1_000,
      requests: 12,
      retries: 2,
      retryReasons: { "HTTP 503": 2 },
      latenciesMs: [10, 20, 30],
    };
    const s = summarize({
      url: new URL("http://127.0.0.1:8080"),
      shape,
      expected,
      batch: 100,
      concurrency: 4,
      counters,
      elapsedMs: 500,
      verifyRequested: false,
    });
    assert.equal(s.ok, true);
    assert.equal(s.events_per_sec, 2_000);
    const text = formatSummary(s);
    for (
      const word of [
        "sent",
        "accepted",
        "duplicates injected",
        "retries",
        "HTTP 503 ×2",
        "failures",
        "events/s",
        "p50",
        "p95",
        "p99",
      ]
    ) {
      assert.ok(text.includes(word), `${word} missing from:\n${text}`);
    }
  });

  await t.step("failures or a failed verification make the run not ok", () => {
    const counters = { ...newCounters(), sent: 1_000, accepted: 900, failed: 100 };
    const base = {
      url: new URL("http://x"),
      shape,
      expected,
      batch: 100,
      concurrency: 1,
      elapsedMs: 1,
      verifyRequested: false,
    };
    assert.equal(summarize({ ...base, counters }).ok, false);
    const good = { ...newCounters(), sent: 1_000, accepted: 1_000 };
    const zero = { received: 0, unique_processed: 0, duplicate_dropped: 0, pending: 0 };
    const bad = compareStats(
      zero,
      { ...zero, received: 1_000, unique_processed: 699, duplicate_dropped: 301 },
      expected,
      0,
    );
    const s = summarize({ ...base, counters: good, verifyRequested: true, verify: bad });
    assert.equal(s.ok, false);
    assert.match(formatSummary(s), /MISMATCH/);
    assert.equal(
      summarize({ ...base, counters: good, verifyRequested: true, verifyError: "no /stats" }).ok,
      false,
    );
  });

  await t.step("progress is a bar on a terminal and a plain line elsewhere", () => {
    const c = { ...newCounters(), accepted: 500, retries: 3 };
    assert.equal(
      progressText(c, 1_000, 1_000, false),
      "progress: 50% 500/1000 events, 500 ev/s, 3 retries, 0 failed, 1 s elapsed, ETA 1 s",
    );
    // The ETA follows the average rate so far: 100 of 1,000 in 20 s leaves 180 s.
    assert.match(progressText({ ...c, accepted: 100 }, 1_000, 20_000, false), /20 s elapsed, ETA 3m00s$/);
    assert.match(progressText(newCounters(), 1_000, 0, false), /0 s elapsed, ETA \?$/);
    assert.match(progressText(c, 1_000, 1_000, true), /^\[#{15}\.{15}\] {2}50% /);
  });
});

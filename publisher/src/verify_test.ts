import assert from "node:assert/strict";
import { compareStats, type Stats } from "./verify.ts";

const stats = (received: number, unique: number, dups: number, pending = 0): Stats => ({
  received,
  unique_processed: unique,
  duplicate_dropped: dups,
  pending,
});
const expected = { received: 20_000, unique_processed: 14_000, duplicate_dropped: 6_000 };

Deno.test("verification compares /stats deltas", async (t) => {
  await t.step("exact growth passes, measured from a non-empty start", () => {
    const v = compareStats(stats(100, 70, 30), stats(20_100, 14_070, 6_030), expected, 0);
    assert.equal(v.ok, true, v.problems.join("; "));
    assert.deepEqual(v.delta, expected);
  });

  await t.step("a lost or doubled unique event fails", () => {
    assert.match(
      compareStats(stats(0, 0, 0), stats(19_999, 13_999, 6_000), expected, 0).problems[0],
      /expected exactly 14000/,
    );
    assert.equal(compareStats(stats(0, 0, 0), stats(20_000, 14_001, 5_999), expected, 0).ok, false);
  });

  await t.step("extra duplicates are allowed only up to what retries may have re-delivered", () => {
    assert.equal(compareStats(stats(0, 0, 0), stats(20_500, 14_000, 6_500), expected, 500).ok, true);
    const v = compareStats(stats(0, 0, 0), stats(20_501, 14_000, 6_501), expected, 500);
    assert.match(v.problems.join(), /expected 6000\.\.6500/);
    assert.equal(compareStats(stats(0, 0, 0), stats(20_000, 14_000, 6_001), expected, 0).ok, false);
  });

  await t.step("work still pending or a broken received invariant fails", () => {
    assert.match(
      compareStats(stats(0, 0, 0), stats(20_000, 14_000, 6_000, 3), expected, 0).problems.join(),
      /pending is 3/,
    );
    assert.match(
      compareStats(stats(0, 0, 0), stats(20_010, 14_000, 6_000), expected, 0).problems.join(),
      /invariant/,
    );
  });
});

Deno.test("compareStats with --ndjson input: events stored before the run count as duplicates", () => {
  const fromFile = { received: 10, unique_processed: 8, duplicate_dropped: 2 };
  // 3 of the 8 distinct events were already stored: unique +5, duplicates +2+3.
  const v = compareStats(stats(0, 0, 0), stats(10, 5, 5), fromFile, 0, 0, "possible");
  assert.deepEqual([v.ok, v.already_stored], [true, 3], v.problems.join());
  // The same figures for generated events (fresh ids) are a mismatch.
  assert.equal(compareStats(stats(0, 0, 0), stats(10, 5, 5), fromFile, 0).ok, false);
  // A lost event is still caught: unique +5 but duplicates only +4.
  assert.equal(compareStats(stats(0, 0, 0), stats(9, 5, 4), fromFile, 0, 0, "possible").ok, false);
  // More new events than the input holds is impossible.
  assert.equal(compareStats(stats(0, 0, 0), stats(10, 9, 1), fromFile, 0, 0, "possible").ok, false);
});

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

import assert from "node:assert/strict";
import { expectedStats, generateBatches, generateEvents, type Plan, planRun } from "./generate.ts";

const EPOCH = Date.UTC(2025, 0, 1);
const plan = (events: number, dupRate: number, seed = 7, topics = 4): Plan =>
  planRun({ events, dupRate, topics, seed, epochMs: EPOCH });

Deno.test("generator: duplicates, determinism and identity", async (t) => {
  await t.step("the seed's scenario: 20,000 events at 30% = exactly 14,000 unique + 6,000 duplicates", () => {
    const p = plan(20_000, 0.3);
    let dups = 0;
    let total = 0;
    for (const e of generateEvents(p)) {
      total++;
      if (e.duplicate) dups++;
    }
    assert.deepEqual([total, dups, p.unique], [20_000, 6_000, 14_000]);
    assert.deepEqual(expectedStats(p), {
      received: 20_000,
      unique_processed: 14_000,
      duplicate_dropped: 6_000,
    });
  });

  await t.step("the duplicate count is round(events × rate) for awkward sizes and rates", () => {
    for (
      const [events, rate] of [[1, 0], [2, 0.5], [3, 0.5], [10, 0.01], [999, 0.333], [1000, 0.9], [7, 0.85]]
    ) {
      const p = plan(events, rate);
      const dups = [...generateEvents(p)].filter((e) => e.duplicate).length;
      assert.equal(dups, Math.round(events * rate), `${events} @ ${rate}`);
      assert.equal(p.unique + p.duplicates, events);
    }
  });

  await t.step("a duplicate re-sends an earlier event byte for byte", () => {
    const seen = new Set<string>();
    for (const e of generateEvents(plan(5_000, 0.6, 99))) {
      if (e.duplicate) assert.ok(seen.has(e.line), `duplicate of unseen event ${e.unique}`);
      else {
        assert.ok(!seen.has(e.line), "a unique event repeated earlier bytes");
        seen.add(e.line);
      }
    }
    assert.equal(seen.size, 2_000);
  });

  await t.step("event ids are unique across topics and every topic is used", () => {
    const ids = new Set<string>();
    const topics = new Set<string>();
    for (const e of generateEvents(plan(4_000, 0, 3, 5))) {
      const event = JSON.parse(e.line);
      ids.add(event.event_id);
      topics.add(event.topic);
    }
    assert.equal(ids.size, 4_000);
    assert.deepEqual([...topics].sort(), ["topic-0", "topic-1", "topic-2", "topic-3", "topic-4"]);
  });

  await t.step("the same seed replays the same bytes; another seed shares no id", () => {
    const lines = (seed: number) => [...generateEvents(plan(2_000, 0.3, seed))].map((e) => e.line);
    assert.deepEqual(lines(42), lines(42));
    const other = new Set(lines(43).map((l) => JSON.parse(l).event_id));
    assert.ok(lines(42).every((l) => !other.has(JSON.parse(l).event_id)));
  });

  await t.step("events satisfy the aggregator's event contract", () => {
    for (const e of generateEvents(plan(500, 0.2))) {
      const ev = JSON.parse(e.line);
      assert.deepEqual(Object.keys(ev), ["topic", "event_id", "timestamp", "source", "payload"]);
      assert.match(ev.topic, /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/);
      assert.ok(ev.event_id.length >= 1 && ev.event_id.length <= 256);
      assert.match(ev.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.ok(ev.source.length >= 1 && ev.source.length <= 256);
      assert.equal(typeof ev.payload, "object");
    }
  });

  await t.step("batches are JSON arrays that add up to the plan", () => {
    const p = plan(1_003, 0.3);
    const batches = [...generateBatches(p, 100)];
    assert.equal(batches.length, 11);
    assert.equal(batches.at(-1)!.events, 3);
    assert.equal(batches.reduce((n, b) => n + b.events, 0), 1_003);
    assert.equal(batches.reduce((n, b) => n + b.duplicates, 0), p.duplicates);
    batches.forEach((b, i) => {
      assert.equal(b.index, i);
      assert.equal(JSON.parse(b.body).length, b.events);
    });
  });

  await t.step("planRun refuses a plan with no unique event", () => {
    assert.throws(() => plan(1, 0.6), RangeError);
    assert.throws(() => plan(0, 0), RangeError);
  });
});

import assert from "node:assert/strict";
import { EventFileError, expectedFromFile, fileBatches, parseEventLines } from "./ndjson.ts";

const event = (topic: string, id: string, extra = "") =>
  `{"topic":"${topic}","event_id":"${id}","source":"s","payload":{"n":1${extra}}}`;

Deno.test("--ndjson input", async (t) => {
  await t.step("lines are kept byte for byte; distinct (topic, event_id) pairs are counted", () => {
    // 2^53 + 1 would come back as 2^53 from a JSON.parse round trip.
    const big = event("a", "1", ',"big":9007199254740993');
    const file = parseEventLines(`${big}\n\n${event("a", "2")}\r\n${event("b", "1")}\n${big}\n`, "f");
    assert.deepEqual(file.lines, [big, event("a", "2"), event("b", "1"), big]);
    assert.deepEqual([file.distinct, file.topics], [3, 2]);
    assert.deepEqual(expectedFromFile(file), { received: 4, unique_processed: 3, duplicate_dropped: 1 });
    // A copy need not be byte for byte: the same key with another payload (or key order) is
    // still one event; the first acknowledged copy is the one stored.
    const other = parseEventLines(`${event("a", "1")}\n${event("a", "1", ',"retry":2')}\n`, "f");
    assert.deepEqual([other.lines.length, other.distinct], [2, 1]);
  });

  await t.step("batches are JSON arrays of at most `size` lines, in order", () => {
    const file = parseEventLines([1, 2, 3, 4, 5].map((i) => event("t", `${i}`)).join("\n"), "f");
    const batches = [...fileBatches(file, 2)];
    assert.deepEqual(batches.map((b) => b.events), [2, 2, 1]);
    assert.deepEqual(
      batches.flatMap((b) => JSON.parse(b.body).map((e: { event_id: string }) => e.event_id)),
      [
        "1",
        "2",
        "3",
        "4",
        "5",
      ],
    );
  });

  await t.step("every bad line is reported with its number; an empty input is refused", () => {
    assert.throws(
      () => parseEventLines(`${event("t", "1")}\n[1]\n{"topic":"t","event_id":""}\n{`, "in.ndjson"),
      (e: Error) =>
        e instanceof EventFileError &&
        /^in\.ndjson: 3 lines are not events:\nline 2: not a JSON object\nline 3: "event_id" must be a non-empty string\nline 4: not JSON/
          .test(e.message),
    );
    assert.throws(() => parseEventLines("\n \n", "stdin"), /stdin: no events/);
  });
});

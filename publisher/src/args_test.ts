import assert from "node:assert/strict";
import { UsageError } from "./error.ts";
import { helpText, parseCliArgs, toOptions } from "./args.ts";

const parse = (argv: string[], env: Record<string, string> = {}) => toOptions(parseCliArgs(argv), env);

Deno.test("toOptions: flags, environment and defaults", async (t) => {
  await t.step("defaults match the issue: 127.0.0.1:8080, seed's 20,000 events at 30%", () => {
    const o = parse([]);
    assert.equal(o.url.href, "http://127.0.0.1:8080/");
    assert.equal(o.events, 20000);
    assert.equal(o.dupRate, 0.3);
    assert.equal(o.rate, undefined);
    assert.equal(o.seed, undefined);
    assert.equal(o.token, undefined);
    assert.equal(o.json, false);
    assert.equal(o.verify, false);
    assert.ok(Object.isFrozen(o));
  });

  await t.step("every flag is read", () => {
    const o = parse([
      "--url",
      "https://agg.example:9000/base/",
      "--events",
      "100",
      "--dup-rate",
      "0.25",
      "--topics",
      "3",
      "--batch",
      "10",
      "--concurrency",
      "2",
      "--rate",
      "50.5",
      "--seed",
      "42",
      "--token",
      "s3cret",
      "--json",
      "--verify",
      "--timeout",
      "500",
      "--attempts",
      "3",
      "--deadline",
      "1.5",
    ]);
    assert.deepEqual({ ...o, url: o.url.href }, {
      url: "https://agg.example:9000/base/",
      events: 100,
      dupRate: 0.25,
      topics: 3,
      batch: 10,
      concurrency: 2,
      rate: 50.5,
      seed: 42,
      token: "s3cret",
      json: true,
      verify: true,
      help: false,
      timeoutMs: 500,
      attempts: 3,
      deadlineMs: 1500,
      waitMs: 0,
      ndjson: undefined,
    });
  });

  await t.step("--ndjson takes a file or -, and refuses the generator's flags", () => {
    assert.equal(parse(["--ndjson", "-"]).ndjson, "-");
    assert.equal(parse([], { PUBLISHER_NDJSON: "/tmp/e.ndjson" }).ndjson, "/tmp/e.ndjson");
    assert.throws(
      () => parse(["--ndjson", "e.ndjson", "--events", "5", "--seed", "1"]),
      /--ndjson sends the file's events: --events, --seed cannot apply/,
    );
  });

  await t.step("--help names the npm command users run, not deno's command line first", () => {
    const usage = helpText().split("\n").find((l) => l.startsWith("usage:"));
    assert.equal(usage, "usage: npm run publish -- [flags]");
    assert.match(helpText(), /--ndjson <v>/);
  });

  await t.step("environment variables stand in for flags", () => {
    const o = parse([], {
      PUBLISHER_URL: "http://agg:8080",
      PUBLISHER_EVENTS: "7",
      PUBLISHER_DUP_RATE: "0",
      PUBLISHER_SEED: "0",
      PUBLISHER_JSON: "1",
      PUBLISHER_VERIFY: "yes",
      PUBLISHER_TOKEN: "t",
      PUBLISHER_RATE: "10",
      PUBLISHER_DEADLINE_S: "60",
    });
    assert.equal(o.url.host, "agg:8080");
    assert.equal(o.events, 7);
    assert.equal(o.dupRate, 0);
    assert.equal(o.seed, 0);
    assert.equal(o.json, true);
    assert.equal(o.verify, true);
    assert.equal(o.token, "t");
    assert.equal(o.rate, 10);
    assert.equal(o.deadlineMs, 60_000);
  });

  await t.step("a flag beats its environment variable; empty variables count as unset", () => {
    const o = parse(["--events", "5"], { PUBLISHER_EVENTS: "9", PUBLISHER_BATCH: "" });
    assert.equal(o.events, 5);
    assert.equal(o.batch, 500);
  });

  await t.step("all problems are reported together", () => {
    const problems = usageProblems(() =>
      parse(["--events=-1", "--dup-rate", "1", "--url", "ftp://x"], { PUBLISHER_VERIFY: "maybe" })
    );
    assert.equal(problems.length, 4, problems.join("\n"));
    assert.match(problems.join("\n"), /--url must be an http/);
    assert.match(problems.join("\n"), /--events must be an integer/);
    assert.match(problems.join("\n"), /--dup-rate must be a number with 0 ≤ r < 1/);
    assert.match(problems.join("\n"), /PUBLISHER_VERIFY must be true or false/);
  });

  await t.step("rejects non-integers, fractions and out-of-range values", () => {
    for (
      const argv of [
        ["--events", "1e3"],
        ["--batch", "0"],
        ["--concurrency", "2.5"],
        ["--seed", "4294967296"],
        ["--rate", "0"],
        ["--topics", "x"],
        ["--deadline", "-3"],
        ["--token", "a b"],
      ]
    ) {
      assert.throws(() => parse(argv), UsageError, argv.join(" "));
    }
  });

  await t.step("a duplicate rate that leaves no unique event is refused", () => {
    assert.throws(() => parse(["--events", "1", "--dup-rate", "0.6"]), /leaves no unique event/);
    assert.equal(parse(["--events", "2", "--dup-rate", "0.5"]).dupRate, 0.5);
  });

  await t.step("unknown flags and positionals are usage errors", () => {
    assert.throws(() => parseCliArgs(["--nope"]), UsageError);
    assert.throws(() => parseCliArgs(["extra"]), UsageError);
  });

  await t.step("--help skips validation and the help lists every environment variable", () => {
    assert.equal(parse(["-h", "--events", "zero"]).help, true);
    for (const name of ["PUBLISHER_URL", "PUBLISHER_DUP_RATE", "PUBLISHER_VERIFY", "--dup-rate <v>"]) {
      assert.ok(helpText().includes(name), name);
    }
  });
});

function usageProblems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof UsageError) return e.problems;
    throw e;
  }
  throw new assert.AssertionError({ message: "expected a UsageError" });
}

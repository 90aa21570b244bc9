/**
 * The CLI as a person runs it (`deno run main.ts`, a real process) against the real aggregator:
 * your own events from stdin with --verify, --verify with a publish-only token, and Ctrl-C in
 * the middle of a run. Needs TEST_DATABASE_URL like aggregator_test.ts (ignored, said, without).
 */
import assert from "node:assert/strict";
import type { Summary } from "../src/report.ts";
import type { Stats } from "../src/verify.ts";
import { withAggregator } from "./support/aggregator.ts";
import { watchCli } from "./support/cli_process.ts";

const TEST_DATABASE_URL = Deno.env.get("TEST_DATABASE_URL");
const MAIN = new URL("../main.ts", import.meta.url).pathname;
const PUBLISH_ONLY = "p".repeat(40);
const PUBLISH_READ = "r".repeat(40);

/** Start `deno run main.ts …`; the caller may write stdin and signal it. */
function spawnCli(args: string[], stdin: "piped" | "null" = "null") {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", MAIN, ...args],
    env: { NO_COLOR: "1" },
    stdin,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function finish(child: Deno.ChildProcess) {
  const out = await child.output();
  const stdout = new TextDecoder().decode(out.stdout);
  let summary: Summary | undefined;
  try {
    summary = JSON.parse(stdout);
  } catch { /* the assertion that uses it shows stdout */ }
  return { code: out.code, stdout, stderr: new TextDecoder().decode(out.stderr), summary };
}

async function stats(url: URL): Promise<Stats> {
  const res = await fetch(new URL("/stats", url), { headers: { authorization: `Bearer ${PUBLISH_READ}` } });
  assert.equal(res.status, 200);
  return await res.json();
}

/** Wait until pending is 0, then return /stats. */
async function idleStats(url: URL): Promise<Stats> {
  for (let i = 0; i < 600; i++) {
    const s = await stats(url);
    if (s.pending === 0) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("pending never drained");
}

const ndjson = (ids: number[], topic = "cli-own") =>
  ids.map((i) =>
    `{"topic":"${topic}","event_id":"e-${i}","timestamp":"2026-01-01T00:00:0${i}Z","source":"cli-test","payload":{"i":${i}}}`
  ).join(
    "\n",
  ) +
  "\n";

Deno.test({
  name: "the publisher CLI against a real aggregator, as a person runs it",
  ignore: !TEST_DATABASE_URL,
  async fn(t) {
    await withAggregator(TEST_DATABASE_URL!, {
      AUTH_TOKENS: `writer:publish:${PUBLISH_ONLY},ops:publish+read:${PUBLISH_READ}`,
    }, async (aggregator) => {
      const url = aggregator.url.href;

      await t.step("--ndjson - sends your own events from stdin; --verify checks them, twice", async () => {
        // 6 lines, 5 distinct keys (e-3 twice).
        const input = ndjson([1, 2, 3, 3, 4, 5]);
        const send = async () => {
          const child = spawnCli([
            "--url",
            url,
            "--token",
            PUBLISH_READ,
            "--ndjson",
            "-",
            "--verify",
            "--json",
          ], "piped");
          const writer = child.stdin.getWriter();
          await writer.write(new TextEncoder().encode(input));
          await writer.close();
          return await finish(child);
        };
        const before = await idleStats(aggregator.url);
        const first = await send();
        assert.equal(first.code, 0, `${first.stderr}\n${first.stdout}\n${aggregator.logs()}`);
        const s = first.summary!;
        assert.deepEqual([s.source, s.seed, s.events, s.unique, s.accepted, s.verify?.ok], [
          "stdin",
          null,
          6,
          5,
          6,
          true,
        ]);
        const after = await idleStats(aggregator.url);
        assert.equal(after.unique_processed - before.unique_processed, 5);
        assert.equal(after.duplicate_dropped - before.duplicate_dropped, 1);

        // The same file again: every event is already stored; verification says so and passes.
        const again = await send();
        assert.equal(again.code, 0, `${again.stderr}\n${again.stdout}`);
        assert.deepEqual([again.summary!.verify?.ok, again.summary!.verify?.already_stored], [true, 5]);
        const last = await idleStats(aggregator.url);
        assert.equal(last.unique_processed, after.unique_processed);
        assert.equal(last.duplicate_dropped - after.duplicate_dropped, 6);

        // --ndjson FILE: the same through a file (a fresh database per run: its ids are new here).
        const file = new URL("./fixtures/own_events.ndjson", import.meta.url).pathname;
        const fromFile = await finish(
          spawnCli(["--url", url, "--token", PUBLISH_READ, "--ndjson", file, "--verify", "--json"]),
        );
        assert.equal(fromFile.code, 0, `${fromFile.stderr}\n${fromFile.stdout}`);
        const f = fromFile.summary!;
        assert.deepEqual([f.source, f.events, f.unique, f.accepted, f.verify?.ok], [file, 3, 3, 3, true]);
        const end = await idleStats(aggregator.url);
        assert.equal(end.unique_processed - last.unique_processed, 3);
        // Sent as written: an integer beyond 2^53 comes back digit for digit.
        const page = await fetch(new URL("/events?topic=cli-file&limit=10", url), {
          headers: { authorization: `Bearer ${PUBLISH_READ}` },
        });
        assert.match(await page.text(), /"big"\s*:\s*12345678901234567890\b/);
      });

      await t.step(
        "--verify with a publish-only token says it needs the read scope, before sending",
        async () => {
          const before = await idleStats(aggregator.url);
          const r = await finish(
            spawnCli(["--url", url, "--token", PUBLISH_ONLY, "--events", "10", "--verify"]),
          );
          assert.equal(r.code, 1, r.stderr);
          assert.match(
            r.stderr,
            /--verify reads GET \/stats, which needs a token with the read scope; this token lacks it \(HTTP 403/,
          );
          // Positive control: the same token publishes fine without --verify.
          const plain = await finish(
            spawnCli(["--url", url, "--token", PUBLISH_ONLY, "--events", "10", "--json"]),
          );
          assert.equal(plain.code, 0, plain.stderr);
          const after = await idleStats(aggregator.url);
          assert.equal(after.received - before.received, 10, "only the run without --verify sent events");
        },
      );

      await t.step("Ctrl-C prints accepted, in flight, failed and not sent, and exits 130", async () => {
        const before = await idleStats(aggregator.url);
        // A rate limit keeps the run going for minutes; stop it once the first batch is through.
        const child = spawnCli([
          "--url",
          url,
          "--token",
          PUBLISH_READ,
          "--events",
          "100000",
          "--rate",
          "500",
          "--batch",
          "50",
          "--json",
        ]);
        const cli = watchCli(child);
        // The progress line says how long it has run and how long it has left.
        await cli.waitForStderr(
          /progress: \d+% [1-9]\d*\/100000 events, .* \d+ s elapsed, ETA (\d+ s|\d+m\d\ds|\d+h\d\dm)/,
        );
        child.kill("SIGINT");
        const { code, stdout, stderr } = await cli.finish();
        assert.equal(code, 130, stderr);
        const s = JSON.parse(stdout) as Summary;
        assert.equal(s.interrupted, true);
        assert.ok(s.accepted > 0 && s.not_sent > 0, JSON.stringify(s));
        assert.equal(s.accepted + s.in_flight + s.failed + s.not_sent, 100_000, JSON.stringify(s));
        assert.match(
          stderr,
          /error: interrupted: \d+ of 100000 events accepted, \d+ in flight \(unknown whether stored\), 0 failed, \d+ not sent/,
        );
        // The server holds every accepted event, and nothing beyond what was in flight.
        const after = await idleStats(aggregator.url);
        const stored = after.received - before.received;
        assert.ok(stored >= s.accepted && stored <= s.accepted + s.in_flight, `${stored} stored: ${stdout}`);
      });
    });
  },
});

/**
 * The publisher against the real aggregator (bun aggregator/src/main.ts) on a fresh database of
 * the PostgreSQL server the root runner starts (TEST_DATABASE_URL). Without that variable these
 * tests are reported as ignored, with the reason printed, never silently passed.
 */
import assert from "node:assert/strict";
import { type Options, parseCliArgs, toOptions } from "../src/args.ts";
import { publish } from "../src/publish.ts";
import { formatSummary, type Summary } from "../src/report.ts";
import type { Stats } from "../src/verify.ts";
import { withAggregator } from "./support/aggregator.ts";
import { type Fault, startFaultProxy } from "./support/fault_proxy.ts";

const TEST_DATABASE_URL = Deno.env.get("TEST_DATABASE_URL");
if (!TEST_DATABASE_URL) {
  console.log(
    "publisher integration tests IGNORED: TEST_DATABASE_URL is not set. Run `npm test` at the repo " +
      "root (it starts PostgreSQL) or export a superuser URL.",
  );
}

const MAIN = new URL("../main.ts", import.meta.url).pathname;

async function stats(url: URL): Promise<Stats> {
  const res = await fetch(new URL("/stats", url));
  assert.equal(res.status, 200);
  return await res.json();
}

/** `deno run main.ts` as a user would; returns exit code, parsed --json summary and stderr. */
async function runCli(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", MAIN, ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  let summary: Summary | undefined;
  try {
    summary = JSON.parse(stdout);
  } catch { /* reported by the assertion below */ }
  return { code: out.code, summary, stdout, stderr };
}

Deno.test({
  name: "publisher against a real aggregator",
  ignore: !TEST_DATABASE_URL,
  async fn(t) {
    await withAggregator(TEST_DATABASE_URL!, {}, async (aggregator) => {
      const target = aggregator.url;

      await t.step(
        "20,000 events with 30% duplicates end with exactly 14,000 unique and 6,000 duplicates; --verify passes",
        async () => {
          const before = await stats(target);
          const r = await runCli([
            "--url",
            target.href,
            "--events",
            "20000",
            "--dup-rate",
            "0.3",
            "--seed",
            "20000",
            "--verify",
            "--json",
          ]);
          assert.equal(
            r.code,
            0,
            `exit ${r.code}\n${r.stderr}\n${r.stdout}\n--- aggregator log ---\n${aggregator.logs()}`,
          );
          const s = r.summary!;
          assert.deepEqual([s.ok, s.sent, s.accepted, s.failed, s.duplicates_injected], [
            true,
            20_000,
            20_000,
            0,
            6_000,
          ]);
          assert.equal(s.verify?.ok, true);
          // No retries were needed on a quiet loopback, so the growth is exact, not a range.
          assert.equal(s.maybe_redelivered, 0, JSON.stringify(s.retry_reasons));
          assert.deepEqual(s.verify?.delta, {
            received: 20_000,
            unique_processed: 14_000,
            duplicate_dropped: 6_000,
          });
          const after = await stats(target);
          assert.deepEqual(
            [
              after.received - before.received,
              after.unique_processed - before.unique_processed,
              after.duplicate_dropped - before.duplicate_dropped,
              after.pending,
            ],
            [20_000, 14_000, 6_000, 0],
          );
          console.log(formatSummary(s));
        },
      );

      await t.step(
        "through a fault-injecting proxy every event is still accepted, unique exact, retries shown",
        async () => {
          // The first 40 /publish requests cycle through every fault with passes in between; after
          // that the network heals, so no batch can exhaust its attempts by bad luck.
          const cycle: Fault[] = [
            "reset",
            "pass",
            "unavailable",
            "pass",
            "stall",
            "pass",
            "lost-ack",
            "pass",
          ];
          const proxy = startFaultProxy(target, {
            faultFor: (n) => (n < 40 ? cycle[n % cycle.length] : "pass"),
            stallMs: 2_500,
          });
          try {
            const before = await stats(target);
            // The client timeout leaves a wide margin over a loaded 2-core machine's slowest
            // honest answer (~200 ms); the stall holds answers well past it.
            const argv = `--url ${proxy.url.href} --events 5000 --dup-rate 0.3 --seed 5000 --batch 100
              --concurrency 4 --timeout 1500 --attempts 10 --deadline 120 --verify`.split(/\s+/);
            const options: Options = toOptions(parseCliArgs(argv), {});
            const progress: string[] = [];
            const s = await publish(options, {
              tty: false,
              write: (line) => progress.push(line),
              progressIntervalMs: 500,
            });
            const text = formatSummary(s);
            console.log(text);
            console.log(
              "faults injected:",
              JSON.stringify(proxy.injected),
              "unacknowledged events:",
              proxy.unacknowledgedEvents,
            );

            assert.equal(s.ok, true, `${text}\n--- aggregator log ---\n${aggregator.logs()}`);
            assert.deepEqual([s.accepted, s.failed], [5_000, 0]);
            for (const fault of ["reset", "unavailable", "stall", "lost-ack"] as const) {
              assert.ok(proxy.injected[fault] >= 4, `${fault} injected ${proxy.injected[fault]} times`);
            }
            // Every injected fault is a visible retry, named by kind. An unfaulted request that
            // timed out on a busy machine would add a retry; none may go missing.
            const { reset, unavailable, stall } = proxy.injected;
            const faults = reset + unavailable + stall + proxy.injected["lost-ack"];
            assert.ok(s.retries >= faults, `${s.retries} retries for ${faults} faults`);
            assert.ok((s.retry_reasons["HTTP 503"] ?? 0) >= unavailable);
            assert.ok((s.retry_reasons["timeout"] ?? 0) >= stall);
            assert.ok((s.retry_reasons["network error"] ?? 0) >= reset + proxy.injected["lost-ack"]);
            assert.match(text, /retries +\d+ \(.*HTTP 503 ×\d+/);

            // The aggregator's truth, read directly: unique is exact. Duplicates are the injected
            // ones plus the copies whose acknowledgement the proxy swallowed (exactly, when no
            // other request timed out), and never more than the publisher's own bound.
            const after = await stats(target);
            const dupDelta = after.duplicate_dropped - before.duplicate_dropped;
            assert.equal(after.pending, 0);
            assert.equal(after.unique_processed - before.unique_processed, 3_500);
            assert.ok(proxy.unacknowledgedEvents > 0);
            assert.ok(dupDelta >= 1_500 + proxy.unacknowledgedEvents, `duplicates +${dupDelta}`);
            assert.ok(dupDelta <= 1_500 + s.maybe_redelivered, `duplicates +${dupDelta}`);
            if (s.retries === faults) assert.equal(dupDelta, 1_500 + proxy.unacknowledgedEvents);
            assert.equal(after.received - before.received, 3_500 + dupDelta);
            assert.equal(s.verify?.ok, true, String(s.verify?.problems.join("; ") ?? s.verify_error));
            assert.ok(
              progress.some((l) => l.startsWith("progress: ")),
              "plain progress lines when not a TTY",
            );
          } finally {
            await proxy.close();
          }
        },
      );
    });
  },
});

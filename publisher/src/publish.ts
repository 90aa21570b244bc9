/**
 * One run end to end: plan → (verify: wait for an idle aggregator, read /stats) → send with
 * progress → (verify: wait for pending == 0, compare) → summary. Shared by main.ts and the
 * integration tests, which call it in-process.
 */
import type { Options } from "./args.ts";
import { expectedStats, generateBatches, planRun } from "./generate.ts";
import { randomSeed } from "./prng.ts";
import { startProgress } from "./progress.ts";
import { RateLimiter } from "./rate_limit.ts";
import { summarize, type Summary } from "./report.ts";
import { Deadline } from "./retry.ts";
import { newCounters, sendBatches } from "./send.ts";
import { compareStats, type Stats, type StatsContext, type Verification, waitForIdle } from "./verify.ts";

/**
 * Seeded runs stamp events from this fixed instant so a replay is byte-identical; unseeded runs
 * use the current time.
 */
export const SEEDED_EPOCH_MS = Date.UTC(2025, 0, 1);

/** Where progress goes; main.ts passes stderr, tests pass a collector. */
export interface PublishIO {
  tty: boolean;
  write: (text: string) => void;
  progressIntervalMs?: number;
}

/** Publish the generated events and, with --verify, check the aggregator's /stats. */
export async function publish(options: Options, io: PublishIO): Promise<Summary> {
  const seed = options.seed ?? randomSeed();
  const plan = planRun({
    events: options.events,
    dupRate: options.dupRate,
    topics: options.topics,
    seed,
    epochMs: options.seed === undefined ? Date.now() : SEEDED_EPOCH_MS,
  });
  const expected = expectedStats(plan);
  const deadline = new Deadline(options.deadlineMs);
  const counters = newCounters();
  const stats: StatsContext = { ...options, deadline };
  let before: Stats | undefined;
  let verify: Verification | undefined;
  let verifyError: string | undefined;
  let elapsedMs = 0;
  try {
    io.write(
      `publishing ${plan.events} events (${plan.unique} unique + ${plan.duplicates} duplicates, ` +
        `${plan.topics.length} topics, seed ${seed}) to ${options.url.href}\n`,
    );
    if (options.verify) {
      try {
        before = await waitForIdle(stats);
      } catch (e) {
        verifyError = `before publishing: ${(e as Error).message}`;
        counters.failed = plan.events;
        counters.rejections.push({
          why: "not sent",
          reason: "could not read /stats",
          batches: 0,
          events: plan.events,
        });
      }
    }
    if (!verifyError) {
      const started = performance.now();
      const stop = startProgress(counters, plan.events, {
        tty: io.tty,
        write: io.write,
        intervalMs: io.progressIntervalMs,
      });
      try {
        await sendBatches(generateBatches(plan, options.batch), {
          url: options.url,
          token: options.token,
          concurrency: options.concurrency,
          attempts: options.attempts,
          timeoutMs: options.timeoutMs,
          deadline,
          limiter: options.rate ? new RateLimiter(options.rate) : undefined,
          counters,
        });
      } finally {
        stop();
      }
      elapsedMs = performance.now() - started;
    }
    if (before && counters.accepted > 0) {
      const drainStarted = performance.now();
      try {
        const after = await waitForIdle(stats);
        verify = compareStats(
          before,
          after,
          expected,
          counters.maybeRedelivered,
          performance.now() - drainStarted,
        );
      } catch (e) {
        verifyError = `after publishing: ${(e as Error).message}`;
      }
    }
  } finally {
    deadline.dispose();
  }
  return summarize({
    url: options.url,
    plan,
    expected,
    batch: options.batch,
    concurrency: options.concurrency,
    counters,
    elapsedMs,
    verify,
    verifyError,
    verifyRequested: options.verify,
  });
}

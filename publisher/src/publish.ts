/**
 * One run end to end: plan → (verify: wait for an idle aggregator, read /stats) → send with
 * progress → (verify: wait for pending == 0, compare) → summary. Shared by main.ts and the
 * integration tests, which call it in-process.
 */
import type { Options } from "./args.ts";
import { type Batch, type ExpectedStats, expectedStats, generateBatches, planRun } from "./generate.ts";
import { type EventFile, expectedFromFile, fileBatches } from "./ndjson.ts";
import { probeAggregator } from "./probe.ts";
import { randomSeed } from "./prng.ts";
import { startProgress } from "./progress.ts";
import { RateLimiter } from "./rate_limit.ts";
import { type RunShape, shapeOfPlan, summarize, type Summary } from "./report.ts";
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
  /** Ctrl-C / SIGTERM: stop sending, abort what is in flight, return the summary so far. */
  interrupt?: AbortSignal;
}

/** What to send: the generator's plan, or the lines of an --ndjson input. */
interface Run {
  shape: RunShape;
  expected: ExpectedStats;
  batches: Iterable<Batch>;
  announce: string;
}

function generatedRun(options: Options): Run {
  const seed = options.seed ?? randomSeed();
  const plan = planRun({
    events: options.events,
    dupRate: options.dupRate,
    topics: options.topics,
    seed,
    epochMs: options.seed === undefined ? Date.now() : SEEDED_EPOCH_MS,
  });
  return {
    shape: shapeOfPlan(plan),
    expected: expectedStats(plan),
    batches: generateBatches(plan, options.batch),
    announce: `${plan.events} events (${plan.unique} unique + ${plan.duplicates} duplicates, ` +
      `${plan.topics.length} topics, seed ${seed})`,
  };
}

function fileRun(file: EventFile, batch: number): Run {
  const expected = expectedFromFile(file);
  return {
    shape: {
      seed: null,
      source: file.source,
      events: file.lines.length,
      unique: file.distinct,
      duplicates: expected.duplicate_dropped,
      topics: file.topics,
    },
    expected,
    batches: fileBatches(file, batch),
    announce:
      `${file.lines.length} events from ${file.source} (${file.distinct} distinct, ${file.topics} topics)`,
  };
}

/**
 * Publish the generated events (or `input`, read from --ndjson) and, with --verify, check the
 * aggregator's /stats.
 */
export async function publish(options: Options, io: PublishIO, input?: EventFile): Promise<Summary> {
  const { shape, expected, batches, announce } = input
    ? fileRun(input, options.batch)
    : generatedRun(options);
  const deadline = new Deadline(options.deadlineMs, io.interrupt);
  const counters = newCounters();
  const stats: StatsContext = { ...options, deadline };
  let before: Stats | undefined;
  let verify: Verification | undefined;
  let verifyError: string | undefined;
  let elapsedMs = 0;
  try {
    io.write(`publishing ${announce} to ${options.url.href}\n`);
    const unreachable = await probeAggregator(options.url, options.timeoutMs, options.waitMs, io.write);
    if (unreachable) {
      counters.failed = shape.events;
      counters.rejections.push({ why: "not sent", reason: unreachable, batches: 0, events: shape.events });
    } else if (options.verify) {
      try {
        before = await waitForIdle(stats);
      } catch (e) {
        verifyError = `before publishing: ${(e as Error).message}`;
        counters.failed = shape.events;
        counters.rejections.push({
          why: "not sent",
          reason: "could not read /stats",
          batches: 0,
          events: shape.events,
        });
      }
    }
    if (!verifyError && counters.failed === 0) {
      const started = performance.now();
      const stop = startProgress(counters, shape.events, {
        tty: io.tty,
        write: io.write,
        intervalMs: io.progressIntervalMs,
      });
      try {
        await sendBatches(batches, {
          url: options.url,
          token: options.token,
          concurrency: options.concurrency,
          attempts: options.attempts,
          timeoutMs: options.timeoutMs,
          deadline,
          limiter: options.rate ? new RateLimiter(options.rate) : undefined,
          counters,
          interrupt: io.interrupt,
        });
      } finally {
        stop();
      }
      elapsedMs = performance.now() - started;
    }
    if (before && counters.accepted > 0 && !io.interrupt?.aborted) {
      const drainStarted = performance.now();
      try {
        const after = await waitForIdle(stats);
        verify = compareStats(
          before,
          after,
          expected,
          counters.maybeRedelivered,
          performance.now() - drainStarted,
          input ? "possible" : "none",
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
    shape,
    expected,
    interrupted: io.interrupt?.aborted === true,
    batch: options.batch,
    concurrency: options.concurrency,
    counters,
    elapsedMs,
    verify,
    verifyError,
    verifyRequested: options.verify,
  });
}

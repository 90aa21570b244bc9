/**
 * The load generator: N events of which exactly round(N × dupRate) re-send an earlier event byte
 * for byte, spread over T topics. Event j (the j-th unique event) is a pure function of (seed, j,
 * epoch), so a duplicate is produced by rendering j again and a whole run replays under --seed.
 */
import { mix32, mulberry32 } from "./prng.ts";

/** What one run generates; the counts are what the aggregator's /stats must grow by. */
export interface Plan {
  readonly seed: number;
  readonly events: number;
  readonly unique: number;
  readonly duplicates: number;
  readonly topics: readonly string[];
  /** Timestamp of unique event 0, in ms since the epoch; event j is stamped epochMs + j. */
  readonly epochMs: number;
}

/** One POST /publish body: a JSON array of already serialised events. */
export interface Batch {
  readonly index: number;
  readonly body: string;
  readonly events: number;
  readonly duplicates: number;
}

/** /stats deltas a correct aggregator ends with after the run (with no retried re-deliveries). */
export interface ExpectedStats {
  readonly received: number;
  readonly unique_processed: number;
  readonly duplicate_dropped: number;
}

/** Plan a run; `dupRate` must leave at least one unique event (args.ts enforces it). */
export function planRun(input: {
  events: number;
  dupRate: number;
  topics: number;
  seed: number;
  epochMs: number;
}): Plan {
  const duplicates = Math.round(input.events * input.dupRate);
  if (input.events < 1 || duplicates >= input.events) {
    throw new RangeError(`cannot plan ${input.events} events with ${duplicates} duplicates`);
  }
  return Object.freeze({
    seed: input.seed >>> 0,
    events: input.events,
    unique: input.events - duplicates,
    duplicates,
    topics: Object.freeze(Array.from({ length: input.topics }, (_, k) => `topic-${k}`)),
    epochMs: input.epochMs,
  });
}

/** The /stats growth the plan implies. */
export function expectedStats(plan: Plan): ExpectedStats {
  return { received: plan.events, unique_processed: plan.unique, duplicate_dropped: plan.duplicates };
}

/** Run tag shared by every event_id of a seed, so ids never collide across topics or seeds. */
export function runTag(seed: number): string {
  return (seed >>> 0).toString(16).padStart(8, "0");
}

const LEVELS = ["debug", "info", "info", "info", "warn", "error"] as const;
const MESSAGES = ["request served", "cache miss", "job finished", "retrying upstream", "slow query"] as const;

/** Serialise the j-th unique event of a plan; identical input gives identical bytes. */
export function renderEvent(plan: Plan, j: number): string {
  const rnd = mulberry32(mix32(plan.seed, j));
  const topic = plan.topics[Math.floor(rnd() * plan.topics.length)];
  return JSON.stringify({
    topic,
    event_id: `${runTag(plan.seed)}-${j}`,
    timestamp: new Date(plan.epochMs + j).toISOString(),
    source: `publisher-${Math.floor(rnd() * 4)}`,
    payload: {
      seq: j,
      level: LEVELS[Math.floor(rnd() * LEVELS.length)],
      message: MESSAGES[Math.floor(rnd() * MESSAGES.length)],
      latency_ms: Math.floor(rnd() * 2000),
      user: `u-${Math.floor(rnd() * 10_000)}`,
    },
  });
}

/** One generated event: its bytes and which unique event it is (or re-sends). */
export interface GeneratedEvent {
  readonly line: string;
  readonly unique: number;
  readonly duplicate: boolean;
}

/**
 * Yield the plan's events in send order. Duplicate slots are chosen by selection sampling
 * (Knuth's algorithm S), which picks exactly `duplicates` of the slots after the first; each
 * duplicate re-sends a uniformly chosen unique event generated before it.
 */
export function* generateEvents(plan: Plan): Generator<GeneratedEvent> {
  const rnd = mulberry32(mix32(plan.seed, -1));
  let emitted = 0;
  let dupsLeft = plan.duplicates;
  for (let slot = 0; slot < plan.events; slot++) {
    const slotsLeft = plan.events - slot;
    const duplicate = slot > 0 && rnd() * slotsLeft < dupsLeft;
    if (duplicate) {
      dupsLeft--;
      const j = Math.floor(rnd() * emitted);
      yield { line: renderEvent(plan, j), unique: j, duplicate: true };
    } else {
      yield { line: renderEvent(plan, emitted), unique: emitted, duplicate: false };
      emitted++;
    }
  }
}

/** Group events into request bodies of at most `size` events (JSON arrays). */
export function* generateBatches(plan: Plan, size: number): Generator<Batch> {
  let lines: string[] = [];
  let duplicates = 0;
  let index = 0;
  for (const event of generateEvents(plan)) {
    lines.push(event.line);
    if (event.duplicate) duplicates++;
    if (lines.length === size) {
      yield { index: index++, body: `[${lines.join(",")}]`, events: lines.length, duplicates };
      lines = [];
      duplicates = 0;
    }
  }
  if (lines.length > 0) yield { index, body: `[${lines.join(",")}]`, events: lines.length, duplicates };
}

/**
 * --ndjson FILE | -: your own events, one JSON object per line, sent with the same batching,
 * retries and verification as generated ones. The whole input is read and checked before the
 * first request, so a malformed line changes nothing on the server. Lines are sent as read
 * (never re-serialised): JSON.parse would round big integers and reorder integer-like keys.
 */
import type { Batch, ExpectedStats } from "./generate.ts";

/** A checked NDJSON input. */
export interface EventFile {
  /** Where the events came from: a path, or "stdin". */
  readonly source: string;
  readonly lines: readonly string[];
  /** Distinct (topic, event_id) pairs: at most this many can be stored as new. */
  readonly distinct: number;
  readonly topics: number;
}

/** A line that is not an event; reported with its 1-based line number. */
export class EventFileError extends Error {
  override name = "EventFileError";
}

/** Read FILE (or stdin for "-") and check every line; throws EventFileError listing the bad ones. */
export async function readEventFile(path: string, stdin: ReadableStream<Uint8Array>): Promise<EventFile> {
  const source = path === "-" ? "stdin" : path;
  let text: string;
  try {
    text = path === "-" ? await new Response(stdin).text() : await Deno.readTextFile(path);
  } catch (e) {
    throw new EventFileError(`cannot read ${source}: ${(e as Error).message}`);
  }
  return parseEventLines(text, source);
}

/** Split and check NDJSON text (pure). Blank lines are skipped; at most 10 problems are listed. */
export function parseEventLines(text: string, source: string): EventFile {
  const lines: string[] = [];
  const keys = new Set<string>();
  const topics = new Set<string>();
  const problems: string[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "") return;
    const problem = checkEvent(line);
    if (problem) {
      problems.push(`line ${i + 1}: ${problem}`);
      return;
    }
    const { topic, event_id } = JSON.parse(line) as { topic: string; event_id: string };
    keys.add(`${topic}\u0000${event_id}`);
    topics.add(topic);
    lines.push(line);
  });
  if (problems.length > 0) {
    const more = problems.length > 10 ? `\n(and ${problems.length - 10} more)` : "";
    throw new EventFileError(
      `${source}: ${problems.length} lines are not events:\n${problems.slice(0, 10).join("\n")}${more}`,
    );
  }
  if (lines.length === 0) {
    throw new EventFileError(`${source}: no events (expected one JSON object per line)`);
  }
  return Object.freeze({ source, lines, distinct: keys.size, topics: topics.size });
}

/** What is wrong with one line, or undefined. The aggregator checks the rest and says where. */
function checkEvent(line: string): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (e) {
    return `not JSON (${(e as Error).message})`;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) return "not a JSON object";
  const event = value as Record<string, unknown>;
  for (const field of ["topic", "event_id"] as const) {
    if (typeof event[field] !== "string" || event[field] === "") {
      return `"${field}" must be a non-empty string`;
    }
  }
  return undefined;
}

/** The /stats growth when none of these events was stored before the run. */
export function expectedFromFile(file: EventFile): ExpectedStats {
  return {
    received: file.lines.length,
    unique_processed: file.distinct,
    duplicate_dropped: file.lines.length - file.distinct,
  };
}

/** Group the lines into request bodies of at most `size` events (JSON arrays). */
export function* fileBatches(file: EventFile, size: number): Generator<Batch> {
  for (let start = 0, index = 0; start < file.lines.length; start += size, index++) {
    const lines = file.lines.slice(start, start + size);
    yield { index, body: `[${lines.join(",")}]`, events: lines.length, duplicates: 0 };
  }
}

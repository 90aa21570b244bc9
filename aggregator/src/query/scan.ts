/**
 * Reads the events of a time range in chunks, newest or oldest first, as Loki entries. SQL
 * narrows by time, by topic (a `topic` matcher is evaluated over the `topics` table, RE2 and
 * all, and becomes `topic = ANY(...)`) and by an exact `source`; every other matcher, the line
 * filters and the pipeline run in process (entry.ts, pipeline.ts).
 *
 * Reads respect the read horizon as GET /events does: only events below it are seen, so a
 * query and a following page agree. All chunks run in one transaction whose statement_timeout
 * is the query's remaining time.
 */
import type { TransactionSql } from 'postgres';
import type { Sql } from '../db/client';
import { QueryRejected } from '../errors';
import { type HorizonBound, horizonCte } from '../events/horizon';
import { type Entry, type EventRow, toEntry } from './entry';
import type { Matcher } from './logql/ast';

export interface ScanRange {
  /** Unix nanoseconds, start inclusive, end exclusive. */
  startNs: bigint;
  endNs: bigint;
}

export interface ScanOptions extends ScanRange {
  matchers: readonly Matcher[];
  /** Texts the stored payload must contain (requiredSubstrings): checked in SQL, a prefilter only. */
  contains?: readonly string[];
  direction: 'forward' | 'backward';
  chunkRows: number;
  /** Stop reading after this many payload bytes (QueryRejected), or after `maxRows` rows (quietly). */
  maxScanBytes: number;
  maxRows?: number;
  /** Called when the scan stops at `maxRows` with rows of the range possibly left unread. */
  onMaxRows?: () => void;
  /** Date.now() after which the scan stops with a 400 (checked between chunks). */
  deadline: number;
  /** Only events with a seq below this (the tail's first read, tail.ts). */
  belowSeq?: bigint;
}

/** An events row as the scans read it: what toEntry needs, and the seq. */
export type ScannedRow = EventRow & { seq: string };
type Row = ScannedRow;

const floorMicros = (ns: bigint) => ns / 1000n - (ns % 1000n < 0n ? 1n : 0n);

/** Topics a selector can match, or null when it has no `topic` matcher (every topic). */
export async function candidateTopics(tx: TransactionSql | Sql, matchers: readonly Matcher[]): Promise<string[] | null> {
  const topicMatchers = matchers.filter((m) => m.name === 'topic');
  if (topicMatchers.length === 0) return null;
  const equal = topicMatchers.find((m) => m.op === '=');
  if (equal) return topicMatchers.every((m) => m.test(equal.value)) ? [equal.value] : [];
  const rows = await tx<{ name: string }[]>`SELECT name FROM topics`;
  return rows.map((r) => r.name).filter((name) => topicMatchers.every((m) => m.test(name)));
}

const timedOut = () => new QueryRejected('query timed out: narrow the time range or the selector');

/**
 * Runs `body` in one read transaction limited to `timeoutMs` (statement_timeout); a statement
 * cancelled by it becomes a 400 saying the query took too long.
 */
export async function inQueryTransaction<T>(sql: Sql, timeoutMs: number, body: (tx: TransactionSql) => Promise<T>): Promise<T> {
  try {
    return (await sql.begin(async (tx) => {
      await tx`SELECT set_config('statement_timeout', ${String(Math.max(1, Math.ceil(timeoutMs)))}, true)`;
      return body(tx);
    })) as T;
  } catch (error) {
    if ((error as { code?: string }).code === '57014') {
      throw timedOut();
    }
    throw error;
  }
}

/** Every entry of the range matching the selector's matchers, chunk by chunk. */
export async function* scanEntries(tx: TransactionSql, bound: HorizonBound, options: ScanOptions): AsyncGenerator<Entry[]> {
  const topics = await candidateTopics(tx, options.matchers);
  if (topics !== null && topics.length === 0) return;
  const source = options.matchers.find((m) => m.name === 'source' && m.op === '=')?.value ?? null;
  // Stored timestamps have microseconds; a Loki entry keeps its nanoseconds in the payload
  // (entry.ts), so the SQL range is one microsecond wider each side and the exact test is here.
  const fromMicros = floorMicros(options.startNs) - 1n;
  const toMicros = floorMicros(options.endNs) + 2n;
  const backward = options.direction === 'backward';
  const maxRows = options.maxRows ?? Number.POSITIVE_INFINITY;
  let cursor: Row | null = null;
  let scannedBytes = 0;
  let scannedRows = 0;
  for (;;) {
    const after = cursor;
    // The seq bounds are written `seq + 0` so they are filters, never index conditions: with
    // `seq < horizon` usable on events_topic_seq_idx the planner AND-ed a bitmap of every seq
    // of the topic (1.25 M entries of 10 M events, 1.5 s) with the BRIN instead of reading the
    // range from (topic, "timestamp"). ORDER BY names the columns: the bare `seq` is the text
    // output column, which sorts "10" before "9".
    const rows: Row[] = await tx<Row[]>`
      WITH ${horizonCte(tx as unknown as Sql, bound)}
      SELECT topic, seq::text AS seq, source, payload::text AS payload,
        (extract(epoch FROM "timestamp") * 1000000)::int8::text AS micros
      FROM events
      WHERE "timestamp" >= 'epoch'::timestamptz + ${fromMicros.toString()}::int8 * interval '1 microsecond'
        AND "timestamp" < 'epoch'::timestamptz + ${toMicros.toString()}::int8 * interval '1 microsecond'
        AND seq + 0 < (SELECT h FROM horizon)
        ${options.belowSeq === undefined ? tx`` : tx`AND seq + 0 < ${options.belowSeq.toString()}::int8`}
        ${topics === null ? tx`` : topics.length === 1 ? tx`AND topic = ${topics[0]!}` : tx`AND topic = ANY(${topics}::text[])`}
        ${source === null ? tx`` : tx`AND source = ${source}`}
        ${(options.contains ?? []).reduce((clause, text) => tx`${clause} AND strpos(payload::text, ${text}) > 0`, tx``)}
        ${
          after === null
            ? tx``
            : backward
              ? tx`AND ("timestamp", topic, seq) < ('epoch'::timestamptz + ${after.micros}::int8 * interval '1 microsecond', ${after.topic}, ${after.seq}::int8)`
              : tx`AND ("timestamp", topic, seq) > ('epoch'::timestamptz + ${after.micros}::int8 * interval '1 microsecond', ${after.topic}, ${after.seq}::int8)`
        }
      ORDER BY ${backward ? tx`events."timestamp" DESC, events.topic DESC, events.seq DESC` : tx`events."timestamp", events.topic, events.seq`}
      LIMIT ${Math.min(options.chunkRows, maxRows - scannedRows)}`;
    if (rows.length === 0) return;
    cursor = rows.at(-1)!;
    scannedRows += rows.length;
    const entries: Entry[] = [];
    for (const row of rows) {
      scannedBytes += row.payload.length;
      const entry = toEntry(row);
      const ns = BigInt(entry.ns);
      if (ns < options.startNs || ns >= options.endNs) continue;
      if (options.matchers.every((m) => m.test(entry.labels[m.name] ?? ''))) entries.push(entry);
    }
    if (scannedBytes > options.maxScanBytes) {
      throw new QueryRejected(`the query would read more than ${options.maxScanBytes} bytes of events: narrow the time range or the selector`);
    }
    if (Date.now() > options.deadline) throw timedOut();
    yield entries;
    if (scannedRows >= maxRows) options.onMaxRows?.();
    if (rows.length < options.chunkRows || scannedRows >= maxRows) return;
  }
}

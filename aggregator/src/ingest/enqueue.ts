/**
 * Writes an accepted batch to the inbox. One statement, so one implicit transaction: the rows
 * and the `received` count commit together or not at all (the /stats invariant depends on it),
 * and the 202 is sent only after that commit returns.
 *
 * Each event's seq is drawn here, in arrival order across the whole statement (so a request's
 * events keep their order whatever partitions they land in), and the transaction holds the
 * drawer lock before the first seq is drawn: the read horizon (events/horizon.ts) relies on
 * that to know when every seq up to a value has either committed or never will.
 */
import { setTimeout as nextTurn } from 'node:timers/promises';
import type { Sql } from '../db/client';
import { INGEST_SHARDS } from '../db/schema';
import { type InboxEvent, payloadJsonOf } from './inbox-event';
import { partitionOf } from '../db/partition';
import { takeDrawerLock } from '../events/horizon';

/**
 * The statement's events as one array per column, partition by partition (arrival order kept
 * within each), and each partition's row as a slice of them: `firsts`/`lasts` (1-based), its
 * payload `bytes` (the inbox row's `bytes`, which sizes claims) and `positions`, each event's
 * place in the statement (its seq is the statement's seq there).
 */
export interface InboxColumns {
  parts: number[];
  firsts: number[];
  lasts: number[];
  bytes: number[];
  positions: number[];
  topics: string[];
  eventIds: string[];
  timestamps: string[];
  sources: string[];
  /** Payload JSON texts, stored as sent. */
  payloads: string[];
}

/** Groups `events` by the partition of their key and lays them out as inbox columns. */
export function inboxColumns(events: readonly InboxEvent[]): InboxColumns {
  const byPart = new Map<number, number[]>();
  for (let i = 0; i < events.length; i++) {
    const part = partitionOf(events[i]!.topic, events[i]!.event_id);
    const indexes = byPart.get(part);
    if (indexes) indexes.push(i);
    else byPart.set(part, [i]);
  }
  const columns: InboxColumns = {
    parts: [],
    firsts: [],
    lasts: [],
    bytes: [],
    positions: [],
    topics: [],
    eventIds: [],
    timestamps: [],
    sources: [],
    payloads: [],
  };
  for (const [part, indexes] of byPart) {
    columns.parts.push(part);
    columns.firsts.push(columns.topics.length + 1);
    let bytes = 0;
    for (const i of indexes) {
      const event = events[i]!;
      const payload = payloadJsonOf(event);
      bytes += Buffer.byteLength(payload);
      columns.positions.push(i + 1);
      columns.topics.push(event.topic);
      columns.eventIds.push(event.event_id);
      columns.timestamps.push(event.timestamp);
      columns.sources.push(event.source);
      columns.payloads.push(payload);
    }
    columns.lasts.push(columns.topics.length);
    columns.bytes.push(bytes);
  }
  return columns;
}

/** A text as one element of a PostgreSQL array literal (what postgres.js sends for a text[] parameter). */
const quoted = (text: string) => `"${text.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;

const TEXT_COLUMNS = ['topics', 'eventIds', 'timestamps', 'sources', 'payloads'] as const;
type TextColumn = (typeof TEXT_COLUMNS)[number];

/** One partition's share of a request. */
export interface PartRows {
  part: number;
  bytes: number;
  /** 1-based places of the events in their request (arrival order). */
  positions: number[];
  /** Where the partition's elements sit in each of the request's literals: [start, end) in characters, commas between them excluded. */
  spans: Record<TextColumn, [number, number]>;
}

/**
 * One request's events laid out for the inbox statement, partition by partition, every text
 * column already one PostgreSQL array literal: the statement's very parameter when the request
 * has a statement to itself (a body at MAX_BODY_BYTES does: INGEST_BYTES_IN_FLIGHT lets one
 * such body at a time through). Built where the request was decoded (the decode worker for a
 * large body: ingest/decode-pool.ts), so the event loop neither walks its events again, nor has
 * postgres.js quote megabytes of payload text (measured 150-570 ms for a body at MAX_BODY_BYTES
 * on a loaded 2-core machine), nor joins the partitions' texts into one (~40 ms of CPU for
 * 10 MB); merging requests into a statement joins slices of the literals.
 */
export interface InboxRows {
  count: number;
  /** The events' topics in arrival order (metrics count them). */
  topics: string[];
  parts: PartRows[];
  literals: Record<TextColumn, string>;
}

/** `events` (one request) as inbox rows. */
export function inboxRows(events: readonly InboxEvent[]): InboxRows {
  const columns = inboxColumns(events);
  const parts = columns.parts.map(
    (part, k): PartRows => ({
      part,
      bytes: columns.bytes[k]!,
      positions: columns.positions.slice(columns.firsts[k]! - 1, columns.lasts[k]!),
      spans: {} as PartRows['spans'],
    }),
  );
  const literals = {} as InboxRows['literals'];
  for (const column of TEXT_COLUMNS) {
    const pieces: string[] = [];
    let offset = 1; // past the opening brace
    parts.forEach((share, k) => {
      const piece = columns[column]
        .slice(columns.firsts[k]! - 1, columns.lasts[k]!)
        .map(quoted)
        .join(',');
      share.spans[column] = [offset, offset + piece.length];
      offset += piece.length + 1;
      pieces.push(piece);
    });
    literals[column] = `{${pieces.join(',')}}`;
  }
  return { count: events.length, topics: events.map((event) => event.topic), parts, literals };
}

/** The statement's parameters for several requests' rows: one inbox row per partition present. */
export function statementColumns(requests: readonly InboxRows[]) {
  const byPart = new Map<number, { request: InboxRows; share: PartRows; offset: number }[]>();
  let offset = 0;
  for (const request of requests) {
    for (const share of request.parts) {
      const shares = byPart.get(share.part);
      if (shares) shares.push({ request, share, offset });
      else byPart.set(share.part, [{ request, share, offset }]);
    }
    offset += request.count;
  }
  const parts: number[] = [];
  const firsts: number[] = [];
  const lasts: number[] = [];
  const bytes: number[] = [];
  const positions: number[] = [];
  const pieces = Object.fromEntries(TEXT_COLUMNS.map((c) => [c, [] as string[]])) as Record<TextColumn, string[]>;
  for (const [part, shares] of byPart) {
    parts.push(part);
    firsts.push(positions.length + 1);
    let partBytes = 0;
    for (const { request, share, offset: shift } of shares) {
      for (const position of share.positions) positions.push(position + shift);
      for (const column of TEXT_COLUMNS) pieces[column].push(request.literals[column].slice(...share.spans[column]));
      partBytes += share.bytes;
    }
    lasts.push(positions.length);
    bytes.push(partBytes);
  }
  // A request alone is sent as built: its literals are in the order of its parts already.
  const literal = (column: TextColumn) => (requests.length === 1 ? requests[0]!.literals[column] : `{${pieces[column].join(',')}}`);
  return {
    count: offset,
    parts,
    firsts,
    lasts,
    bytes,
    positions,
    topics: literal('topics'),
    eventIds: literal('eventIds'),
    timestamps: literal('timestamps'),
    sources: literal('sources'),
    payloads: literal('payloads'),
  };
}

/** Above this much payload text a statement's parameters are built and sent in separate turns. */
const YIELD_ABOVE_CHARS = 1024 * 1024;

/** Durably enqueues `events` (one request); see enqueueRows. */
export function enqueueEvents(sql: Sql, events: readonly InboxEvent[]): Promise<number> {
  return enqueueRows(sql, [inboxRows(events)]);
}

/**
 * Durably enqueues the rows of one or more requests; resolves after the commit with the number of partitions written. One inbox row per partition present:
 * a statement carrying thousands of events writes at most PARTITION_COUNT rows.
 *
 * The columns travel as one array each (array-literal text, inboxRows), the rows as slices of
 * them: one statement text for any number of rows (one prepared statement per connection, not
 * one per row count; measured 15-25 MB less RSS under load than a VALUES row per partition).
 */
export async function enqueueRows(sql: Sql, requests: readonly InboxRows[]): Promise<number> {
  const columns = statementColumns(requests);
  // Joining megabytes of text and postgres.js writing it out take ~40 ms of CPU each at
  // MAX_BODY_BYTES: turns of the event loop apart (a timer: an immediate would run before the
  // loop polls for I/O again), not one block of twice that.
  if (columns.payloads.length > YIELD_ABOVE_CHARS) await nextTurn(0);
  // `drawn`: the WHERE (a one-time filter) is true before any series row reaches the aggregate
  // that calls nextval, so the drawer lock is held before the first seq (events/horizon.ts). The
  // transaction id is taken there too: replicas of the previous build (whose horizon waits on
  // transaction ids) rely on it while a rolling upgrade runs both. The counter shard follows the backend pid:
  // a connection never waits on itself, and two connections share a row only when their pids
  // collide modulo INGEST_SHARDS.
  await sql`
    WITH drawn AS MATERIALIZED (
      SELECT array_agg(nextval('events_seq') ORDER BY g) AS seqs
      FROM generate_series(1, ${columns.count}::int) AS g
      WHERE (SELECT ${takeDrawerLock(sql)}) IS NOT NULL AND pg_current_xact_id() IS NOT NULL
    ),
    columns AS MATERIALIZED (
      SELECT ${columns.positions}::int4[] AS positions, ${columns.topics}::text[] AS topics, ${columns.eventIds}::text[] AS event_ids,
        ${columns.timestamps}::text[]::timestamptz[] AS timestamps, ${columns.sources}::text[] AS sources, ${columns.payloads}::text[]::json[] AS payloads
    ),
    accepted AS (
      INSERT INTO inbox (part, id, n, bytes, topics, event_ids, timestamps, sources, payloads, seqs)
      SELECT r.part, d.seqs[c.positions[r.first]], r.last - r.first + 1, r.bytes,
        c.topics[r.first:r.last], c.event_ids[r.first:r.last], c.timestamps[r.first:r.last], c.sources[r.first:r.last],
        c.payloads[r.first:r.last],
        ARRAY(SELECT d.seqs[p.position] FROM unnest(c.positions[r.first:r.last]) WITH ORDINALITY AS p(position, k) ORDER BY p.k)
      FROM unnest(${columns.parts}::int2[], ${columns.firsts}::int4[], ${columns.lasts}::int4[], ${columns.bytes}::int4[]) AS r(part, first, last, bytes)
      CROSS JOIN drawn AS d
      CROSS JOIN columns AS c
      RETURNING n
    )
    UPDATE counters
    SET received = received + (SELECT sum(n) FROM accepted)
    WHERE shard = pg_backend_pid() % ${INGEST_SHARDS}
  `;
  return columns.parts.length;
}

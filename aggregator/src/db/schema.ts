/**
 * The source of truth for the tables; `npm run db:generate` turns changes into SQL migrations.
 * Invariants and the reasons behind each table are in docs/ARCHITECTURE.md.
 */
import {
  customType,
  bigint,
  bigserial,
  index,
  integer,
  json,
  pgSequence,
  pgTable,
  primaryKey,
  smallint,
  text,
  timestamp,
  unique,
} from 'drizzle-orm/pg-core';

/**
 * Text compared byte by byte. Topics and event ids are identifiers, not prose: the "C" collation
 * makes every comparison in the dedup and paging indexes a memcmp instead of a locale lookup
 * (whatever the database's default locale), and lets sorts use abbreviated keys.
 */
const key = customType<{ data: string }>({ dataType: () => 'text COLLATE "C"' });

/**
 * Inbox partitions. Every copy of a key (topic, event_id) maps to the same partition (see
 * db/partition.ts), and a worker applies a partition only while holding its lease row, so one
 * key is applied by one transaction at a time: the lowest seq of a key wins (the first
 * acknowledged copy is the one stored) and the dedup probe cannot race. A topic spreads over
 * every partition and is applied by many transactions at once; readers stay gap-free through
 * the read horizon (events/horizon.ts).
 */
export const PARTITION_COUNT = 32;

/** Counter rows written by /publish, picked by backend pid so connections rarely share one. */
export const INGEST_SHARDS = 64;

/** Counter row a worker writes for partition p: INGEST_SHARDS + p, never contended (lease held). */
export const applyShard = (part: number) => INGEST_SHARDS + part;

/**
 * One row per inbox statement and partition: the events of that group, column by column, in
 * arrival order. Arrays, not a JSON document: PostgreSQL parses each payload and timestamp once,
 * at ingest (so a value it cannot store fails the publish, not the apply), and the apply only
 * unnests them.
 *
 * Each event's seq is drawn at ingest, in arrival order (docs/ARCHITECTURE.md "Seq at
 * acknowledgement"), and the row's id is its first seq: ids are unique across partitions, a
 * partition's rows are claimed in seq order, and the lowest id in the inbox bounds every seq
 * still waiting (the read horizon).
 */
export const inbox = pgTable(
  'inbox',
  {
    part: smallint('part').notNull(),
    // At most the lowest of `seqs` (equal at ingest; one less per carve, workers/carve.ts).
    id: bigint('id', { mode: 'number' }).notNull(),
    // Events in this row; summed by /stats (pending) and by the claim to size a batch.
    n: integer('n').notNull(),
    // Payload bytes (UTF-8 JSON text) in this row: the claim's byte budget sums it, and a row
    // is never more than one coalesced statement's worth (ingest/coalescer.ts maxBytes).
    bytes: integer('bytes').notNull(),
    topics: text('topics').array().notNull(),
    eventIds: text('event_ids').array().notNull(),
    timestamps: timestamp('timestamps', { withTimezone: true, precision: 6 }).array().notNull(),
    sources: text('sources').array().notNull(),
    payloads: json('payloads').array().notNull(),
    // The events' seqs, ascending: what they are stored with if they are not duplicates.
    seqs: bigint('seqs', { mode: 'number' }).array().notNull(),
    acceptedAt: timestamp('accepted_at', { withTimezone: true }).notNull().defaultNow(),
  },
  // Serves the claim (`WHERE part = $1 ORDER BY id`), the lease's "has work" probe and the horizon.
  (table) => [primaryKey({ name: 'inbox_pkey', columns: [table.part, table.id] })],
);

/**
 * Events that failed to apply even alone (a batch that kept failing was split down to one
 * event; workers/split.ts). Parked, not dropped: they were acknowledged, so they count as
 * pending in /stats until re-queued (docs/ARCHITECTURE.md, "Bounded by bytes, never stalled by one batch"), and the rest of
 * their partition flows on.
 */
export const inboxParked = pgTable('inbox_parked', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  part: smallint('part').notNull(),
  // The inbox row it came from, for the operator's record.
  inboxId: bigint('inbox_id', { mode: 'number' }).notNull(),
  topic: text('topic').notNull(),
  eventId: text('event_id').notNull(),
  timestamp: timestamp('timestamp', { withTimezone: true, precision: 6 }).notNull(),
  source: text('source').notNull(),
  payload: json('payload').notNull(),
  // The last error the event failed with.
  error: text('error').notNull(),
  parkedAt: timestamp('parked_at', { withTimezone: true }).notNull().defaultNow(),
});

/**
 * The lease rows workers lock with FOR UPDATE SKIP LOCKED; seeded 0..PARTITION_COUNT-1. Called
 * inbox_partitions before migration 0008, which left an empty view by that name so replicas of
 * an older build (routing by topic) find no partition to lease and stop at their layout check.
 */
export const inboxLeases = pgTable('inbox_leases', {
  part: smallint('part').primaryKey(),
});

/**
 * Global event sequence, drawn at ingest. CACHE 1 is load-bearing: with a per-backend cache, two
 * connections would hand out interleaved ranges, seq would stop following acknowledgement order,
 * and the sequence's last_value (the read horizon's bound, events/horizon.ts) would not bound
 * the values handed out.
 */
export const eventsSeq = pgSequence('events_seq', { cache: 1 });

/**
 * Processed events: one row per stored (topic, event_id); identity is kept in `event_keys`.
 *
 * PARTITION BY RANGE (expires_at), which drizzle cannot express: the table and its partitions are
 * created by migration 0006 and retention/partitions.ts. Partitioning by the deadline (not by the
 * arrival time) lets topics with different retentions share partitions and still expire by
 * dropping whole partitions. A partitioned table's unique constraints must include the partition
 * key, which is why deduplication moved to `event_keys`.
 */
export const events = pgTable(
  'events',
  {
    topic: key('topic').notNull(),
    // Drawn from events_seq at ingest (inbox.seqs), in acknowledgement order. No default since
    // 0008: a seq drawn anywhere else, without the ingest's rules, could pass the read horizon.
    seq: bigint('seq', { mode: 'number' }).notNull(),
    eventId: key('event_id').notNull(),
    timestamp: timestamp('timestamp', { withTimezone: true, precision: 6 }).notNull(),
    source: text('source').notNull(),
    // `json`, not `jsonb`: stored as validated text, so the payload comes back byte for byte
    // (key order included) and neither write nor read pays for a binary conversion.
    payload: json('payload').notNull(),
    processedAt: timestamp('processed_at', { withTimezone: true }).notNull().defaultNow(),
    // processed_at + the topic's retention at apply time: the partition key.
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    // Serves GET /events and /subscribe (`WHERE topic = $1 AND seq > $2 ORDER BY seq`), per partition.
    index('events_topic_seq_idx').on(table.topic, table.seq),
    // Serves the Loki query API (src/query/scan.ts): a topic's lines in a time range, newest
    // first. Migration 0010, which also adds a BRIN index on "timestamp" (drizzle cannot say BRIN).
    index('events_topic_timestamp_idx').on(table.topic, table.timestamp),
  ],
);

/**
 * Identity of every event applied within the dedup window, in generations (PARTITION BY LIST
 * (gen), created by migration 0006 and retention/generations.ts). Only the newest generation
 * takes inserts; the apply probes every generation's unique index (the lease makes that
 * race-free, see workers/apply.ts). A generation is dropped whole once its newest key is older
 * than the dedup window. Keys outlive the payloads in `events`, so a late copy is still a
 * duplicate.
 */
export const eventKeys = pgTable(
  'event_keys',
  {
    topic: key('topic').notNull(),
    eventId: key('event_id').notNull(),
    gen: integer('gen').notNull(),
  },
  // The arbiter of the newest generation (ON CONFLICT) and the probe of the older ones.
  (table) => [unique('event_keys_topic_event_id_gen_key').on(table.topic, table.eventId, table.gen)],
);

/** Key generations; the highest `gen` is the one taking inserts. */
export const keyGenerations = pgTable('key_generations', {
  gen: integer('gen').primaryKey(),
  startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
});

/** The partitions of `events` and their bounds, written in the transaction that attaches or drops one. */
export const eventPartitions = pgTable('event_partitions', {
  name: text('name').primaryKey(),
  lower: timestamp('lower', { withTimezone: true }).notNull(),
  upper: timestamp('upper', { withTimezone: true }).notNull(),
});

/** Topics that have processed events, for /stats. */
export const topics = pgTable('topics', {
  name: key('name').primaryKey(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  // Per-topic retention override (PUT /topics/:topic); null: the global RETENTION.
  retentionSeconds: bigint('retention_seconds', { mode: 'number' }),
  // Events of this topic removed by retention, and the highest seq among them: readers asking
  // for events at or below it are told the events expired (GET /events first_available).
  expired: bigint('expired', { mode: 'number' }).notNull().default(0),
  expiredThrough: bigint('expired_through', { mode: 'number' }).notNull().default(0),
});

/**
 * Sharded totals: /stats sums them. Rows 0..INGEST_SHARDS-1 hold `received`; the rest hold
 * the apply side. Sharding keeps any single row from serialising publishers and workers.
 */
export const counters = pgTable('counters', {
  shard: smallint('shard').primaryKey(),
  received: bigint('received', { mode: 'number' }).notNull().default(0),
  uniqueProcessed: bigint('unique_processed', { mode: 'number' }).notNull().default(0),
  duplicateDropped: bigint('duplicate_dropped', { mode: 'number' }).notNull().default(0),
  /** Shard 0 only: what DELETE /topics removed, and what retention had removed from those topics (0011). */
  expired: bigint('expired', { mode: 'number' }).notNull().default(0),
  deleted: bigint('deleted', { mode: 'number' }).notNull().default(0),
});

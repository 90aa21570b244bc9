/**
 * `npm run bench:disk [-- --events N]`: bytes on disk per stored event and per dedup key, the
 * constants of docs/SIZING.md's disk formula. One aggregator on an embedded PostgreSQL (or
 * DATABASE_URL) stores N unique events of the bench's shape (8 topics, ~95-byte payloads),
 * then `VACUUM ANALYZE` leaves the tables as a long-running database has them, and the sizes of
 * every partition of `events` (heap, TOAST, each index) and of `event_keys` are divided by the
 * rows. The inbox is empty by then; WAL is not counted (docs/SCALING.md measures it). Each
 * partition has fixed sizes (a B-tree's metapage, BRIN's three pages) spread over the events:
 * below about 100,000 events they dominate the per-event figures.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { spawnAggregator } from '../aggregator/local/process';
import { startEmbeddedPostgres } from '../aggregator/src/db/embedded';
import { BatchPool } from './lib/generate';
import { waitDrained } from './lib/stats';

const { values } = parseArgs({ options: { events: { type: 'string', default: '200000' } } });
const BATCH = 500;
const batches = Math.ceil(Number(values.events) / BATCH);

const folder = mkdtempSync(join(tmpdir(), 'logbus-bench-disk-'));
const server = process.env.DATABASE_URL ? null : await startEmbeddedPostgres({ dataDir: folder });
const url = process.env.DATABASE_URL ?? server!.url;
const aggregator = await spawnAggregator({ DATABASE_URL: url, LOG_LEVEL: 'warn' });
const sql = postgres(url, { max: 1, onnotice: () => {} });

/** Bytes of a partitioned table or index, all its partitions: 'main' fork + TOAST, or everything. */
async function bytesOf(relation: string, total: boolean): Promise<number> {
  const [row] = total
    ? await sql<{ b: string }[]>`SELECT coalesce(sum(pg_total_relation_size(relid)), 0) AS b FROM pg_partition_tree(${relation}::regclass)`
    : await sql<{ b: string }[]>`
        SELECT coalesce(sum(pg_relation_size(c.oid) + coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0)), 0) AS b
        FROM pg_partition_tree(${relation}::regclass) t JOIN pg_class c ON c.oid = t.relid`;
  return Number(row!.b);
}

try {
  await aggregator.waitReady(60_000);
  const pool = new BatchPool({ batches, batchSize: BATCH, dupRate: 0, topics: 8, seed: 0xd15c });
  for (let i = 0; i < batches; i += 4) {
    // Four requests in flight, as a few publishers would send them.
    const round = Array.from({ length: Math.min(4, batches - i) }, (_, k) =>
      fetch(`${aggregator.url}/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: pool.body(i + k) }),
    );
    for (const response of await Promise.all(round)) if (response.status !== 202) throw new Error(`publish answered ${response.status}`);
  }
  await waitDrained(aggregator.url, 600_000);
  await sql`VACUUM ANALYZE events`;
  await sql`VACUUM ANALYZE event_keys`;
  const [counts] = await sql<{ events: number; keys: number; content: number; payload: number }[]>`
    SELECT (SELECT count(*) FROM events)::float8 AS events, (SELECT count(*) FROM event_keys)::float8 AS keys,
           (SELECT avg(octet_length(payload::text) + octet_length(topic) + octet_length(event_id) + octet_length(source)) FROM events)::float8 AS content,
           (SELECT avg(octet_length(payload::text)) FROM events)::float8 AS payload`;
  const perEvent = async (relation: string, total = false) => (await bytesOf(relation, total)) / counts!.events;
  const rows: [string, number][] = [
    ['stored event, everything (heap, TOAST, indexes)', await perEvent('events', true)],
    ['  heap row (and TOAST)', await perEvent('events')],
    ['  (topic, seq) index entry', await perEvent('events_topic_seq_idx')],
    ['  (topic, "timestamp") index entry', await perEvent('events_topic_timestamp_idx')],
    ['  BRIN on "timestamp"', await perEvent('events_timestamp_brin')],
    ['dedup key (heap + unique index)', (await bytesOf('event_keys', true)) / counts!.keys],
    ['payload + topic + event_id + source, average', counts!.content],
    ['  of which the payload text', counts!.payload],
  ];
  console.log(`${counts!.events.toLocaleString('en-US')} events, ${counts!.keys.toLocaleString('en-US')} keys, VACUUMed; bytes each:`);
  for (const [label, bytes] of rows) console.log(`  ${label.padEnd(50)} ${bytes.toFixed(1).padStart(8)}`);
} finally {
  await sql.end();
  aggregator.kill('SIGTERM');
  await aggregator.exited;
  await server?.stop();
  rmSync(folder, { recursive: true, force: true });
}

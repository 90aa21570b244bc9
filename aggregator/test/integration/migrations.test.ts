/**
 * Migrations on real PostgreSQL: replicas starting together apply them once, and upgrading a
 * database with events still waiting in the inbox keeps every one of them.
 */
import { describe, expect, test } from 'bun:test';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { MIGRATIONS_FOLDER, migrateDatabase } from '../../src/db/migrate';
import { partitionOf, topicSlotOf } from '../../src/db/partition';
import { startTestAggregator } from '../support/harness';
import { createTestDatabase } from '../../local/postgres';

/** A copy of the migrations folder that stops after migration `last` (its journal tag). */
function migrationsUpTo(last: string): string {
  const folder = mkdtempSync(join(tmpdir(), 'logbus-migrations-'));
  cpSync(MIGRATIONS_FOLDER, folder, { recursive: true });
  const journalPath = join(folder, 'meta', '_journal.json');
  const journal = JSON.parse(readFileSync(journalPath, 'utf8'));
  const end = journal.entries.findIndex((entry: { tag: string }) => entry.tag === last);
  expect(end).toBeGreaterThanOrEqual(0);
  journal.entries = journal.entries.slice(0, end + 1);
  writeFileSync(journalPath, JSON.stringify(journal));
  return folder;
}

describe('migrations', () => {
  test('five replicas migrating one empty database at once apply each migration exactly once', async () => {
    const db = await createTestDatabase('migrate_race', { migrated: false });
    await Promise.all(Array.from({ length: 5 }, () => migrateDatabase(db.url)));
    const sql = postgres(db.url, { max: 1 });
    const applied = await sql`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`;
    const journal = JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8'));
    const [partitions] = await sql`SELECT count(*)::int AS n FROM inbox_leases`;
    // The old name is an empty view since 0008: an older build sees no partition and stops.
    const [oldName] = await sql`SELECT count(*)::int AS n FROM inbox_partitions`;
    await sql.end();
    expect(applied[0]!.n).toBe(journal.entries.length);
    expect(partitions!.n).toBe(32);
    expect(oldName!.n).toBe(0);
    await db.drop();
  });

  test('events waiting in a JSON inbox (before 0004) are converted in order and then applied', async () => {
    const db = await createTestDatabase('migrate_inbox', { migrated: false });
    const folder = migrationsUpTo('0003_keys_collate_c');
    await migrateDatabase(db.url, folder);
    rmSync(folder, { recursive: true, force: true });

    const event = (id: string, payload: object) => ({ topic: 'old', event_id: id, timestamp: '2025-01-01T00:00:00.5+02:00', source: 's', payload });
    const sql = postgres(db.url, { max: 1 });
    await sql`INSERT INTO inbox (part, n, events) VALUES (3, 3, ${JSON.stringify([event('a', { z: 1, a: 2 }), event('b', {}), event('a', { dup: true })])}::text::json)`;
    await sql`UPDATE counters SET received = 3 WHERE shard = 0`;
    await sql.end();

    const agg = await startTestAggregator({}, db);
    const stats = await agg.drained();
    expect(stats).toMatchObject({ received: 3, unique_processed: 2, duplicate_dropped: 1, pending: 0 });
    const page = (await (await agg.request('/events?topic=old')).json()) as { events: { event_id: string; payload: object; timestamp: string }[] };
    expect(page.events.map((e) => [e.event_id, e.payload, e.timestamp])).toEqual([
      ['a', { z: 1, a: 2 }, '2024-12-31T22:00:00.500000Z'],
      ['b', {}, '2024-12-31T22:00:00.500000Z'],
    ]);
    await agg.close();
    await db.drop();
  });

  test('rows waiting before 0006 get their payload bytes and are then applied', async () => {
    const db = await createTestDatabase('migrate_bytes', { migrated: false });
    const folder = migrationsUpTo('0005_inbox_drop_json');
    await migrateDatabase(db.url, folder);
    rmSync(folder, { recursive: true, force: true });

    const sql = postgres(db.url, { max: 1 });
    await sql`
      INSERT INTO inbox (part, n, topics, event_ids, timestamps, sources, payloads)
      VALUES (5, 2, '{pre,pre}', '{x,y}', '{2025-01-01T00:00:00Z,2025-01-01T00:00:00Z}', '{s,s}',
              ARRAY['{"id":18446744073709551615}', '{"é":1}']::json[])`;
    await sql`UPDATE counters SET received = 2 WHERE shard = 0`;
    await migrateDatabase(db.url);
    // Since 0008 the two events sit in their keys' partitions: the bytes are summed over rows.
    const [row] = await sql`SELECT sum(bytes)::int AS bytes FROM inbox`;
    await sql.end();
    expect(row!.bytes).toBe('{"id":18446744073709551615}'.length + Buffer.byteLength('{"é":1}'));

    const agg = await startTestAggregator({}, db);
    expect(await agg.drained()).toMatchObject({ received: 2, unique_processed: 2, pending: 0 });
    const page = await (await agg.request('/events?topic=pre')).text();
    expect(page).toContain('{"id":18446744073709551615}');
    await agg.close();
    await db.drop();
  });
});

/**
 * The upgrade to the retention layout (0006) on a populated database. A million events by
 * default (about 10-20 s here, most of it generating them); MIGRATION_TEST_EVENTS overrides.
 */
describe('migration 0006 (retention) on a populated database', () => {
  const count = Number(process.env.MIGRATION_TEST_EVENTS ?? 1_000_000);

  test(`${count.toLocaleString('en')} events keep their seq, payload and dedup key; the time per million is printed`, async () => {
    const db = await createTestDatabase('migrate_retention', { migrated: false });
    const folder = migrationsUpTo('0005_inbox_drop_json');
    await migrateDatabase(db.url, folder);
    rmSync(folder, { recursive: true, force: true });

    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    const generatedAt = performance.now();
    await sql`
      INSERT INTO events (topic, seq, event_id, "timestamp", source, payload)
      SELECT 't' || (i % 10), i, 'e-' || i, '2025-01-01T00:00:00Z'::timestamptz + i * interval '1 ms', 'gen', json_build_object('i', i, 'pad', repeat('x', 100))
      FROM generate_series(1, ${count}::int) AS i
    `;
    await sql`SELECT setval('events_seq', ${count})`;
    await sql`INSERT INTO topics (name) SELECT 't' || g FROM generate_series(0, 9) AS g`;
    await sql`UPDATE counters SET received = ${count} WHERE shard = 0`;
    await sql`UPDATE counters SET unique_processed = ${count} WHERE shard = 64`;
    await sql`VACUUM ANALYZE events`;
    const generatedMs = performance.now() - generatedAt;

    const migratedAt = performance.now();
    await migrateDatabase(db.url);
    const migratedMs = performance.now() - migratedAt;
    console.log(
      `migration 0006: ${count.toLocaleString('en')} events migrated in ${(migratedMs / 1000).toFixed(2)} s ` +
        `(${((migratedMs / count) * 1e3).toFixed(2)} s per million; generating them took ${(generatedMs / 1000).toFixed(1)} s)`,
    );

    const [layout] = await sql<{ stored: number; keys: number; partitions: number; last: number }[]>`
      SELECT (SELECT count(*) FROM events)::int AS stored, (SELECT count(*) FROM event_keys)::int AS keys,
        (SELECT count(*) FROM event_partitions)::int AS partitions, (SELECT max(seq) FROM events)::int AS last
    `;
    expect(layout).toEqual({ stored: count, keys: count, partitions: 1, last: count });
    await sql.end();

    const agg = await startTestAggregator({}, db);
    // An old event again is a duplicate (its key moved); a new one is stored after the old seqs.
    const response = await agg.publish([
      { topic: 't7', event_id: 'e-7', timestamp: '2025-01-01T00:00:00Z', source: 's', payload: {} },
      { topic: 't7', event_id: 'new', timestamp: '2025-01-01T00:00:00Z', source: 's', payload: { fresh: true } },
    ]);
    expect(response.status).toBe(202);
    const stats = await agg.drained();
    expect(stats).toMatchObject({ received: count + 2, unique_processed: count + 1, duplicate_dropped: 1, pending: 0, expired: 0 });
    const page = (await (await agg.request(`/events?topic=t7&after=${count - 20}`)).json()) as {
      events: { seq: number; event_id: string; payload: unknown }[];
    };
    expect(page.events.map((e) => e.event_id)).toEqual([`e-${count - 13}`, `e-${count - 3}`, 'new']);
    expect(page.events[0]!.payload).toEqual({ i: count - 13, pad: 'x'.repeat(100) });
    expect(page.events[2]!.seq).toBeGreaterThan(count);
    await agg.close();
    await db.drop();
  }, 300_000);
});

/** Migration 0008: rows routed by topic before it are moved to their key's partition, with seqs. */
describe('migration 0008 (routing by key, seq at ingest)', () => {
  test('waiting rows move to their keys’ partitions with seqs in acknowledgement order; the first copy still wins', async () => {
    const db = await createTestDatabase('migrate_routing', { migrated: false });
    const folder = migrationsUpTo('0007_inbox_bytes_parked');
    await migrateDatabase(db.url, folder);
    rmSync(folder, { recursive: true, force: true });

    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    // The old layout: one partition per topic, ids from the inbox's own sequence.
    const part = topicSlotOf('up');
    const row = (ids: string[], payloads: string[]) => sql`
      INSERT INTO inbox (part, n, bytes, topics, event_ids, timestamps, sources, payloads)
      VALUES (${part}, ${ids.length}, 10, ${ids.map(() => 'up')}::text[], ${ids}::text[],
              ${ids.map(() => '2025-01-01T00:00:00Z')}::timestamptz[], ${ids.map(() => 's')}::text[], ${payloads}::text[]::json[])`;
    await row(['k1', 'k2', 'k3'], ['{"copy":1}', '{}', '{}']);
    await row(['k1', 'k4'], ['{"copy":2}', '{}']);
    await sql`
      INSERT INTO inbox_parked (part, inbox_id, topic, event_id, "timestamp", source, payload, error)
      VALUES (${part}, 1, 'up', 'k5', now(), 's', '{}', 'parked before the upgrade')`;
    await sql`UPDATE counters SET received = 6 WHERE shard = 0`;
    await sql`SELECT setval('events_seq', 100)`;
    await migrateDatabase(db.url);

    const moved = await sql<{ part: number; id: string; topics: string[]; event_ids: string[]; seqs: string[] }[]>`
      SELECT part, id, topics, event_ids, seqs FROM inbox ORDER BY id`;
    const placed = moved.flatMap((r) => r.event_ids.map((id, i) => ({ part: r.part, id, seq: Number(r.seqs[i]), rowId: Number(r.id) })));
    for (const event of placed) expect(event.part).toBe(partitionOf('up', event.id));
    for (const r of moved) expect(Number(r.id)).toBe(Number(r.seqs[0]));
    // Seqs follow the old order (row, then position) and continue the sequence.
    expect(placed.sort((a, b) => a.seq - b.seq).map((e) => e.id)).toEqual(['k1', 'k2', 'k3', 'k1', 'k4']);
    expect(placed[0]!.seq).toBe(101);
    const [parked] = await sql<{ part: number }[]>`SELECT part FROM inbox_parked`;
    expect(parked!.part).toBe(partitionOf('up', 'k5'));

    // An older build's enqueue (no id, no seqs) is refused: it cannot route rows by topic any more.
    await expect(
      sql`INSERT INTO inbox (part, n, bytes, topics, event_ids, timestamps, sources, payloads)
          VALUES (0, 1, 2, '{up}', '{k9}', '{2025-01-01T00:00:00Z}', '{s}', ARRAY['{}']::json[])`,
    ).rejects.toThrow(/null value in column "id"/);
    await sql.end();

    const agg = await startTestAggregator({ PARKED_RETRY_MS: '100' }, db);
    const stats = await agg.drained(30_000);
    expect(stats).toMatchObject({ received: 6, unique_processed: 5, duplicate_dropped: 1, pending: 0, parked: 0 });
    const page = (await (await agg.request('/events?topic=up')).json()) as { events: { seq: number; event_id: string; payload: object }[] };
    expect(page.events.map((e) => e.event_id)).toEqual(['k1', 'k2', 'k3', 'k4', 'k5']);
    expect(page.events[0]!.payload).toEqual({ copy: 1 });
    // The parked event came back as a new arrival, after everything the upgrade numbered.
    expect(page.events[4]!.seq).toBeGreaterThan(105);
    await agg.close();
    await db.drop();
  });

  test('inbox_partition_of in SQL routes every key exactly as partitionOf does', async () => {
    const db = await createTestDatabase('migrate_hash');
    const sql = postgres(db.url, { max: 1 });
    const keys: [string, string][] = [
      ['a', 'b'],
      ['ab', ''],
      ['orders.v1', 'é'],
      ['t', '日本語のキー'],
      ['t', 'emoji 🎉 and 𝄞'],
      ['x_y-z', 'x'.repeat(256)],
    ];
    let seed = 7;
    const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    for (let i = 0; i < 500; i++) {
      const id = Array.from({ length: 1 + (random() % 24) }, () => String.fromCodePoint(32 + (random() % 0x2fff))).join('');
      keys.push([`topic-${random() % 100}`, id]);
    }
    const rows = await sql<{ part: number }[]>`
      SELECT inbox_partition_of(k.topic, k.id) AS part
      FROM unnest(${keys.map((k) => k[0])}::text[], ${keys.map((k) => k[1])}::text[]) WITH ORDINALITY AS k(topic, id, ord)
      ORDER BY k.ord`;
    await sql.end();
    expect(rows.map((r) => r.part)).toEqual(keys.map(([topic, id]) => partitionOf(topic, id)));
    await db.drop();
  });
});

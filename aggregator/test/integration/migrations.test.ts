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
    const [partitions] = await sql`SELECT count(*)::int AS n FROM inbox_partitions`;
    await sql.end();
    expect(applied[0]!.n).toBe(journal.entries.length);
    expect(partitions!.n).toBe(32);
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
    const [row] = await sql`SELECT bytes FROM inbox`;
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

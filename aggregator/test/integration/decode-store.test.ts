/**
 * A large body is stored by the decode worker itself (ingest/decode-pool.ts), on a connection of
 * its own: the main thread neither receives its statement's parameters nor sends them. Against a
 * real database: the same rows and counts as the group commit would write, the workers woken by
 * the partitions written, a database failure in the worker surfacing as an error errors.ts reads
 * as "unavailable" (a 503), and close() ending the worker's connection.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import postgres from 'postgres';
import { type TestDatabase, createTestDatabase } from '../../local/postgres';
import { loadConfig } from '../../src/config';
import { freePort } from '../../src/db/embedded';
import { isUnavailable } from '../../src/errors';
import { DecodePool, WORKER_MIN_BYTES } from '../../src/ingest/decode-pool';

const limits = loadConfig({});
const APPLICATION = 'logbus-decode-store-test';
let db: TestDatabase;
let admin: postgres.Sql;

beforeAll(async () => {
  db = await createTestDatabase('decode_store');
  admin = postgres(db.url, { max: 1, onnotice: () => {} });
}, 60_000);
afterAll(async () => {
  await admin?.end();
  await db?.drop();
}, 30_000);

/** A /publish JSON batch of `count` events of ~1 KiB, as the chunks a body arrives in. */
function publishBody(count: number, prefix: string) {
  const events = Array.from({ length: count }, (_, i) => ({
    topic: `t${i % 5}`,
    event_id: `${prefix}-${i}`,
    timestamp: '2025-01-31T12:00:00Z',
    source: 's',
    payload: { i, big: 'BIG', pad: 'p'.repeat(900) },
  }));
  const bytes = new TextEncoder().encode(JSON.stringify(events).replaceAll('"BIG"', '12345678901234567890'));
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += 128 * 1024) chunks.push(bytes.slice(at, at + 128 * 1024));
  return { chunks, length: bytes.length };
}

const stored = async (prefix: string) => {
  const [row] = await admin<{ events: number; rows: number }[]>`
    SELECT coalesce(sum(n), 0)::int AS events, count(*)::int AS rows FROM inbox WHERE event_ids[1] LIKE ${`${prefix}-%`}`;
  return row!;
};
const received = async () => Number((await admin<{ received: string }[]>`SELECT sum(received) AS received FROM counters`)[0]!.received);
const workerBackends = async () =>
  (await admin<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = ${APPLICATION}`)[0]!.n;

describe('the decode worker storing a large body', () => {
  test('stores it in one commit with the received count, wakes the workers by the partitions written, and returns no parameters', async () => {
    const commits: number[] = [];
    const pool = new DecodePool(limits, { storage: { databaseUrl: db.url, applicationName: APPLICATION }, onCommitted: (n) => commits.push(n) });
    try {
      const body = publishBody(600, 'stored');
      expect(body.length).toBeGreaterThan(WORKER_MIN_BYTES); // the worker path (positive control)
      const before = await received();
      const decoded = await pool.prepare({ route: 'publish', format: 'json' }, body, body.length, { store: true });
      expect(decoded.stored).toBe(true);
      expect(decoded.rows.count).toBe(600);
      expect(decoded.rows.topics.slice(0, 6)).toEqual(['t0', 't1', 't2', 't3', 't4', 't0']);
      expect('literals' in decoded.rows).toBe(false);
      const rows = await stored('stored');
      expect(rows.events).toBe(600);
      expect(await received()).toBe(before + 600);
      expect(commits).toEqual([rows.rows]);
      // Stored as sent: the payload's integer beyond 2^53 kept its digits.
      const [payload] = await admin<{ text: string }[]>`SELECT payloads[1]::text AS text FROM inbox WHERE event_ids[1] LIKE 'stored-%' LIMIT 1`;
      expect(payload!.text).toContain('12345678901234567890');
      expect(await workerBackends()).toBe(1);
      // close() ends the worker's connection.
      await pool.close();
      for (let waited = 0; waited < 5_000 && (await workerBackends()) > 0; waited += 50) await Bun.sleep(50);
      expect(await workerBackends()).toBe(0);
    } finally {
      await pool.close();
    }
  }, 120_000);

  test('without leave to store (backpressure) it returns the parameters and stores nothing', async () => {
    const commits: number[] = [];
    const pool = new DecodePool(limits, { storage: { databaseUrl: db.url, applicationName: APPLICATION }, onCommitted: (n) => commits.push(n) });
    try {
      const body = publishBody(600, 'unstored');
      const decoded = await pool.prepare({ route: 'publish', format: 'json' }, body, body.length, { store: false });
      expect(decoded.stored).toBe(false);
      if (decoded.stored) return;
      expect(decoded.rows.literals.payloads.length).toBeGreaterThan(600 * 900);
      expect(await stored('unstored')).toEqual({ events: 0, rows: 0 });
      expect(commits).toEqual([]);
    } finally {
      await pool.close();
    }
  }, 120_000);

  test("a database failure in the worker reaches the caller as an outage (a 503), with PostgreSQL's code", async () => {
    const nobody = `postgres://postgres@127.0.0.1:${await freePort()}/logbus`;
    const pool = new DecodePool(limits, { storage: { databaseUrl: nobody, applicationName: APPLICATION } });
    try {
      const body = publishBody(600, 'refused');
      const error = await pool.prepare({ route: 'publish', format: 'json' }, body, body.length, { store: true }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as { code?: string }).code).toBe('ECONNREFUSED');
      expect(isUnavailable(error)).toBe(true);
    } finally {
      await pool.close();
    }
  }, 120_000);
});

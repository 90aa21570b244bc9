/**
 * The compiled partition and counter-shard counts must match the database's rows: a replica
 * whose layout differs refuses to start with a clear message, and a running replica whose
 * layout is changed under it stops serving.
 */
import { describe, expect, test } from 'bun:test';
import postgres from 'postgres';
import { createAggregator } from '../../src/aggregator';
import { LayoutMismatch, checkLayout } from '../../src/db/layout';
import { createLogger } from '../../src/log';
import { testConfig } from '../support/harness';
import { createTestDatabase } from '../../local/postgres';
import { spawnAggregator } from '../../local/process';

async function withSql<T>(url: string, run: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await run(sql);
  } finally {
    await sql.end();
  }
}

describe('database layout', () => {
  test('a build with other counts than the rows is refused (two layouts never run together)', async () => {
    const db = await createTestDatabase('layout_build');
    try {
      await withSql(db.url, async (sql) => {
        await checkLayout(sql); // this build matches
        await expect(checkLayout(sql, 16, 64)).rejects.toThrow(/inbox_leases has 32 rows, 0..31; this build expects 16 rows/);
        await expect(checkLayout(sql, 32, 128)).rejects.toThrow(/counters has 96 rows, 0..95; this build expects 160 rows/);
      });
    } finally {
      await db.drop();
    }
  });

  test('a replica process refuses to start on a mismatched database, exit 1 with the reason', async () => {
    const db = await createTestDatabase('layout_proc');
    try {
      await withSql(db.url, (sql) => sql`DELETE FROM inbox_leases WHERE part = 31`);
      const agg = await spawnAggregator({ DATABASE_URL: db.url });
      expect(await agg.exited).toBe(1);
      expect(agg.output()).toContain('database layout does not match this build, refusing to run');
      expect(agg.output()).toContain('inbox_leases has 31 rows, 0..30; this build expects 32 rows, 0..31');
    } finally {
      await db.drop();
    }
  }, 60_000);

  test('a running replica whose layout changes under it turns unready and refuses publishes', async () => {
    const db = await createTestDatabase('layout_live');
    const config = testConfig();
    let mismatch: LayoutMismatch | null = null;
    const agg = createAggregator(config, db.url, createLogger('silent'), { layoutCheckMs: 100, onLayoutMismatch: (error) => (mismatch = error) });
    try {
      await agg.start();
      const ready = () => agg.app.handle(new Request('http://localhost/ready')).then((r) => r.status);
      expect(await ready()).toBe(200);
      await withSql(db.url, (sql) => sql`INSERT INTO counters (shard) VALUES (96)`);
      const deadline = Date.now() + 10_000;
      while (mismatch === null && Date.now() < deadline) await Bun.sleep(50);
      expect(mismatch).toBeInstanceOf(LayoutMismatch);
      expect(await ready()).toBe(503);
      const publish = await agg.app.handle(new Request('http://localhost/publish', { method: 'POST', body: '{}' }));
      expect(publish.status).toBe(503);
    } finally {
      await agg.drain(5_000);
      await agg.close();
      await db.drop();
    }
  }, 30_000);
});

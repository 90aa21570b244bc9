/**
 * A database of one test file's own with pools on it (the real client, createPool), for tests of a
 * piece that talks to PostgreSQL without a whole aggregator around it.
 */
import { afterAll, beforeAll } from 'bun:test';
import { type Sql, createPool } from '../../src/db/client';
import { type TestDatabase, createTestDatabase } from '../../local/postgres';

export interface PoolsOnOwnDatabase {
  /** A pool on the database; ended after the file's tests, before the database is dropped. */
  pool(applicationName: string, max?: number): Sql;
}

/** Creates the database `name` before the file's tests; ends its pools and drops it after them. */
export function poolsOnOwnDatabase(name: string): PoolsOnOwnDatabase {
  let db: TestDatabase | undefined;
  const pools: Sql[] = [];
  beforeAll(async () => {
    db = await createTestDatabase(name);
  }, 60_000);
  afterAll(async () => {
    for (const pool of pools) await pool.end({ timeout: 2 });
    await db?.drop();
  }, 30_000);
  return {
    pool(applicationName, max = 2) {
      if (!db) throw new Error('pool() is for tests: the database is created before them');
      const sql = createPool(db.url, { max, applicationName });
      pools.push(sql);
      return sql;
    },
  };
}

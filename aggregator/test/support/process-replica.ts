/**
 * One real aggregator process on a fresh database for a test file: started before its tests,
 * stopped and dropped after them. `replica.agg` is the process once started.
 */
import { afterAll, beforeAll } from 'bun:test';
import { type TestDatabase, createTestDatabase } from '../../local/postgres';
import { type AggregatorProcess, spawnAggregator } from '../../local/process';

export function useReplicaProcess(prefix: string, env: Record<string, string> = {}): { readonly agg: AggregatorProcess } {
  let db: TestDatabase | undefined;
  let agg: AggregatorProcess | undefined;
  beforeAll(async () => {
    db = await createTestDatabase(prefix);
    agg = await spawnAggregator({ DATABASE_URL: db.url, LOG_LEVEL: 'warn', ...env });
    // Generous: the machine running the suite may be loaded.
    await agg.waitReady(120_000);
  }, 180_000);
  afterAll(async () => {
    agg?.kill('SIGTERM');
    await agg?.exited;
    await db?.drop();
  });
  return {
    get agg() {
      if (!agg) throw new Error('the replica process is not started yet');
      return agg;
    },
  };
}

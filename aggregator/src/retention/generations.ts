/**
 * Key generations (`event_keys` PARTITION BY LIST (gen)). The apply inserts only into the highest
 * generation and probes the others, so a generation stops changing the moment the next one
 * exists, and is dropped whole once the dedup window has passed since then.
 *
 * Rotation is race-free because a key is applied by one transaction at a time (every copy is in
 * one inbox partition, under one lease): a batch that still inserts into generation g after g+1
 * was created commits before that partition's next batch starts, and that batch (which sees g+1
 * as the newest) probes g, finding every key of the first.
 */
import type postgres from 'postgres';
import { tableName, withShortLocks } from './ddl';

export interface KeyGeneration {
  gen: number;
  /** Epoch ms. */
  startedAt: number;
}

export async function listKeyGenerations(sql: postgres.Sql): Promise<KeyGeneration[]> {
  const rows = await sql<{ gen: number; started_at: Date }[]>`SELECT gen, started_at FROM key_generations ORDER BY gen`;
  return rows.map((row) => ({ gen: row.gen, startedAt: row.started_at.getTime() }));
}

const generationTable = (gen: number) => tableName(`event_keys_g${gen}`);

/**
 * Starts generation `gen`: an empty table attached as a partition (SHARE UPDATE EXCLUSIVE on
 * event_keys, which the apply's inserts and probes do not conflict with), then announced in
 * key_generations in the same transaction, so no apply can pick a generation without a partition.
 */
export async function startKeyGeneration(sql: postgres.Sql, gen: number): Promise<void> {
  await withShortLocks(sql, async (tx) => {
    await tx.unsafe(`CREATE TABLE ${generationTable(gen)} (LIKE event_keys)`);
    await tx.unsafe(`ALTER TABLE event_keys ATTACH PARTITION ${generationTable(gen)} FOR VALUES IN (${gen})`);
    await tx`INSERT INTO key_generations (gen) VALUES (${gen})`;
  });
}

/** Drops an old generation: ACCESS EXCLUSIVE on event_keys for the catalog change only. */
export async function dropKeyGeneration(sql: postgres.Sql, gen: number): Promise<void> {
  await withShortLocks(sql, async (tx) => {
    await tx.unsafe(`DROP TABLE ${generationTable(gen)}`);
    await tx`DELETE FROM key_generations WHERE gen = ${gen}`;
  });
}

/**
 * What to do now: start a new generation when the newest is `length` old, and drop each older
 * generation whose successor started `window` ago (its last key was written before that). Pure.
 */
export function planGenerations(
  generations: readonly KeyGeneration[],
  now: number,
  length: number,
  window: number,
): { start: number | null; drop: number[] } {
  const sorted = [...generations].sort((a, b) => a.gen - b.gen);
  const newest = sorted.at(-1);
  const start = !newest ? 0 : now - newest.startedAt >= length ? newest.gen + 1 : null;
  const drop: number[] = [];
  for (let i = 0; i + 1 < sorted.length; i++) {
    if (sorted[i + 1]!.startedAt + window <= now) drop.push(sorted[i]!.gen);
  }
  return { start, drop };
}

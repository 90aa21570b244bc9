/**
 * docs/UPGRADE.md, tested: the previous release's code (PREVIOUS_RELEASE, taken from git) builds
 * and fills a database; today's code upgrades it in place (every migration up to the newest in
 * aggregator/drizzle, whatever that is) while a replica of the previous release still serves, and
 * nothing acknowledged is lost or doubled. Then the code is rolled back without the schema: the
 * previous release starts on the upgraded database and works, which holds as long as every
 * migration since it is additive (docs/UPGRADE.md says what to do when one is not).
 */
import { afterAll, expect, test } from 'bun:test';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import postgres from 'postgres';
import { createTestDatabase } from '../../local/postgres';
import { type AggregatorProcess, spawnAggregator } from '../../local/process';
import { MIGRATIONS_FOLDER } from '../../src/db/migrate';
import { expectExactlyOnce, readStats, waitDrained, workload } from '../support/faults';
import { RetryingClient } from '../support/retrying-client';

/**
 * The last release state: there are no tags; main at this commit is the build users ran before
 * this one, with migrations through 0008 (routing by key). Move it forward at each release.
 */
const PREVIOUS_RELEASE = '3eb29bc';
const PREVIOUS_LAST_MIGRATION = '0008_routing_by_key';

const REPO = resolve(import.meta.dir, '../../..');
const previous = mkdtempSync(join(tmpdir(), 'logbus-previous-release-'));
afterAll(() => rmSync(previous, { recursive: true, force: true }));

/** The previous release's aggregator/ from git, resolving packages from this checkout. */
function checkOutPreviousRelease(): string {
  try {
    execFileSync('git', ['-C', REPO, 'cat-file', '-e', `${PREVIOUS_RELEASE}^{commit}`]);
  } catch {
    throw new Error(`commit ${PREVIOUS_RELEASE} (the previous release) is not in this clone: fetch the full history (git fetch --unshallow)`);
  }
  const archive = execFileSync('git', ['-C', REPO, 'archive', PREVIOUS_RELEASE, 'aggregator'], { maxBuffer: 256 << 20 });
  execFileSync('tar', ['-x', '-C', previous], { input: archive });
  symlinkSync(join(REPO, 'node_modules'), join(previous, 'node_modules'));
  return join(previous, 'aggregator', 'src', 'main.ts');
}

function tags(journalFolder: string): string[] {
  const journal = JSON.parse(readFileSync(join(journalFolder, 'meta', '_journal.json'), 'utf8')) as { entries: { tag: string }[] };
  return journal.entries.map((entry) => entry.tag);
}

async function appliedMigrations(url: string): Promise<number> {
  const sql = postgres(url, { max: 1 });
  const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`;
  await sql.end();
  return row!.n;
}

async function stop(agg: AggregatorProcess): Promise<void> {
  agg.kill('SIGTERM');
  await agg.exited;
}

test('the previous release upgrades in place under a rolling update, and rolls back without its schema', async () => {
  const oldMain = checkOutPreviousRelease();
  const oldTags = tags(join(previous, 'aggregator', 'drizzle'));
  const newTags = tags(MIGRATIONS_FOLDER);
  // Positive control: the previous release is what this test says it is, and today's build
  // starts with exactly its migrations.
  expect(oldTags.at(-1)).toBe(PREVIOUS_LAST_MIGRATION);
  expect(newTags.slice(0, oldTags.length)).toEqual(oldTags);

  const db = await createTestDatabase('upgrade', { migrated: false });
  const env = { DATABASE_URL: db.url, LOG_LEVEL: 'warn', DRAIN_TIMEOUT_MS: '3000' };
  const keys = new Set<string>();
  const send = async (urls: () => string[], events: { topic: string; event_id: string }[]) => {
    const client = new RetryingClient(urls, { maxDelayMs: 200 });
    for (let i = 0; i < events.length; i += 100) await client.publish(events.slice(i, i + 100));
    for (const e of events) keys.add(`${e.topic}/${e.event_id}`);
  };

  // 1. The previous release creates the schema and stores events.
  const old = await spawnAggregator(env, undefined, { main: oldMain });
  await old.waitReady(60_000);
  expect(await appliedMigrations(db.url)).toBe(oldTags.length);
  const before = workload(1500, 0.2, 3, 'pre');
  await send(() => [old.url], before.events);
  await waitDrained(old.url);
  await stop(old);

  // 2. A previous-release replica without workers keeps accepting while today's build starts:
  //    its events wait in the inbox across the upgrade (what a rolling update leaves behind).
  const oldIngest = await spawnAggregator({ ...env, WORKERS: '0' }, undefined, { main: oldMain });
  await oldIngest.waitReady(60_000);
  const waiting = workload(600, 0.2, 3, 'mid');
  await send(() => [oldIngest.url], waiting.events);
  expect((await readStats(oldIngest.url)).pending).toBeGreaterThan(0);

  const current = await spawnAggregator(env);
  try {
    await current.waitReady(60_000);
    expect(await appliedMigrations(db.url)).toBe(newTags.length);
    // During the overlap clients reach either build; whichever acknowledges keeps the event.
    const during = workload(600, 0.2, 3, 'roll');
    await send(() => [oldIngest.url, current.url], during.events);
    await stop(oldIngest);
    const after = workload(600, 0.2, 3, 'post');
    await send(() => [current.url], after.events);
    const stats = await waitDrained(current.url);
    expect(stats.received).toBe(stats.unique_processed + stats.duplicate_dropped + stats.pending);
    await expectExactlyOnce(db.url, keys);
    // Keys stored by the previous release still deduplicate.
    const unique = stats.unique_processed;
    await send(() => [current.url], before.events.slice(0, 200));
    expect((await waitDrained(current.url)).unique_processed).toBe(unique);
  } finally {
    await stop(current);
  }

  // 3. Roll back the code, keep the schema: the previous release starts on the upgraded database
  //    (its migrator finds nothing of its own left to run) and serves.
  const rolledBack = await spawnAggregator(env, undefined, { main: oldMain });
  try {
    await rolledBack.waitReady(60_000);
    expect(await appliedMigrations(db.url)).toBe(newTags.length);
    const back = workload(600, 0.2, 3, 'back');
    await send(() => [rolledBack.url], back.events);
    const stats = await waitDrained(rolledBack.url);
    expect(stats.received).toBe(stats.unique_processed + stats.duplicate_dropped + stats.pending);
    await expectExactlyOnce(db.url, keys);
    const page = (await (await fetch(`${rolledBack.url}/events?topic=back-0&limit=1000`)).json()) as { events: unknown[] };
    expect(page.events.length).toBe(back.events.filter((e, i, all) => e.topic === 'back-0' && all.indexOf(e) === i).length);
  } finally {
    await stop(rolledBack);
    await db.drop();
  }
}, 300_000);

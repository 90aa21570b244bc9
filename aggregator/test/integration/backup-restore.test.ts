/**
 * docs/BACKUP.md, tested: a hot physical backup of a live database under publish load (the
 * low-level API: pg_backup_start, a file copy of the running cluster, pg_backup_stop, its
 * backup_label, the WAL), restored into a fresh server with logbus started on it. The restored
 * logbus is consistent (/stats, every event readable once), keeps deduplicating the restored
 * keys, and gives new events seqs above the restored ones.
 *
 * Physical, not pg_dump: the embedded server is PostgreSQL 18 and npm ships no pg_dump for it
 * (Debian's postgresql-client is 15 here, which refuses a newer server). A file copy of a running
 * cluster is also the harder case of a volume snapshot: not even atomic.
 */
import { afterAll, expect, test } from 'bun:test';
import { chmodSync, chownSync, copyFileSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { type AggregatorProcess, spawnAggregator } from '../../local/process';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../../src/db/embedded';
import { readStats, waitDrained } from '../support/faults';
import { RetryingClient } from '../support/retrying-client';
import { makeEvents } from '../support/harness';

const folders: string[] = [];
const servers: EmbeddedPostgres[] = [];
afterAll(async () => {
  for (const server of servers) await server.stop().catch(() => {});
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

function folder(prefix: string): string {
  const path = mkdtempSync(join(tmpdir(), prefix));
  folders.push(path);
  return path;
}

/**
 * Copies a directory tree that is changing under us, keeping owner and mode (the server's user
 * must own its files). Files that vanish mid-copy (temporary files) are skipped: the WAL
 * replayed at start repairs whatever a torn copy holds.
 */
function copyLiveTree(from: string, to: string, skip: (name: string) => boolean): void {
  const stat = lstatSync(from);
  mkdirSync(to, { recursive: true });
  chmodSync(to, stat.mode & 0o7777);
  chownSync(to, stat.uid, stat.gid);
  for (const name of readdirSync(from)) {
    if (skip(name)) continue;
    const source = join(from, name);
    const target = join(to, name);
    try {
      const entry = lstatSync(source);
      if (entry.isDirectory()) copyLiveTree(source, target, () => false);
      else if (entry.isFile()) {
        copyFileSync(source, target);
        chmodSync(target, entry.mode & 0o7777);
        chownSync(target, entry.uid, entry.gid);
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

interface Row {
  seq: number;
  topic: string;
  event_id: string;
}

/** Every event of every topic through GET /events paging: what a reader gets. */
async function readAll(url: string, topics: string[]): Promise<Row[]> {
  const rows: Row[] = [];
  for (const topic of topics) {
    let after = 0;
    for (;;) {
      const page = (await (await fetch(`${url}/events?topic=${topic}&after=${after}&limit=1000`)).json()) as { events: Row[]; next_after: number };
      if (page.events.length === 0) break;
      rows.push(...page.events.map(({ seq, topic, event_id }) => ({ seq, topic, event_id })));
      after = page.next_after;
    }
  }
  return rows;
}

async function publish(url: string, events: unknown[]): Promise<Response> {
  return fetch(`${url}/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
}

test('a hot backup under load restores into a fresh server: consistent, deduplicating, seqs above the restored ones', async () => {
  const sourceDir = folder('logbus-backup-src-');
  const source = await startEmbeddedPostgres({ dataDir: sourceDir });
  servers.push(source);
  let aggregator: AggregatorProcess | null = await spawnAggregator({ DATABASE_URL: source.url, LOG_LEVEL: 'warn' });
  await aggregator.waitReady();
  const url = aggregator.url;
  const topics = ['bk-0', 'bk-1', 'bk-2'];

  // Publish load in the background: 200 batches of 50 events (each batch repeats 10 keys of the
  // one before, so duplicates are counted too). Acknowledged batches are recorded in order.
  const batches = Array.from({ length: 200 }, (_, i) =>
    makeEvents(40, 3, `bk-${i}`).map((e) => ({ ...e, topic: `bk-${String(e.topic).slice(1)}`, event_id: String(e.event_id) })),
  );
  const acknowledged: number[] = [];
  const client = new RetryingClient(() => [url]);
  let stopLoad = false;
  const load = (async () => {
    for (let i = 0; i < batches.length && !stopLoad; i++) {
      await client.publish([...batches[i]!, ...(i > 0 ? batches[i - 1]!.slice(0, 10) : [])]);
      acknowledged.push(i);
    }
  })();
  while (acknowledged.length < 40) await Bun.sleep(20);

  // The backup, while the load goes on.
  const backupDir = folder('logbus-backup-copy-');
  const restored = join(backupDir, 'pg');
  const admin = postgres(source.url, { max: 1 });
  await admin`SELECT pg_backup_start('logbus-test', true)`;
  copyLiveTree(source.databaseDir, restored, (name) => name === 'postmaster.pid' || name === 'postmaster.opts' || name === 'pg_wal');
  const [stop] = await admin<{ labelfile: string; spcmapfile: string | null }[]>`SELECT labelfile, spcmapfile FROM pg_backup_stop(false)`;
  // Every batch acknowledged by now committed before the backup's end point.
  const ackedBeforeStop = acknowledged.length;
  await admin.end();
  writeFileSync(join(restored, 'backup_label'), stop!.labelfile, { mode: 0o600 });
  const owner = lstatSync(restored);
  chownSync(join(restored, 'backup_label'), owner.uid, owner.gid);
  copyLiveTree(join(source.databaseDir, 'pg_wal'), join(restored, 'pg_wal'), () => false);
  const ackedAtBackupEnd = acknowledged.length;
  // The backup was taken under load: batches were acknowledged while it ran or after it.
  while (acknowledged.length < ackedAtBackupEnd + 20) await Bun.sleep(20);
  stopLoad = true;
  await load;
  aggregator.kill('SIGTERM');
  await aggregator.exited;
  aggregator = null;

  // Restore: a fresh server on the copied files (it replays the WAL from the backup's checkpoint).
  const target = await startEmbeddedPostgres({ dataDir: backupDir });
  servers.push(target);
  expect(target.databaseDir).toBe(restored);
  const restoredAggregator = await spawnAggregator({ DATABASE_URL: target.url, LOG_LEVEL: 'warn' });
  try {
    await restoredAggregator.waitReady();
    const stats = await waitDrained(restoredAggregator.url);
    // /stats holds together.
    expect(stats.received).toBe(stats.unique_processed + stats.duplicate_dropped + stats.pending);

    // Every event readable once, and their number is what /stats says.
    const rows = await readAll(restoredAggregator.url, topics);
    const keys = rows.map((r) => `${r.topic}/${r.event_id}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(rows.length).toBe(stats.unique_processed - stats.expired);
    // Everything acknowledged before pg_backup_stop returned is there; nothing that was never sent.
    const sent = new Set(batches.flat().map((e) => `${e.topic}/${e.event_id}`));
    for (const key of keys) expect(sent.has(key)).toBe(true);
    const acked = batches.slice(0, ackedBeforeStop).flat();
    const present = new Set(keys);
    expect(acked.filter((e) => !present.has(`${e.topic}/${e.event_id}`))).toEqual([]);
    // Positive control: the backup did not hold everything (the load went on after it).
    expect(rows.length).toBeLessThan(batches.slice(0, acknowledged.length).flat().length);

    // Copies of restored events are still duplicates.
    const copies = batches.slice(0, 5).flat();
    expect((await publish(restoredAggregator.url, copies)).status).toBe(202);
    const afterCopies = await waitDrained(restoredAggregator.url);
    expect(afterCopies.unique_processed).toBe(stats.unique_processed);
    expect(afterCopies.duplicate_dropped).toBe(stats.duplicate_dropped + copies.length);

    // New events get seqs above every restored one.
    const highest = Math.max(...rows.map((r) => r.seq));
    const fresh = makeEvents(30, 1, 'after-restore-').map((e) => ({ ...e, topic: 'bk-0', event_id: String(e.event_id) }));
    expect((await publish(restoredAggregator.url, fresh)).status).toBe(202);
    await waitDrained(restoredAggregator.url);
    const freshIds = new Set(fresh.map((e) => e.event_id));
    const freshRows = (await readAll(restoredAggregator.url, ['bk-0'])).filter((r) => freshIds.has(r.event_id));
    expect(freshRows.length).toBe(fresh.length);
    for (const row of freshRows) expect(row.seq).toBeGreaterThan(highest);
    expect((await readStats(restoredAggregator.url)).unique_processed).toBe(stats.unique_processed + fresh.length);
  } finally {
    restoredAggregator.kill('SIGTERM');
    await restoredAggregator.exited;
  }
}, 240_000);

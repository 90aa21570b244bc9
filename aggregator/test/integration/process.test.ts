/**
 * The real entry point as a process: refusing bad configuration, SIGTERM drain, and the embedded
 * PostgreSQL default keeping data across restarts in DATA_DIR.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Stats } from '../../src/api/contract';
import { makeEvents } from '../support/harness';
import { createTestDatabase } from '../../local/postgres';
import { spawnAggregator } from '../../local/process';

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

async function publish(url: string, events: unknown[]) {
  return fetch(`${url}/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
}

async function stats(url: string) {
  return (await (await fetch(`${url}/stats`)).json()) as Stats;
}

describe('the aggregator process', () => {
  test('refuses to start on bad configuration, naming every problem', async () => {
    const agg = await spawnAggregator({ WORKERS: 'many', MAX_BODY_BYTES: '-5', DATABASE_URL: 'mysql://nope' });
    expect(await agg.exited).toBe(1);
    const output = agg.output();
    expect(output).toContain('invalid configuration');
    expect(output).toContain('WORKERS="many"');
    expect(output).toContain('MAX_BODY_BYTES="-5"');
    expect(output).toContain('DATABASE_URL');
  });

  test('SIGTERM: /ready turns 503, acknowledged work is finished, exit 0', async () => {
    const db = await createTestDatabase('sigterm');
    const agg = await spawnAggregator({ DATABASE_URL: db.url, DRAIN_TIMEOUT_MS: '5000' });
    await agg.waitReady();
    expect((await publish(agg.url, makeEvents(2000, 4, 'term'))).status).toBe(202);
    agg.kill('SIGTERM');
    // While draining, readiness fails at once (the process may also already be gone).
    const ready = await fetch(`${agg.url}/ready`).then(
      (r) => r.status,
      () => 'closed',
    );
    expect([503, 'closed']).toContain(ready);
    expect(await agg.exited).toBe(0);
    expect(agg.output()).toContain('drained; exiting');

    const next = await spawnAggregator({ DATABASE_URL: db.url });
    await next.waitReady();
    const deadline = Date.now() + 10_000;
    let current = await stats(next.url);
    while (current.pending > 0 && Date.now() < deadline) current = await stats(next.url);
    expect(current).toMatchObject({ received: 2000, unique_processed: 2000, pending: 0 });
    next.kill('SIGTERM');
    expect(await next.exited).toBe(0);
    await db.drop();
  }, 60_000);

  test('without DATABASE_URL it runs embedded PostgreSQL in DATA_DIR and keeps data across restarts', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'logbus-datadir-'));
    folders.push(dataDir);
    const env = { DATABASE_URL: '', TEST_DATABASE_URL: '', DATA_DIR: dataDir };
    const first = await spawnAggregator(env);
    await first.waitReady(60_000);
    expect((await publish(first.url, makeEvents(300, 3, 'embedded'))).status).toBe(202);
    let before = await stats(first.url);
    while (before.pending > 0) before = await stats(first.url);
    const page = await (await fetch(`${first.url}/events?topic=t1&limit=1000`)).text();
    first.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const second = await spawnAggregator(env);
    await second.waitReady(60_000);
    const after = await stats(second.url);
    expect({ ...after, uptime: 0 }).toEqual({ ...before, uptime: 0 });
    expect(await (await fetch(`${second.url}/events?topic=t1&limit=1000`)).text()).toBe(page);
    second.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 120_000);

  test('Ctrl-C on `npm start` (SIGINT to the whole process group) drains and exits 0', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'logbus-ctrlc-'));
    folders.push(dataDir);
    const port = 18_000 + Math.floor(Math.random() * 1000);
    // setsid makes npm the leader of a new process group, as a terminal's foreground job is.
    const proc = Bun.spawn(['setsid', 'npm', 'start'], {
      cwd: join(import.meta.dir, '../../..'),
      env: { ...process.env, DATABASE_URL: '', DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'info' },
      stdout: 'pipe',
      stderr: 'pipe',
    });
    const output = new Response(proc.stdout).text();
    const deadline = Date.now() + 60_000;
    let ready = false;
    while (!ready && Date.now() < deadline) {
      ready = await fetch(`http://127.0.0.1:${port}/ready`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (!ready) await Bun.sleep(100);
    }
    expect(ready).toBe(true);
    process.kill(-proc.pid, 'SIGINT');
    expect(await proc.exited).toBe(0);
    const log = await output;
    expect(log).toContain('drained; exiting');
    expect(log).not.toContain('second signal');
    // The embedded server stopped with us: its data directory is no longer locked by a postmaster.
    expect(existsSync(join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);
  }, 90_000);
});

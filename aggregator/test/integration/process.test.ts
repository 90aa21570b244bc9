/**
 * The real entry point as a process: refusing bad configuration, SIGTERM drain, and the embedded
 * PostgreSQL default keeping data across restarts in DATA_DIR.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeEvents } from '../support/harness';
import { createTestDatabase } from '../support/postgres';
import { spawnAggregator } from '../support/process';

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

async function publish(url: string, events: unknown[]) {
  return fetch(`${url}/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
}

async function stats(url: string) {
  return (await (await fetch(`${url}/stats`)).json()) as Record<string, number>;
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
    const ready = await fetch(`${agg.url}/ready`).then((r) => r.status, () => 'closed');
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
});

/**
 * Backpressure: above MAX_PENDING waiting events /publish answers 429 with Retry-After and stores
 * nothing; once workers catch up it accepts again; the real publisher honours the 429s and still
 * delivers every event exactly once.
 */
import { describe, expect, test } from 'bun:test';
import { resolve } from 'node:path';
import { makeEvents, startTestAggregator } from '../support/harness';
import { createTestDatabase } from '../../local/postgres';
import { spawnAggregator } from '../../local/process';

const REPO = resolve(import.meta.dir, '../../..');

describe('backpressure', () => {
  test('over MAX_PENDING: 429 with Retry-After and nothing stored; accepted again once drained', async () => {
    const db = await createTestDatabase('backpressure');
    // No workers: the backlog only grows until a worker replica joins.
    const ingest = await startTestAggregator({ WORKERS: '0', MAX_PENDING: '100' }, db);
    expect((await ingest.publish(makeEvents(150, 3, 'bp-a'))).status).toBe(202);
    // The bound works on a sample at most 250 ms old: wait for one taken after the backlog grew.
    let refused: Response | null = null;
    const deadline = Date.now() + 15_000;
    while (!refused && Date.now() < deadline) {
      const response = await ingest.publish(makeEvents(10, 1, `bp-probe-${Date.now()}`));
      if (response.status === 429) refused = response;
      else await Bun.sleep(100);
    }
    expect(refused).not.toBeNull();
    expect(refused!.headers.get('retry-after')).toBe('1');
    const body = (await refused!.json()) as { error: string };
    expect(body.error).toContain('MAX_PENDING');
    const before = await ingest.stats();
    expect((await ingest.publish(makeEvents(5, 1, 'bp-refused'))).status).toBe(429);
    expect((await ingest.stats()).received).toBe(before.received);

    const worker = await startTestAggregator({ WORKERS: '2' }, db);
    await worker.drained();
    await Bun.sleep(300);
    let accepted = 0;
    // The bound reads a sample at most 250 ms old; up to 10 s for a loaded machine.
    for (let i = 0; i < 100 && accepted === 0; i++) {
      const response = await ingest.publish(makeEvents(5, 1, `bp-after-${i}`));
      if (response.status === 202) accepted++;
      else await Bun.sleep(100);
    }
    expect(accepted).toBe(1);
    await worker.close();
    await ingest.close();
    await db.drop();
  }, 60_000);

  test('the publisher honours 429 Retry-After and every event arrives exactly once', async () => {
    const db = await createTestDatabase('backpressure_pub');
    // One worker applying 20 events per transaction (a few thousand per second, well below the
    // publisher's rate) and a low bound, so the publisher certainly meets 429s.
    const agg = await spawnAggregator({ DATABASE_URL: db.url, WORKERS: '1', BATCH_SIZE: '20', MAX_PENDING: '500' });
    await agg.waitReady();
    const run = Bun.spawn(
      [
        resolve(REPO, 'node_modules/.bin/deno'),
        'run',
        '--allow-net',
        '--allow-env',
        '--allow-read',
        'publisher/main.ts',
        '--url',
        agg.url,
        '--events',
        '10000',
        '--dup-rate',
        '0.3',
        '--batch',
        '1000',
        '--concurrency',
        '8',
        '--verify',
        '--json',
        '--seed',
        '7',
        // Every 429 is an attempt: the default 8 were used up by one batch on a machine at load
        // 18 (the worker applies slower, so the bound holds longer). This test is about honouring
        // Retry-After, not about giving up: the most attempts the publisher takes.
        '--attempts',
        '100',
        '--deadline',
        '100',
      ],
      { cwd: REPO, stdout: 'pipe', stderr: 'pipe', env: { ...process.env, NO_COLOR: '1' } },
    );
    const [code, out, err] = await Promise.all([run.exited, new Response(run.stdout).text(), new Response(run.stderr).text()]);
    expect({ code, why: code === 0 ? '' : err.slice(-2000) }).toEqual({ code: 0, why: '' });
    const summary = JSON.parse(out) as { accepted: number; retry_reasons: Record<string, number>; verify: { ok: boolean } };
    expect(summary.accepted).toBe(10_000);
    expect(summary.verify.ok).toBe(true);
    expect(Object.entries(summary.retry_reasons).some(([reason, count]) => reason.includes('429') && count > 0)).toBe(true);
    agg.kill('SIGTERM');
    expect(await agg.exited).toBe(0);
    await db.drop();
  }, 120_000);
});

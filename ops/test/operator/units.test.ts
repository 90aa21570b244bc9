/** The work queue, backoff, run-log parsers and config loader (pure or in-memory). */
import { describe, expect, test } from 'bun:test';
import { ItemBackoff, retryDelay } from '../../src/operator/backoff.ts';
import { loadOperatorConfig } from '../../src/operator/config.ts';
import { WorkQueue } from '../../src/operator/queue.ts';
import { k6Result, publisherResult } from '../../src/operator/results.ts';

describe('work queue', () => {
  test('reports its depth from the start, so the gauge has a sample while keys go straight to a waiting worker', async () => {
    const depths: number[] = [];
    const q = new WorkQueue(undefined, (depth) => depths.push(depth));
    const next = q.get(); // a worker waits
    q.add('a'); // handed to it at once: the queue never grows
    expect(await next).toBe('a');
    expect(depths).toEqual([0]);
  });
  test('a key added many times is queued once', async () => {
    const q = new WorkQueue();
    for (let i = 0; i < 5; i++) q.add('ns/a');
    q.add('ns/b');
    expect(q.depth).toBe(2);
    expect(await q.get()).toBe('ns/a');
    expect(await q.get()).toBe('ns/b');
  });

  test('a key in processing is not handed out again; an add meanwhile requeues it on done', async () => {
    const q = new WorkQueue();
    q.add('k');
    const first = await q.get();
    q.add('k');
    expect(q.depth).toBe(0);
    const handed: (string | null)[] = [];
    void q.get().then((k) => handed.push(k));
    await Bun.sleep(5);
    expect(handed).toEqual([]);
    q.done(first!);
    await Bun.sleep(5);
    expect(handed).toEqual(['k']);
  });

  test('shutDown wakes waiting workers with null', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.shutDown();
    expect(await waiting).toBeNull();
  });
});

describe('backoff', () => {
  test('per key: 5 ms doubling to the cap, reset by forget', () => {
    const b = new ItemBackoff(5, 100);
    expect([b.next('k'), b.next('k'), b.next('k'), b.next('other')]).toEqual([5, 10, 20, 5]);
    for (let i = 0; i < 10; i++) b.next('k');
    expect(b.next('k')).toBe(100);
    b.forget('k');
    expect(b.next('k')).toBe(5);
  });

  test('watch retry delay grows, is jittered and capped', () => {
    expect(retryDelay(0, 800, 30_000, () => 0)).toBe(800);
    expect(retryDelay(3, 800, 30_000, () => 0)).toBe(6400);
    expect(retryDelay(20, 800, 30_000, () => 0.5)).toBe(45_000);
  });
});

describe('run results from pod logs', () => {
  const summary = {
    ok: true,
    accepted: 100,
    duplicates_injected: 30,
    failed: 0,
    events_per_sec: 812.3,
    latency_ms: { p50: 1, p95: 2.5, p99: 4, max: 9 },
    verify: { ok: true, problems: [] },
  };

  test('the publisher JSON summary after progress lines', () => {
    const log = `sent 50/100\nsent 100/100\n${JSON.stringify(summary, null, 2)}\n`;
    expect(publisherResult(log, true)).toEqual({
      accepted: 100,
      duplicates: 30,
      failures: 0,
      throughput: '812.3',
      latencyMs: { p50: '1', p95: '2.5', p99: '4' },
      verified: true,
    });
  });

  test('a failed verification is carried with its problems', () => {
    const bad = { ...summary, ok: false, verify: { ok: false, problems: ['received +99, expected +100'] } };
    expect(publisherResult(JSON.stringify(bad, null, 2), true)).toMatchObject({ verified: false, message: 'received +99, expected +100' });
  });

  test('no summary in the log: null', () => {
    expect(publisherResult('error: cannot reach http://x\n', true)).toBeNull();
  });

  test('the k6 text summary (k6/load.js handleSummary)', () => {
    const log = [
      'logbus k6 summary',
      '  requests        1200 (59.8/s)',
      '  failed rate     0.50 %',
      '  latency         avg 12.1 ms, p95 40.2 ms, max 90.0 ms',
      '  events sent     60000 (duplicates 22000), accepted 60000',
      '  /stats received +60000 during the run',
      '  invariant       ok',
    ].join('\n');
    expect(k6Result(log)).toEqual({
      accepted: 60000,
      duplicates: 22000,
      failures: 6,
      throughput: '59.8',
      latencyMs: { p95: '40.2' },
      verified: true,
    });
    expect(k6Result(log.replace('invariant       ok', 'invariant       VIOLATED'))?.verified).toBe(false);
  });
});

describe('operator config', () => {
  test('client-go leader election defaults; every problem reported at once', () => {
    const c = loadOperatorConfig({ POD_NAME: 'p', POD_NAMESPACE: 'ops' });
    expect([c.leaseDurationMs, c.renewDeadlineMs, c.retryPeriodMs, c.leaseNamespace, c.identity]).toEqual([15000, 10000, 2000, 'ops', 'p']);
    expect(Object.isFrozen(c)).toBe(true);
    let message = '';
    try {
      loadOperatorConfig({ LEASE_DURATION_SECONDS: '5', RENEW_DEADLINE_SECONDS: '10', LOG_LEVEL: 'loud', AGGREGATOR_ACCESS: 'magic' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('RENEW_DEADLINE_SECONDS must be shorter');
    expect(message).toContain('LOG_LEVEL=loud');
    expect(message).toContain('AGGREGATOR_ACCESS=magic');
  });
});

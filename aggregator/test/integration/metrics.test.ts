/**
 * GET /metrics on a real database: after a known workload the cluster totals equal /stats, the
 * per-replica counters and histograms count exactly that workload, a backlog shows as pending and
 * lag, a failing batch is counted, topic labels are capped, and a scrape without a database
 * still answers.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import postgres from 'postgres';
import { createAggregator } from '../../src/aggregator';
import { createLogger } from '../../src/log';
import { TOPIC_LABEL_CAP } from '../../src/ops/metrics/metrics';
import { type TestAggregator, makeEvent, makeEvents, startTestAggregator, testConfig } from '../support/harness';

/** `name{labels} value` lines of an exposition, keyed by `name{labels}` exactly as printed. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

async function scrape(agg: TestAggregator) {
  const response = await agg.request('/metrics');
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain');
  return parseMetrics(await response.text());
}

/** Sum of every sample of `name` whose labels include all of `labels`. */
function total(samples: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const [key, value] of samples) {
    const brace = key.indexOf('{');
    if ((brace === -1 ? key : key.slice(0, brace)) !== name) continue;
    if (Object.entries(labels).every(([k, v]) => key.includes(`${k}="${v}"`))) sum += value;
  }
  return sum;
}

let agg: TestAggregator;

beforeAll(async () => {
  agg = await startTestAggregator();
}, 60_000);
afterAll(async () => {
  await agg.close();
}, 30_000);

describe('GET /metrics', () => {
  test('after a known workload the counters agree with /stats and count exactly that workload', async () => {
    // 3 requests: 120 events over 3 topics, then 30 exact re-sends (duplicates), then 1 more.
    const first = makeEvents(120, 3, 'known');
    const requests = [first, first.slice(0, 30), [makeEvent({ topic: 't0', event_id: 'known-last' })]];
    for (const events of requests) expect((await agg.publish(events)).status).toBe(202);
    const stats = await agg.drained();
    const m = await scrape(agg);

    expect(stats).toMatchObject({ received: 151, unique_processed: 121, duplicate_dropped: 30, pending: 0 });
    expect(m.get('logbus_received_total')).toBe(stats.received);
    expect(m.get('logbus_unique_processed_total')).toBe(stats.unique_processed);
    expect(m.get('logbus_duplicate_dropped_total')).toBe(stats.duplicate_dropped);
    expect(m.get('logbus_pending_events')).toBe(0);
    expect(m.get('logbus_topics')).toBe(stats.topics.length);
    expect(m.get('logbus_inbox_oldest_pending_age_seconds')).toBe(0);
    expect(m.get('logbus_metrics_database_up')).toBe(1);

    // This replica did all of it.
    expect(m.get('logbus_replica_events_accepted_total')).toBe(151);
    expect(m.get('logbus_replica_events_applied_total{result="unique"}')).toBe(121);
    expect(m.get('logbus_replica_events_applied_total{result="duplicate"}')).toBe(30);
    expect(m.get('logbus_replica_topic_events_accepted_total{topic="t0"}')).toBe(40 + 10 + 1);
    expect(m.get('logbus_replica_topic_events_accepted_total{topic="t1"}')).toBe(40 + 10);
    expect(m.get('logbus_replica_topic_events_accepted_total{topic="t2"}')).toBe(40 + 10);
    expect(m.get('logbus_publish_events_per_request_count')).toBe(3);
    expect(m.get('logbus_publish_events_per_request_sum')).toBe(151);
    expect(m.get('logbus_publish_events_per_request_bucket{le="1"}')).toBe(1);
    expect(m.get('logbus_publish_events_per_request_bucket{le="50"}')).toBe(2);
    expect(total(m, 'logbus_http_request_duration_seconds_count', { route: '/publish', status: '202' })).toBe(3);
    expect(total(m, 'logbus_worker_batch_events_sum')).toBe(151);
    expect(total(m, 'logbus_worker_batch_duration_seconds_count')).toBe(total(m, 'logbus_worker_batch_events_count'));
    expect(m.get('logbus_worker_errors_total{kind="other"}') ?? 0).toBe(0);

    // Inbox health and the pool: present and sane.
    expect(m.get('logbus_inbox_dead_tuples')).toBeGreaterThanOrEqual(0);
    expect(m.get('logbus_db_oldest_transaction_age_seconds')).toBeGreaterThanOrEqual(0);
    expect(m.get('logbus_db_pool_max_connections')).toBe(testConfig().dbPoolSize);
    expect(total(m, 'logbus_db_connections')).toBeGreaterThan(0);
    expect(m.has('logbus_db_connections{state="idle_in_transaction"}')).toBe(true);
    expect(m.has('process_cpu_seconds_total')).toBe(true);
  });

  test('every series is a number Bun can measure: no NaN, no family without samples, no Node-only GC or V8 heap series', async () => {
    // Let a little work and time pass, as before a real scrape.
    expect((await agg.publish(makeEvents(50, 2, 'runtime'))).status).toBe(202);
    await agg.drained();
    const text = await (await agg.request('/metrics')).text();
    const samples = parseMetrics(text);
    const nan = [...samples].filter(([, value]) => Number.isNaN(value)).map(([key]) => key);
    expect(nan).toEqual([]);
    const families = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => m[1]!);
    const sampleNames = new Set([...samples.keys()].map((key) => key.split('{')[0]!.replace(/_(bucket|sum|count)$/, '')));
    const labelled = new Set(['logbus_http_request_duration_seconds']); // empty until a request is measured
    expect(families.filter((name) => !sampleNames.has(name) && !labelled.has(name))).toEqual([]);
    expect([...samples.keys()].filter((key) => /^nodejs_(gc|heap_space|active_)/.test(key))).toEqual([]);
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_open_fds', 'logbus_eventloop_lag_seconds']) {
      expect(samples.get(name)).toBeGreaterThanOrEqual(0);
    }
    expect(samples.get('process_resident_memory_bytes')).toBeGreaterThan(10 * 1024 * 1024);
    expect(samples.get('logbus_js_heap_bytes{kind="size"}')).toBeGreaterThan(0);
  });

  test('a request that was refused is measured with its status, not counted as accepted', async () => {
    const before = await scrape(agg);
    expect((await agg.publish([makeEvent({ topic: 'bad topic' })])).status).toBe(400);
    const after = await scrape(agg);
    expect(total(after, 'logbus_http_request_duration_seconds_count', { route: '/publish', status: '400' })).toBe(
      total(before, 'logbus_http_request_duration_seconds_count', { route: '/publish', status: '400' }) + 1,
    );
    expect(after.get('logbus_replica_events_accepted_total')).toBe(before.get('logbus_replica_events_accepted_total')!);
  });

  test(`per-topic series are capped at ${TOPIC_LABEL_CAP} topics; the rest count as _other`, async () => {
    const events = Array.from({ length: TOPIC_LABEL_CAP + 20 }, (_, i) => makeEvent({ topic: `cap-${i}` }));
    expect((await agg.publish(events)).status).toBe(202);
    const m = await scrape(agg);
    const labelled = [...m.keys()].filter((key) => key.startsWith('logbus_replica_topic_events_accepted_total{'));
    expect(labelled.length).toBe(TOPIC_LABEL_CAP + 1);
    // The earlier tests' three topics hold three of the slots.
    expect(m.get('logbus_replica_topic_events_accepted_total{topic="_other"}')).toBe(23);
    expect(total(m, 'logbus_replica_topic_events_accepted_total')).toBe(m.get('logbus_replica_events_accepted_total')!);
    await agg.drained();
  });

  test('a backlog shows as pending and lag, read the same by every replica', async () => {
    // Replicas without workers accept but never apply.
    const idle = await startTestAggregator({ WORKERS: '0' });
    const other = await startTestAggregator({ WORKERS: '0' }, idle.db);
    try {
      expect((await idle.publish(makeEvents(25, 2, 'backlog'))).status).toBe(202);
      await Bun.sleep(1_100);
      const [m, n] = [await scrape(idle), await scrape(other)];
      expect(m.get('logbus_pending_events')).toBe(25);
      expect(m.get('logbus_received_total')).toBe(25);
      expect(m.get('logbus_inbox_oldest_pending_age_seconds')).toBeGreaterThanOrEqual(1);
      expect(m.get('logbus_inbox_oldest_pending_age_seconds')).toBeLessThan(30);
      expect(m.get('logbus_workers_busy')).toBe(0);
      // Cluster values agree across replicas; what each replica did does not.
      expect(n.get('logbus_pending_events')).toBe(25);
      expect(n.get('logbus_received_total')).toBe(25);
      expect(n.get('logbus_replica_events_accepted_total')).toBe(0);
      expect(n.get('logbus_inbox_oldest_pending_age_seconds')).toBeGreaterThanOrEqual(m.get('logbus_inbox_oldest_pending_age_seconds')!);
    } finally {
      await other.close();
      await idle.close();
    }
  }, 30_000);

  test('a batch that fails is counted in logbus_worker_errors_total and stays pending until it can apply', async () => {
    // The event fails even alone, so it is parked (still pending) and re-queued after 1 s.
    const broken = await startTestAggregator({ PARKED_RETRY_MS: '1000' });
    const admin = postgres(broken.db.url, { max: 1, onnotice: () => {} });
    try {
      // A constraint the apply statement trips over: every attempt rolls back and is retried.
      await admin`ALTER TABLE events ADD CONSTRAINT no_poison CHECK (topic <> 'poison')`;
      expect((await broken.publish([makeEvent({ topic: 'poison' })])).status).toBe(202);
      let m = await scrape(broken);
      for (const deadline = Date.now() + 10_000; (m.get('logbus_worker_errors_total{kind="other"}') ?? 0) < 2 && Date.now() < deadline; ) {
        await Bun.sleep(50);
        m = await scrape(broken);
      }
      expect(m.get('logbus_worker_errors_total{kind="other"}')).toBeGreaterThanOrEqual(2);
      expect(m.get('logbus_pending_events')).toBe(1);
      for (const deadline = Date.now() + 10_000; (m.get('logbus_parked_events') ?? 0) < 1 && Date.now() < deadline; ) {
        await Bun.sleep(50);
        m = await scrape(broken);
      }
      expect(m.get('logbus_parked_events')).toBe(1);
      expect(m.get('logbus_pending_events')).toBe(1);

      await admin`ALTER TABLE events DROP CONSTRAINT no_poison`;
      // A publish wakes the backed-off workers at once.
      expect((await broken.publish([makeEvent({ topic: 'fine' })])).status).toBe(202);
      const stats = await broken.drained();
      m = await scrape(broken);
      expect(stats.unique_processed).toBe(2);
      expect(m.get('logbus_unique_processed_total')).toBe(2);
      expect(m.get('logbus_replica_events_applied_total{result="unique"}')).toBe(2);
    } finally {
      await admin.end();
      await broken.close();
    }
  }, 30_000);

  test('without a database /metrics still answers, with the process metrics and database_up 0', async () => {
    const config = testConfig();
    const orphan = createAggregator(config, 'postgres://nobody@127.0.0.1:1/none', createLogger('silent'));
    try {
      const response = await orphan.app.handle(new Request('http://localhost/metrics'));
      expect(response.status).toBe(200);
      const m = parseMetrics(await response.text());
      expect(m.get('logbus_metrics_database_up')).toBe(0);
      expect(m.has('logbus_received_total')).toBe(false);
      expect(m.has('logbus_replica_events_accepted_total')).toBe(true);
    } finally {
      // Nothing to drain; end() without a grace period (a pool that never connected waits it out).
      await orphan.sql.end({ timeout: 0 });
    }
  });
});

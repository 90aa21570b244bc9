/**
 * GET /subscribe against real processes: delivery across replicas within a second (also after
 * the LISTEN connections were killed), a deliberately slow reader that neither stalls the
 * aggregator nor holds its memory, and streams ending cleanly on SIGTERM.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import postgres from 'postgres';
import { Cluster } from '../../local/cluster';
import { residentMiB, waitDrained, waitFor } from '../support/faults';
import { makeEvent } from '../support/harness';
import { createTestDatabase } from '../../local/postgres';
import { type AggregatorProcess, spawnAggregator } from '../../local/process';
import { RetryingClient } from '../support/retrying-client';
import { RawSubscriber, SseReader } from '../support/sse';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
}, 60_000);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function openStream(url: string, query: string, headers: Record<string, string> = {}): Promise<SseReader> {
  const response = await fetch(`${url}/subscribe?${query}`, { headers });
  expect(response.status).toBe(200);
  const reader = new SseReader(response);
  cleanups.push(() => reader.cancel());
  return reader;
}

/**
 * Publishes `count` single events to `url`, `gapMs` apart, and measures for each reader how long
 * after the 202 each event arrived. Readers must see them in order, all of them.
 */
async function measureDelivery(url: string, readers: SseReader[], topic: string, from: number, count: number, gapMs: number) {
  const ackedAt = new Map<string, number>();
  const latencies = readers.map(() => [] as number[]);
  const reading = readers.map(async (reader, r) => {
    for (let i = 0; i < count; i++) {
      const message = await reader.nextEvent(15_000);
      const event = JSON.parse(message!.data!);
      expect(event.event_id).toBe(`${topic}-${from + i}`);
      // The 202 and the message race; a message that overtook its 202 counts as instant.
      latencies[r]!.push(Math.max(0, message!.at - (ackedAt.get(event.event_id) ?? message!.at)));
    }
  });
  for (let i = 0; i < count; i++) {
    const event = makeEvent({ topic, event_id: `${topic}-${from + i}` });
    const response = await fetch(`${url}/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) });
    expect(response.status).toBe(202);
    ackedAt.set(event.event_id as string, performance.now());
    await Bun.sleep(gapMs);
  }
  await Promise.all(reading);
  return latencies;
}

describe('subscriptions across replica processes', () => {
  test('an event reaches subscribers on every replica within 2 s (median), also after the LISTEN sessions were killed', async () => {
    const db = await createTestDatabase('sub_replicas');
    cleanups.push(() => db.drop());
    // Only replica 0 applies: subscribers on 1 and 2 can learn of new events only from its NOTIFY
    // (tens of ms here) or from the 5 s sweep (2.5 s median), which the 2 s bound tells apart
    // while leaving a loaded machine room.
    const cluster = await Cluster.start({
      replicas: 3,
      databaseUrl: db.url,
      env: { WORKERS: '2' },
      replicaEnv: [{}, { WORKERS: '0' }, { WORKERS: '0' }],
    });
    cleanups.push(() => cluster.stop());
    const readers = await Promise.all(cluster.urls.map((url) => openStream(url, 'topic=live&after=0')));
    for (const reader of readers) expect((await reader.next())!.id).toBe('0');

    const before = await measureDelivery(cluster.urls[1]!, readers, 'live', 0, 12, 80);
    for (const latencies of before) expect(median(latencies)).toBeLessThan(2_000);

    // Kill every replica's LISTEN session: postgres.js listens again and the hub wakes everyone.
    const admin = postgres(db.url, { max: 1, onnotice: () => {} });
    const killed = await admin<{ pid: number }[]>`
      SELECT pid FROM pg_stat_activity
      WHERE application_name = 'logbus-aggregator' AND datname = current_database() AND query ILIKE 'listen %'
    `;
    expect(killed.length).toBe(3);
    for (const { pid } of killed) await admin`SELECT pg_terminate_backend(${pid})`;
    await waitFor(
      'every replica to listen again',
      async () => {
        const [row] = await admin<{ n: number }[]>`
          SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE application_name = 'logbus-aggregator' AND datname = current_database() AND query ILIKE 'listen %'
        `;
        return row!.n === 3;
      },
      10_000,
    );
    await admin.end();

    const after = await measureDelivery(cluster.urls[2]!, readers, 'live', 12, 12, 80);
    for (const latencies of after) expect(median(latencies)).toBeLessThan(2_000);
    // Same stream, no gap or repeat across the reconnect of the listener.
    expect(await cluster.stop()).toEqual([0, 0, 0]);
  }, 90_000);

  describe('one replica, a flood and a reader that stops reading', () => {
    let agg: AggregatorProcess;
    const TOPIC = 'flood';
    const EVENTS = 24_000;
    const PAD = 'x'.repeat(1_000);

    test('the slow reader gets event: overflow after the events it could take; publishing and other subscribers go on; memory stays bounded', async () => {
      const db = await createTestDatabase('sub_slow');
      cleanups.push(() => db.drop());
      agg = await spawnAggregator({ DATABASE_URL: db.url, WORKERS: '2' });
      cleanups.push(async () => agg.kill('SIGKILL'));
      await agg.waitReady();

      const slow = new RawSubscriber(agg.port, `/subscribe?topic=${TOPIC}&after=0`);
      cleanups.push(async () => slow.close());
      await waitFor('the slow stream to open', () => slow.messages.length > 0, 10_000);
      expect(slow.status).toBe(200);
      slow.pause();
      const healthy = await openStream(agg.url, `topic=${TOPIC}&after=0`);
      await healthy.next();
      // The flood's requests (about 1 MB each) are decoded in the replica's decode thread, which
      // the first body of 256 KiB or more starts: started here, its own heap is not counted as
      // growth below (it added about 10 MB, taking the growth past the bound once).
      const warmup = Array.from({ length: 400 }, (_, i) => makeEvent({ topic: 'warmup', event_id: `w-${i}`, payload: { i, pad: PAD } }));
      await new RetryingClient(() => [agg.url]).publish(warmup);
      await waitDrained(agg.url, 60_000);
      const rssBefore = residentMiB(agg.pid);

      // About 25 MB of events, more than the socket buffers between the server and the stalled
      // client can hold, published while it does not read.
      const events = Array.from({ length: EVENTS }, (_, i) => makeEvent({ topic: TOPIC, event_id: `f-${i}`, payload: { i, pad: PAD } }));
      // After its final frame the server gives a client that still does not read 10 s before it
      // drops the connection (subscribe/routes.ts, LINGER_AFTER_OVERFLOW_S), and that frame waits
      // behind the full socket buffers: a reader that resumes later loses it, by design. So the
      // reader resumes as soon as the server says it ended the stream, not after the publishing
      // (which on a loaded machine may outlast the overflow by more than 10 s).
      const overflowed = waitFor('the overflow', () => agg.output().includes('slow subscriber: stream ended with overflow'), 90_000, 50).then(() =>
        slow.resume(),
      );
      overflowed.catch(() => {}); // awaited below; a failure before then must not go unhandled
      const publishing = performance.now();
      const healthyIds: number[] = [];
      const reading = (async () => {
        while (healthyIds.length < EVENTS) healthyIds.push(Number((await healthy.nextEvent(20_000))!.id));
      })();
      await new RetryingClient(() => [agg.url]).publishAll(events, 1_000, 2);
      await waitDrained(agg.url, 60_000);
      const publishSeconds = (performance.now() - publishing) / 1000;
      await reading;

      // The healthy subscriber saw every event, in order; the stalled one held nobody up.
      expect(healthyIds).toHaveLength(EVENTS);
      for (let i = 1; i < healthyIds.length; i++) expect(healthyIds[i]!).toBeGreaterThan(healthyIds[i - 1]!);
      // Coarse: publishing is not paced by the stalled reader. 3-10 s
      // here at idle; 63.7 s was seen at load 30+, so the bound leaves a loaded machine room.
      expect(publishSeconds).toBeLessThan(150);

      // The server ends the slow stream by itself (it logs it), then the reader catches up.
      await overflowed;
      await waitFor('the slow stream to end', () => slow.ended, 20_000);
      const rssAfter = residentMiB(agg.pid);
      const received = slow.events.filter((m) => m.event === undefined);
      const final = slow.messages.at(-1)!;
      expect(final.event).toBe('overflow');
      const body = JSON.parse(final.data!);
      expect(body.reason).toContain('too slow');
      // What it got is a gap-free prefix of the topic, about what the kernel's socket buffers
      // hold (3-4 MB here), far from all of it: the server neither read ahead for it nor queued
      // the flood. Had Bun buffered without limit, it would have kept pulling, the stream would
      // never have been behind, and the reader would have got all 24,000 events and no overflow.
      expect(received.length).toBeGreaterThan(0);
      expect(received.length).toBeLessThan(EVENTS / 2);
      expect(received.map((m) => Number(m.id))).toEqual(healthyIds.slice(0, received.length));
      expect(body.last_event_id).toBe(healthyIds[received.length - 1]);
      // A coarse guard on top: resident memory once the flood is through. Publishing 25 MB moves
      // RSS by 10-30 MB on its own (measured with and without the stalled reader alike).
      expect(rssAfter - rssBefore).toBeLessThan(64);

      // It resumes from its last id and gets exactly the rest.
      const resumed = await openStream(agg.url, `topic=${TOPIC}`, { 'Last-Event-ID': String(body.last_event_id) });
      const rest: number[] = [];
      while (rest.length < EVENTS - received.length) rest.push(Number((await resumed.nextEvent(20_000))!.id));
      expect([...received.map((m) => Number(m.id)), ...rest]).toEqual(healthyIds);
    }, 240_000);

    test('SIGTERM ends every stream, a stalled one included, and the process still exits 0 promptly', async () => {
      const healthy = await openStream(agg.url, `topic=${TOPIC}`);
      await healthy.next();
      // Replays the whole flood into a client that does not read: its socket buffers fill up.
      const stalled = new RawSubscriber(agg.port, `/subscribe?topic=${TOPIC}&after=0`);
      cleanups.push(async () => stalled.close());
      await waitFor('the stalled stream to open', () => stalled.messages.length > 0, 10_000);
      stalled.pause();
      await Bun.sleep(500);

      const signalled = performance.now();
      agg.kill('SIGTERM');
      const final = await healthy.next(10_000);
      expect(final).toMatchObject({ event: 'shutdown' });
      expect(await healthy.next(10_000)).toBeNull();
      // Exit 0 is the proof: the stalled connection is dropped by the server's idle timer (1 s,
      // which Bun applies in steps of a few seconds) inside DRAIN_TIMEOUT_MS; without that timer
      // the drain waited for it until the timeout and exited 1.
      expect(await agg.exited).toBe(0);
      console.log(`[subscribe-replicas] exited ${Math.round(performance.now() - signalled)} ms after SIGTERM`);
    }, 60_000);
  });
});

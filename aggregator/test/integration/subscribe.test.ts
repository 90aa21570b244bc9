/**
 * GET /subscribe on a real database, in process: message format, seq order, where a stream
 * starts and resumes, validation, heartbeats, the slow-reader rule and the end of streams on drain.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { Elysia } from 'elysia';
import { createLogger } from '../../src/log';
import { ReadBudget } from '../../src/events/read-budget';
import { ReadHorizon } from '../../src/events/horizon';
import { SUBSCRIBE_DEFAULTS, SubscriptionHub } from '../../src/subscribe/hub';
import { subscribeRoutes } from '../../src/subscribe/routes';
import { type TestAggregator, makeEvent, startTestAggregator } from '../support/harness';
import { SseReader } from '../support/sse';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
}, 30_000);

async function aggregator(env: Record<string, string> = {}): Promise<TestAggregator> {
  const node = await startTestAggregator(env);
  cleanups.push(() => node.close());
  return node;
}

function events(topic: string, from: number, count: number) {
  return Array.from({ length: count }, (_, i) => makeEvent({ topic, event_id: `${topic}-${from + i}`, payload: { i: from + i } }));
}

async function subscribe(node: TestAggregator, query: string, headers: Record<string, string> = {}): Promise<SseReader> {
  const response = await node.request(`/subscribe?${query}`, { headers });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toStartWith('text/event-stream');
  const reader = new SseReader(response);
  cleanups.push(() => reader.cancel());
  return reader;
}

/** Reads `count` data messages. */
async function take(reader: SseReader, count: number, timeoutMs = 10_000) {
  const messages = [];
  for (let i = 0; i < count; i++) {
    const message = await reader.nextEvent(timeoutMs);
    if (message === null) throw new Error(`stream ended after ${i} of ${count} events`);
    messages.push(message);
  }
  return messages;
}

describe('GET /subscribe', () => {
  test('events arrive in seq order, each with id: <seq> and data exactly as an item of GET /events', async () => {
    const node = await aggregator();
    const reader = await subscribe(node, 'topic=ordered&after=0');
    // The opening message sets the resume point without dispatching an event.
    const opening = await reader.next();
    expect(opening).toMatchObject({ id: '0' });
    expect(opening!.data).toBeUndefined();

    // Several requests, duplicates included, another topic interleaved.
    for (let i = 0; i < 5; i++) {
      expect((await node.publish([...events('ordered', i * 40, 40), ...events('other', i * 40, 40)])).status).toBe(202);
      expect((await node.publish(events('ordered', i * 40, 10))).status).toBe(202);
    }
    const messages = await take(reader, 200);
    const page = (await (await node.request('/events?topic=ordered&limit=1000')).json()) as { events: { seq: number }[] };
    expect(page.events).toHaveLength(200);
    expect(messages.map((m) => Number(m.id))).toEqual(page.events.map((e) => e.seq));
    expect(messages.map((m) => JSON.parse(m.data!))).toEqual(page.events);
    const ids = messages.map((m) => Number(m.id));
    for (let i = 1; i < ids.length; i++) expect(ids[i]!).toBeGreaterThan(ids[i - 1]!);
  }, 30_000);

  test('without after, the stream starts at the current end of the topic', async () => {
    const node = await aggregator();
    expect((await node.publish(events('tail', 0, 5))).status).toBe(202);
    await node.drained();
    const reader = await subscribe(node, 'topic=tail');
    const opening = await reader.next();
    const head = Number(opening!.id);
    expect(head).toBeGreaterThan(0);
    expect((await node.publish(events('tail', 5, 3))).status).toBe(202);
    const messages = await take(reader, 3);
    expect(messages.map((m) => JSON.parse(m.data!).event_id)).toEqual(['tail-5', 'tail-6', 'tail-7']);
    expect(Number(messages[0]!.id)).toBeGreaterThan(head);
  }, 30_000);

  test('resumes after Last-Event-ID or after=, the header winning over the query', async () => {
    const node = await aggregator();
    expect((await node.publish(events('resume', 0, 30))).status).toBe(202);
    const first = await subscribe(node, 'topic=resume&after=0');
    const all = await take(first, 30);
    await first.cancel();
    const ids = all.map((m) => m.id!);

    const byHeader = await subscribe(node, 'topic=resume&after=0', { 'Last-Event-ID': ids[9]! });
    expect((await byHeader.next())!.id).toBe(ids[9]);
    expect((await take(byHeader, 20)).map((m) => m.id)).toEqual(ids.slice(10));

    const byQuery = await subscribe(node, `topic=resume&after=${ids[19]}`);
    expect((await take(byQuery, 10)).map((m) => m.id)).toEqual(ids.slice(20));

    // New events continue each resumed stream, no gap and no repeat.
    expect((await node.publish(events('resume', 30, 2))).status).toBe(202);
    const [a, b] = [await take(byHeader, 2), await take(byQuery, 2)];
    expect(a.map((m) => m.id)).toEqual(b.map((m) => m.id));
    expect(Number(a[0]!.id)).toBeGreaterThan(Number(ids[29]));
  }, 30_000);

  test('rejects a bad topic, after or Last-Event-ID with 400 naming the field', async () => {
    const node = await aggregator();
    const cases: [string, Record<string, string>, string][] = [
      ['topic=bad%20topic', {}, 'topic'],
      ['after=1', {}, 'topic'],
      ['topic=ok&after=-1', {}, 'after'],
      ['topic=ok&after=1.5', {}, 'after'],
      ['topic=ok&nope=1', {}, 'nope'],
      ['topic=ok', { 'Last-Event-ID': 'abc' }, 'Last-Event-ID'],
    ];
    for (const [query, headers, field] of cases) {
      const response = await node.request(`/subscribe?${query}`, { headers });
      expect(response.status).toBe(400);
      const body = (await response.json()) as { details: { field: string }[] };
      expect(body.details.map((d) => d.field)).toContain(field);
    }
  }, 30_000);

  test('drain ends every stream with event: shutdown and refuses new subscriptions with 503', async () => {
    const node = await startTestAggregator();
    cleanups.push(() => node.db.drop());
    const reader = await subscribe(node, 'topic=drain&after=0');
    expect((await node.publish(events('drain', 0, 3))).status).toBe(202);
    const seen = await take(reader, 3);
    await node.aggregator.drain(5_000);
    const final = await reader.next();
    expect(final).toMatchObject({ event: 'shutdown' });
    expect(final!.id).toBeUndefined();
    expect(JSON.parse(final!.data!)).toMatchObject({ last_event_id: Number(seen[2]!.id) });
    expect(await reader.next()).toBeNull();
    expect((await node.request('/subscribe?topic=drain')).status).toBe(503);
    await node.aggregator.close();
  }, 30_000);
});

describe('subscription streams with short timings', () => {
  /** The route on its own hub: wake-ups come only from the test, so timing is under control. */
  async function hubApp(options: Partial<typeof SUBSCRIBE_DEFAULTS>) {
    const node = await aggregator();
    const log = createLogger('silent');
    const horizon = new ReadHorizon(node.aggregator.sql, log);
    const budget = new ReadBudget(Number.MAX_SAFE_INTEGER);
    const hub = new SubscriptionHub({ sql: node.aggregator.sql, log, budget, horizon, options: { ...SUBSCRIBE_DEFAULTS, ...options } });
    cleanups.push(async () => {
      hub.closeAll();
      horizon.close();
    });
    const app = new Elysia().use(subscribeRoutes({ hub, isDraining: () => false }));
    const open = async (query: string, headers: Record<string, string> = {}) => {
      const response = await app.handle(new Request(`http://localhost/subscribe?${query}`, { headers }));
      expect(response.status).toBe(200);
      const reader = new SseReader(response);
      cleanups.push(() => reader.cancel());
      return reader;
    };
    return { node, hub, open };
  }

  test('an idle stream sends : ping heartbeats', async () => {
    const { open } = await hubApp({ heartbeatMs: 150 });
    const reader = await open('topic=quiet&after=0');
    await reader.next();
    const started = performance.now();
    const pings = [await reader.next(2_000), await reader.next(2_000)];
    for (const ping of pings) expect(ping!.comments).toEqual(['ping']);
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
  }, 30_000);

  test('a reader that stops reading while events wait gets event: overflow, and resumes from its last id', async () => {
    const { node, hub, open } = await hubApp({ slowMs: 300, pageSize: 10 });
    expect((await node.publish(events('slow', 0, 10))).status).toBe(202);
    await node.drained();
    const slow = await open('topic=slow&after=0');
    const healthy = await open('topic=slow&after=0');
    await slow.next();
    const received = await take(slow, 10);
    // It stops reading; the topic moves on; the healthy reader keeps up meanwhile.
    expect((await node.publish(events('slow', 10, 50))).status).toBe(202);
    await node.drained();
    hub.wake(null);
    expect(await take(healthy, 60)).toHaveLength(60);
    // The hub's one-second tick ends the slow stream once it has been behind for 300 ms (a
    // loaded machine's tick may come late: wait for it rather than a fixed 1.5 s).
    for (const deadline = Date.now() + 10_000; hub.size !== 1 && Date.now() < deadline; ) await Bun.sleep(50);
    expect(hub.size).toBe(1);
    const final = await slow.next();
    expect(final).toMatchObject({ event: 'overflow' });
    const body = JSON.parse(final!.data!);
    expect(body.reason).toContain('too slow');
    expect(body.last_event_id).toBe(Number(received.at(-1)!.id));
    expect(await slow.next()).toBeNull();

    const resumed = await open('topic=slow', { 'Last-Event-ID': String(body.last_event_id) });
    const rest = await take(resumed, 50);
    expect(rest.map((m) => JSON.parse(m.data!).event_id)).toEqual(events('slow', 10, 50).map((e) => e.event_id));
  }, 30_000);
});

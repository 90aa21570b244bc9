/**
 * POST /publish against a real database: every accepted shape is stored, every rejection has
 * its status and contract body, and a rejected request stores nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { type TestAggregator, makeEvent, makeEvents, startTestAggregator } from '../support/harness';

let agg: TestAggregator;

beforeAll(async () => {
  agg = await startTestAggregator({ MAX_BATCH: '100', MAX_BODY_BYTES: '65536' });
}, 60_000);
afterAll(async () => {
  await agg.close();
}, 30_000);

async function expectRejected(response: Response, status: number) {
  const before = await agg.stats();
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toContain('application/json');
  const body = (await response.json()) as { error: string; details?: unknown[] };
  expect(typeof body.error).toBe('string');
  expect(body.error.length).toBeGreaterThan(0);
  const after = await agg.stats();
  expect(after.received).toBe(before.received);
  return body;
}

describe('accepted shapes', () => {
  test('a single event, an array, an envelope and NDJSON are all stored', async () => {
    const before = await agg.stats();
    const single = makeEvent({ topic: 'shapes' });
    const array = [makeEvent({ topic: 'shapes' }), makeEvent({ topic: 'shapes' })];
    const envelope = { events: [makeEvent({ topic: 'shapes' })] };
    const ndjson = [makeEvent({ topic: 'shapes' }), makeEvent({ topic: 'shapes' })];

    for (const [body, type, count] of [
      [single, 'application/json', 1],
      [array, 'application/json', 2],
      [envelope, 'application/json; charset=utf-8', 1],
      [`${ndjson.map((e) => JSON.stringify(e)).join('\n')}\n`, 'application/x-ndjson', 2],
    ] as const) {
      const response = await agg.publish(body, type);
      expect(response.status).toBe(202);
      expect(await response.json()).toEqual({ accepted: count });
    }
    const after = await agg.drained();
    expect(after.received - before.received).toBe(6);
    expect(after.unique_processed - before.unique_processed).toBe(6);

    const page = (await (await agg.request('/events?topic=shapes')).json()) as { events: Record<string, unknown>[] };
    expect(page.events.map((e) => e.event_id)).toEqual([single, ...array, ...envelope.events, ...ndjson].map((e) => e.event_id));
    expect(page.events[0]).toEqual({ seq: page.events[0]!.seq, ...single, timestamp: '2025-01-31T12:00:00.000000Z' });
  });

  test('every timestamp the validator accepts is stored (normalised to UTC)', async () => {
    const cases: [string, string][] = [
      ['2025-01-31 12:00:00+05:30', '2025-01-31T06:30:00.000000Z'],
      ['2024-02-29T00:00:00.123456789-08:00', '2024-02-29T08:00:00.123457Z'],
      ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00.000000Z'],
      ['9999-12-31T23:59:59.999999Z', '9999-12-31T23:59:59.999999Z'],
      ['2016-12-31T23:59:60Z', '2017-01-01T00:00:00.000000Z'],
      ['2025-06-01T00:00:00-15:59', '2025-06-01T15:59:00.000000Z'],
    ];
    const events = cases.map(([timestamp], i) => makeEvent({ topic: 'times', event_id: `ts-${i}`, timestamp }));
    expect((await agg.publish(events)).status).toBe(202);
    await agg.drained();
    const page = (await (await agg.request('/events?topic=times')).json()) as { events: { timestamp: string }[] };
    expect(page.events.map((e) => e.timestamp)).toEqual(cases.map(([, stored]) => stored));
  });

  test('payloads keep unicode, nesting, numbers and key order', async () => {
    const payload = { text: 'héllo 🌍 \\u0000 escaped', nested: { list: [1, 2.5, -3e10, true, null] }, empty: {} };
    expect((await agg.publish(makeEvent({ topic: 'unicode', payload }))).status).toBe(202);
    await agg.drained();
    const page = (await (await agg.request('/events?topic=unicode')).json()) as { events: { payload: unknown }[] };
    expect(page.events[0]!.payload).toEqual(payload);
    // Stored as json text: key order survives the round trip.
    expect(Object.keys(page.events[0]!.payload as object)).toEqual(['text', 'nested', 'empty']);
  });
});

describe('rejections store nothing', () => {
  test('malformed JSON is 400 with the parser message', async () => {
    const body = await expectRejected(await agg.publish('{"topic": "x",'), 400);
    expect(body.details).toHaveLength(1);
  });

  test('an empty batch is 400', async () => {
    await expectRejected(await agg.publish([]), 400);
    await expectRejected(await agg.publish({ events: [] }), 400);
    await expectRejected(await agg.publish(''), 400);
    await expectRejected(await agg.publish('\n', 'application/x-ndjson'), 400);
  });

  test('one invalid event rejects the whole batch, naming index and field', async () => {
    const events = [makeEvent(), makeEvent(), makeEvent({ timestamp: 'not a time' }), makeEvent({ topic: '' })];
    const body = await expectRejected(await agg.publish(events), 400);
    expect(body.details).toEqual([
      { index: 2, field: 'timestamp', message: expect.any(String) },
      { index: 3, field: 'topic', message: expect.any(String) },
    ]);
  });

  test('a timestamp outside years 0001-9999 in UTC is a 400 naming the field, and nothing is stored', async () => {
    const before = await agg.stats();
    for (const timestamp of ['9999-12-31T23:30:00-01:00', '0001-01-01T00:00:00+00:30', '9999-12-31T23:59:60Z']) {
      const body = await expectRejected(await agg.publish([makeEvent({ topic: 'far' }), makeEvent({ topic: 'far', timestamp })]), 400);
      expect(body.details).toEqual([{ index: 1, field: 'timestamp', message: expect.stringContaining('0001-01-01') }]);
    }
    expect((await agg.stats()).received).toBe(before.received);
  });

  test('U+0000 anywhere is a 400, never a 500', async () => {
    const body = await expectRejected(await agg.publish([makeEvent(), makeEvent({ payload: { log: 'a\u0000b' } })]), 400);
    expect(body.details).toEqual([{ index: 1, field: 'payload', message: expect.stringContaining('U+0000') }]);
    await expectRejected(await agg.publish(makeEvent({ event_id: 'id\u0000' })), 400);
  });

  test('an invalid NDJSON line is reported by index and line', async () => {
    const body = await expectRejected(await agg.publish(`${JSON.stringify(makeEvent())}\n{broken\n`, 'application/x-ndjson'), 400);
    expect(body.details).toEqual([{ index: 1, field: null, message: expect.stringContaining('line 2') }]);
  });

  test('more events than MAX_BATCH is 413', async () => {
    const body = await expectRejected(await agg.publish(makeEvents(101, 1, 'too-many')), 413);
    expect(body.error).toContain('MAX_BATCH');
  });

  test('a body over MAX_BODY_BYTES is 413, declared or streamed', async () => {
    const big = JSON.stringify([makeEvent({ payload: { blob: 'x'.repeat(70_000) } })]);
    await expectRejected(await agg.publish(big), 413);
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big));
        controller.close();
      },
    });
    const response = await agg.request('/publish', { method: 'POST', headers: { 'content-type': 'application/json' }, body: stream });
    await expectRejected(response, 413);
  });

  test('other content types are 415', async () => {
    const body = await expectRejected(await agg.publish(JSON.stringify(makeEvent()), 'text/plain'), 415);
    expect(body.error).toContain('text/plain');
  });

  test('invalid UTF-8 is 400', async () => {
    const bytes = new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]);
    await expectRejected(await agg.request('/publish', { method: 'POST', headers: { 'content-type': 'application/json' }, body: bytes }), 400);
  });
});

describe('other routes', () => {
  test('GET /events rejects a missing or invalid topic, after or limit with 400', async () => {
    for (const query of [
      '',
      '?topic=',
      '?topic=-x',
      '?topic=a&after=-1',
      '?topic=a&after=x',
      '?topic=a&limit=0',
      '?topic=a&limit=1001',
      '?topic=a&limit=1.5',
    ]) {
      const response = await agg.request(`/events${query}`);
      expect(response.status).toBe(400);
      const body = (await response.json()) as { details: { field: string }[] };
      expect(body.details.length).toBeGreaterThan(0);
      expect(['topic', 'after', 'limit']).toContain(body.details[0]!.field);
    }
  });

  test('an unknown route is a JSON 404', async () => {
    const response = await agg.request('/nope');
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: 'no such route' });
  });

  test('/health and /ready answer 200; the OpenAPI document describes the event schema', async () => {
    expect((await agg.request('/health')).status).toBe(200);
    expect((await agg.request('/ready')).status).toBe(200);
    const doc = (await (await agg.request('/openapi/json')).json()) as any;
    const publish = doc.paths['/publish'].post;
    const schema = JSON.stringify(publish.requestBody.content['application/json'].schema);
    expect(schema).toContain('^[A-Za-z0-9][A-Za-z0-9._-]*$');
    expect(schema).toContain('date-time');
    expect(doc.paths['/events'].get.parameters.map((p: { name: string }) => p.name)).toEqual(['topic', 'after', 'limit']);
  });
});

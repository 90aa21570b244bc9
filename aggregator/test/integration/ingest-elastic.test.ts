/**
 * POST /_bulk and /{index}/_bulk with the official @elastic/elasticsearch client and its bulk
 * helper, against a real database: the client's product check passes, documents arrive with
 * the mapping, a re-sent batch is stored once, other actions get per-item errors, malformed
 * bodies get Elasticsearch's error shape and store nothing, gzip (the client's compression).
 */
import { describe, expect, test } from 'bun:test';
import { Client, HttpConnection } from '@elastic/elasticsearch';
import { servedAggregator, storedEvents } from '../support/shipper';

const served = servedAggregator();

// The client's default connection is undici's, which Bun's undici stand-in cannot drive; the
// client's own node:http connection is the documented alternative and speaks the same protocol.
const connect = (options: { compression?: boolean } = {}) => new Client({ node: served.server.url, Connection: HttpConnection, ...options });

const docs = (n: number, tag: string) =>
  Array.from({ length: n }, (_, i) => ({
    id: `${tag}-${i}`,
    '@timestamp': `2025-01-31T12:00:0${i % 10}.250Z`,
    message: `${tag} line ${i}`,
    host: { name: 'node-7' },
  }));

describe('the official client', () => {
  test('GET / answers the client info call with the product header; a browser still gets the dashboard', async () => {
    const client = connect();
    const info = await client.info();
    expect(info.version.number).toMatch(/^8\./);
    const page = await fetch(`${served.server.url}/`, { headers: { accept: 'text/html,application/xhtml+xml' } });
    expect(page.headers.get('content-type')).toContain('text/html');
    await client.close();
  });

  test('the bulk helper stores every document with the mapping: topic = index, event_id = _id, payload = the document', async () => {
    const client = connect();
    const result = await client.helpers.bulk({
      datasource: docs(20, 'a'),
      onDocument: (doc) => ({ index: { _index: 'app-logs', _id: doc.id } }),
      flushBytes: 1000, // several bulk requests
    });
    expect(result.failed).toBe(0);
    expect(result.successful).toBe(20);
    const events = await storedEvents(served.agg, 'app-logs');
    expect(events).toHaveLength(20);
    // The helper sends its requests concurrently: stored order is not document order.
    expect(events.find((e) => e.event_id === 'a-3')).toMatchObject({
      topic: 'app-logs',
      event_id: 'a-3',
      timestamp: '2025-01-31T12:00:03.250000Z',
      source: 'node-7',
      payload: { id: 'a-3', message: 'a line 3', host: { name: 'node-7' } },
    });
    await client.close();
  });

  test('the same batch sent twice is stored once and counted as duplicates, with and without _id', async () => {
    const client = connect();
    const batch = docs(8, 'dup');
    const before = await served.agg.drained();
    for (let round = 0; round < 2; round++) {
      // With _id, and (create, no _id) where the event_id is a hash of index and document.
      const withId = await client.helpers.bulk({ datasource: batch, onDocument: (doc) => ({ index: { _index: 'dup-with-id', _id: doc.id } }) });
      const withoutId = await client.helpers.bulk({ datasource: batch, onDocument: () => ({ create: { _index: 'dup-no-id' } }) });
      expect(withId.failed + withoutId.failed).toBe(0);
    }
    const after = await served.agg.drained();
    expect(after.received - before.received).toBe(32);
    expect(after.unique_processed - before.unique_processed).toBe(16);
    expect(after.duplicate_dropped - before.duplicate_dropped).toBe(16);
    expect(await storedEvents(served.agg, 'dup-no-id')).toHaveLength(8);
    await client.close();
  });

  test('client compression (gzip request bodies) works; the URL index is the default', async () => {
    const client = connect({ compression: true });
    const response = await client.bulk({ index: 'gzip-logs', operations: docs(5, 'gz').flatMap((doc) => [{ index: {} }, doc]) });
    expect(response.errors).toBe(false);
    expect(await storedEvents(served.agg, 'gzip-logs')).toHaveLength(5);
    await client.close();
  });

  test('delete and update get a per-item error; the index and create items around them are stored', async () => {
    const client = connect();
    const response = await client.bulk({
      operations: [
        { index: { _index: 'mixed', _id: '1' } },
        { message: 'kept' },
        { delete: { _index: 'mixed', _id: '1' } },
        { update: { _index: 'mixed', _id: '1' } },
        { doc: { message: 'changed' } },
        { create: { _index: 'mixed', _id: '2' } },
        { message: 'kept too', nul: 'a\u0000b' },
        { create: { _index: 'mixed', _id: '3' } },
        { message: 'kept three' },
      ],
    });
    expect(response.errors).toBe(true);
    expect(response.items.map((item) => Object.values(item)[0]!.status)).toEqual([201, 400, 400, 400, 201]);
    expect(response.items[1]!.delete!.error!.type).toBe('illegal_argument_exception');
    expect(response.items[3]!.create!.error!.reason).toContain('U+0000');
    expect((await storedEvents(served.agg, 'mixed')).map((e) => e.event_id)).toEqual(['1', '3']);
    await client.close();
  });
});

describe('documents come back as sent', () => {
  test('64-bit integers, long decimals and key order of a document survive (its text is stored)', async () => {
    const doc = '{"trace_id":18446744073709551615,"ratio":0.1000000000000000055511151231257827,"2":"b","1":"a"}';
    const body = `{"index":{"_index":"exact","_id":"big"}}\n${doc}\n`;
    const response = await fetch(`${served.server.url}/_bulk`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
    expect(response.status).toBe(200);
    await served.agg.drained();
    const page = await (await served.agg.request('/events?topic=exact')).text();
    expect(page).toContain(`"payload" : ${doc}`);
  });
});

describe('malformed bodies', () => {
  async function expectRejected(body: string, status: number, type: string) {
    const before = await served.agg.drained();
    const response = await fetch(`${served.server.url}/_bulk`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
    expect(response.status).toBe(status);
    expect(response.headers.get('x-elastic-product')).toBe('Elasticsearch');
    const answer = (await response.json()) as { error: { type: string; reason: string; root_cause: unknown[] }; status: number };
    expect(answer.status).toBe(status);
    expect(answer.error.type).toBe(type);
    expect(answer.error.root_cause).toHaveLength(1);
    expect((await served.agg.drained()).received).toBe(before.received);
  }

  test('a broken action line fails the whole request (x_content_parse_exception) and stores nothing', async () => {
    await expectRejected('{"index":{"_index":"x"}}\n{"a":1}\n{"index":\n{"a":2}\n', 400, 'x_content_parse_exception');
  });

  test('an unknown action or a missing source line is a 400 illegal_argument_exception', async () => {
    await expectRejected('{"upsert":{"_index":"x"}}\n{"a":1}\n', 400, 'illegal_argument_exception');
    await expectRejected('{"index":{"_index":"x"}}\n', 400, 'illegal_argument_exception');
  });

  test('the client surfaces the error shape as a ResponseError', async () => {
    const client = connect();
    const error = await client.bulk({ operations: [{ index: { _index: 'x' } }] }).catch((e: unknown) => e);
    expect((error as { meta?: { statusCode?: number } }).meta?.statusCode).toBe(400);
    expect(String(error)).toContain('illegal_argument_exception');
    await client.close();
  });
});

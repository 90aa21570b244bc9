/**
 * The database failing under an ingest request is answered in the route's own error shape: 503
 * with Retry-After as our contract body for /publish and Loki, as a google.rpc.Status for OTLP,
 * as the Elasticsearch error object for the bulk API, so each protocol's clients retry it. The
 * failure is real: the enqueue statement waits on a lock the test holds and is cancelled
 * (SQLSTATE 57014, which errors.ts reads as "unavailable"). Nothing is stored.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import postgres from 'postgres';
import { WORKER_MIN_BYTES } from '../../src/ingest/decode-pool';
import { ExportLogsServiceRequest, Status } from '../../src/ingest/otlp/schema';
import { type TestAggregator, makeEvent, startTestAggregator } from '../support/harness';

let agg: TestAggregator;
let admin: postgres.Sql;

beforeAll(async () => {
  agg = await startTestAggregator();
  admin = postgres(agg.db.url, { max: 2, onnotice: () => {} });
}, 60_000);
afterAll(async () => {
  await admin?.end();
  await agg?.close();
}, 30_000);

/**
 * Sends `send()` while the inbox is locked, cancels the enqueue statement once it waits on that
 * lock, and returns the answer. Throws unless the statement was seen waiting and cancelled, on a
 * connection named `application` (the pool's, or the decode worker's for a large body).
 */
async function duringOutage(send: () => Promise<Response>, application = 'logbus-aggregator'): Promise<Response> {
  const holder = await admin.reserve();
  try {
    await holder`BEGIN`;
    await holder`LOCK TABLE inbox IN ACCESS EXCLUSIVE MODE`;
    const answer = send();
    let cancelled = false;
    for (let waited = 0; !cancelled && waited < 30_000; waited += 20) {
      const [row] = await admin<{ cancelled: boolean }[]>`
        SELECT pg_cancel_backend(pid) AS cancelled FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO inbox%'
          AND application_name = ${application}`;
      cancelled = row?.cancelled === true;
      if (!cancelled) await Bun.sleep(20);
    }
    // Positive control: the failure under test happened (not some other refusal).
    expect(cancelled).toBe(true);
    return await answer;
  } finally {
    await holder`ROLLBACK`;
    holder.release();
  }
}

const post = (path: string, contentType: string, body: BodyInit) =>
  agg.request(path, { method: 'POST', headers: { 'content-type': contentType }, body });

/** One body per route carrying the texts `texts()` gives, each a log line (an event for /publish). */
function bodiesOf(texts: () => string[]) {
  return {
    publish: () => JSON.stringify(texts().map((text) => makeEvent({ topic: 'outage', payload: { text } }))),
    otlp: () =>
      new Uint8Array(
        ExportLogsServiceRequest.encode(
          ExportLogsServiceRequest.fromObject({
            resourceLogs: [
              {
                resource: { attributes: [{ key: 'service.name', value: { stringValue: 'outage' } }] },
                scopeLogs: [{ logRecords: texts().map((text) => ({ timeUnixNano: '1738324800000000000', body: { stringValue: text } })) }],
              },
            ],
          }),
        ).finish(),
      ),
    loki: () => JSON.stringify({ streams: [{ stream: { service_name: 'outage' }, values: texts().map((text) => ['1738324800000000000', text]) }] }),
    bulk: () =>
      texts()
        .map((text) => `{"index":{"_index":"outage"}}\n{"message":"${text}"}\n`)
        .join(''),
  };
}

const bodies = bodiesOf(() => [`line ${Math.random()}`]);

/** Bodies over WORKER_MIN_BYTES: decoded and stored by the decode worker, on its own connection. */
const LARGE = 400;
const largeBodies = bodiesOf(() => Array.from({ length: LARGE }, () => `${Math.random()} ${'x'.repeat(1000)}`));

describe('a database failure under an ingest request', () => {
  test('each route first stores when the database answers (positive control)', async () => {
    expect((await post('/publish', 'application/json', bodies.publish())).status).toBe(202);
    expect((await post('/v1/logs', 'application/x-protobuf', bodies.otlp())).status).toBe(200);
    expect((await post('/loki/api/v1/push', 'application/json', bodies.loki())).status).toBe(204);
    const bulk = await post('/_bulk', 'application/x-ndjson', bodies.bulk());
    expect(bulk.status).toBe(200);
    expect(await bulk.json()).toMatchObject({ errors: false });
    expect((await agg.drained()).received).toBe(4);
  });

  test('/publish and Loki: 503 with Retry-After in the contract body; nothing stored', async () => {
    const before = (await agg.drained()).received;
    for (const response of [
      await duringOutage(() => post('/publish', 'application/json', bodies.publish())),
      await duringOutage(() => post('/loki/api/v1/push', 'application/json', bodies.loki())),
    ]) {
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('1');
      expect(await response.json()).toEqual({ error: 'storage unavailable' });
    }
    expect((await agg.drained()).received).toBe(before);
  }, 90_000);

  test('OTLP: 503 with Retry-After as a google.rpc.Status (UNAVAILABLE) in the request encoding; nothing stored', async () => {
    const before = (await agg.drained()).received;
    const response = await duringOutage(() => post('/v1/logs', 'application/x-protobuf', bodies.otlp()));
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    expect(response.headers.get('content-type')).toBe('application/x-protobuf');
    const status = Status.toObject(Status.decode(new Uint8Array(await response.arrayBuffer()))) as { code: number; message: string };
    expect(status).toEqual({ code: 14, message: 'storage unavailable' });
    expect((await agg.drained()).received).toBe(before);
  }, 60_000);

  test('bulk API: 503 with Retry-After as an Elasticsearch error object; nothing stored', async () => {
    const before = (await agg.drained()).received;
    const response = await duringOutage(() => post('/_bulk', 'application/x-ndjson', bodies.bulk()));
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    expect(response.headers.get('x-elastic-product')).toBe('Elasticsearch');
    expect(await response.json()).toMatchObject({ status: 503, error: { type: 'unavailable_shards_exception', reason: 'storage unavailable' } });
    expect((await agg.drained()).received).toBe(before);
  }, 60_000);
});

describe('a database failure under a large body, stored by the decode worker', () => {
  test('each route stores a large body (positive control: over WORKER_MIN_BYTES, all accepted)', async () => {
    const before = (await agg.drained()).received;
    expect(largeBodies.bulk().length).toBeGreaterThan(WORKER_MIN_BYTES);
    expect(largeBodies.otlp().length).toBeGreaterThan(WORKER_MIN_BYTES);
    expect((await post('/publish', 'application/json', largeBodies.publish())).status).toBe(202);
    expect((await post('/v1/logs', 'application/x-protobuf', largeBodies.otlp())).status).toBe(200);
    expect((await post('/loki/api/v1/push', 'application/json', largeBodies.loki())).status).toBe(204);
    expect((await post('/_bulk', 'application/x-ndjson', largeBodies.bulk())).status).toBe(200);
    expect((await agg.drained()).received).toBe(before + 4 * LARGE);
  }, 60_000);

  test("each route answers the worker's failure as its small bodies' (a retryable 503); nothing stored", async () => {
    const before = (await agg.drained()).received;
    const inWorker = (send: () => Promise<Response>) => duringOutage(send, 'logbus-aggregator-ingest');
    for (const response of [
      await inWorker(() => post('/publish', 'application/json', largeBodies.publish())),
      await inWorker(() => post('/loki/api/v1/push', 'application/json', largeBodies.loki())),
    ]) {
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('1');
      expect(await response.json()).toEqual({ error: 'storage unavailable' });
    }
    const otlp = await inWorker(() => post('/v1/logs', 'application/x-protobuf', largeBodies.otlp()));
    expect(otlp.status).toBe(503);
    expect(Status.toObject(Status.decode(new Uint8Array(await otlp.arrayBuffer())))).toEqual({ code: 14, message: 'storage unavailable' });
    const bulk = await inWorker(() => post('/_bulk', 'application/x-ndjson', largeBodies.bulk()));
    expect(bulk.status).toBe(503);
    expect(await bulk.json()).toMatchObject({ status: 503, error: { type: 'unavailable_shards_exception', reason: 'storage unavailable' } });
    expect((await agg.drained()).received).toBe(before);
  }, 120_000);
});

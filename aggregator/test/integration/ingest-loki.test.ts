/**
 * POST /loki/api/v1/push with pino-loki (JSON) and with snappy-compressed protobuf
 * PushRequests, against a real database: the mapping, exact dedup of re-sent entries, Loki's
 * answers (204, 400), gzip.
 */
import { describe, expect, test } from 'bun:test';
import pino from 'pino';
import pinoLoki from 'pino-loki';
import protobuf from 'protobufjs';
import * as snappy from 'snappyjs';
import { eventually, servedAggregator, storedEvents } from '../support/shipper';

const served = servedAggregator();

const PushRequest = new protobuf.Root()
  .loadSync(new URL('../../src/ingest/loki/push.proto', import.meta.url).pathname)
  .lookupType('logproto.PushRequest');

/** A pino logger shipping through pino-loki, every line stamped with the same millisecond. */
function lokiLogger(app: string) {
  const transport = pinoLoki({ host: served.server.url, batching: { interval: 0.05 }, labels: { app } });
  const logger = pino({ base: { hostname: 'pod-3' }, timestamp: () => ',"time":1738324800123' }, transport);
  return { logger, transport };
}

const push = (body: BodyInit, headers: Record<string, string>) => fetch(`${served.server.url}/loki/api/v1/push`, { method: 'POST', headers, body });

describe('pino-loki', () => {
  test('lines arrive with the mapping: topic from the app label, source the hostname label, payload line + labels', async () => {
    const { logger } = lokiLogger('billing');
    for (let i = 0; i < 4; i++) logger.info({ invoice: i }, `invoice ${i} sent`);
    await eventually(async () => (await storedEvents(served.agg, 'billing')).length === 4);
    // pino-loki may split the lines over pushes that commit in any order: pick the line by content.
    const first = (await storedEvents(served.agg, 'billing')).find((e) => JSON.parse(e.payload.line).invoice === 0);
    expect(first!.source).toBe('pod-3');
    expect(first!.timestamp).toBe('2025-01-31T12:00:00.123000Z');
    expect(first!.event_id).toMatch(/^[0-9a-f]{32}$/);
    expect(first!.payload.labels).toEqual({ app: 'billing', level: 'info', hostname: 'pod-3' });
    expect(first!.payload.time_unix_nano).toBe('1738324800123000000');
    expect(JSON.parse(first!.payload.line)).toMatchObject({ invoice: 0, msg: 'invoice 0 sent' });
  });

  test('the same lines pushed again are stored once and counted as duplicates', async () => {
    const before = await served.agg.drained();
    const { logger } = lokiLogger('billing-dup');
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 5; i++) logger.info(`charge ${i}`);
      await eventually(async () => (await served.agg.stats()).received - before.received === 5 * (round + 1));
    }
    const after = await served.agg.drained();
    expect(after.unique_processed - before.unique_processed).toBe(5);
    expect(after.duplicate_dropped - before.duplicate_dropped).toBe(5);
    expect(await storedEvents(served.agg, 'billing-dup')).toHaveLength(5);
  });
});

describe('protobuf and compression', () => {
  const request = (job: string, lines: string[]) =>
    PushRequest.encode(
      PushRequest.fromObject({
        streams: [
          {
            labels: `{job="${job}", env="prod"}`,
            entries: lines.map((line, i) => ({
              timestamp: { seconds: 1738324800, nanos: i * 1000 },
              line,
              structuredMetadata: [{ name: 'trace_id', value: `t${i}` }],
            })),
          },
        ],
      }),
    ).finish();

  test('a snappy-compressed protobuf push is answered 204 and stored with labels and structured metadata; a re-push dedups', async () => {
    const body = Buffer.from(snappy.compress(request('promtail', ['a', 'b', 'c'])));
    const before = await served.agg.drained();
    for (let round = 0; round < 2; round++) {
      const response = await push(body, { 'content-type': 'application/x-protobuf' });
      expect(response.status).toBe(204);
    }
    const after = await served.agg.drained();
    expect(after.unique_processed - before.unique_processed).toBe(3);
    expect(after.duplicate_dropped - before.duplicate_dropped).toBe(3);
    const events = await storedEvents(served.agg, 'promtail');
    expect(events[1]!.timestamp).toBe('2025-01-31T12:00:00.000001Z');
    expect(events[1]!.payload).toEqual({
      line: 'b',
      labels: { job: 'promtail', env: 'prod' },
      structured_metadata: { trace_id: 't1' },
      time_unix_nano: '1738324800000001000',
    });
  });

  test('gzip JSON pushes are decoded; LOKI topic labels are tried in order', async () => {
    const body = JSON.stringify({ streams: [{ stream: { job: 'ignored', service_name: 'svc-gz' }, values: [['1738324800000000000', 'zipped']] }] });
    const response = await push(Bun.gzipSync(body), { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    expect(response.status).toBe(204);
    expect((await storedEvents(served.agg, 'svc-gz')).map((e) => e.payload.line)).toEqual(['zipped']);
  });

  test('two genuinely identical lines at the same nanosecond in one stream are one event, as in Loki', async () => {
    const values = [
      ['1738324800000000000', 'same'],
      ['1738324800000000000', 'same'],
    ];
    const response = await push(JSON.stringify({ streams: [{ stream: { app: 'twins' }, values }] }), { 'content-type': 'application/json' });
    expect(response.status).toBe(204);
    expect(await storedEvents(served.agg, 'twins')).toHaveLength(1);
  });
});

test('entries that fail validation are a 400 naming them, and the valid entries of the push are stored (as in Loki)', async () => {
  const values = [
    ['1738324800000000000', 'good'],
    ['1738324800000000001', 'nul \u0000 inside'],
    ['1738324800000000002', 'good too'],
  ];
  const response = await push(JSON.stringify({ streams: [{ stream: { app: 'partial' }, values }] }), { 'content-type': 'application/json' });
  expect(response.status).toBe(400);
  const answer = (await response.json()) as { error: string; details: { index: number; message: string }[] };
  expect(answer.error).toContain('1 of 3 entries rejected');
  expect(answer.details[0]).toMatchObject({ index: 1, message: expect.stringContaining('U+0000') });
  expect((await storedEvents(served.agg, 'partial')).map((e) => e.payload.line)).toEqual(['good', 'good too']);
});

describe('malformed pushes get 400 and store nothing', () => {
  async function expectRejected(body: BodyInit, headers: Record<string, string>, status = 400) {
    const before = await served.agg.drained();
    const response = await push(body, headers);
    expect(response.status).toBe(status);
    const answer = (await response.json()) as { error: string };
    expect(answer.error.length).toBeGreaterThan(0);
    expect((await served.agg.drained()).received).toBe(before.received);
    return answer;
  }

  test('broken JSON, a wrong shape, bad timestamps', async () => {
    await expectRejected('{"streams": [', { 'content-type': 'application/json' });
    await expectRejected('{"streams": {}}', { 'content-type': 'application/json' });
    await expectRejected(JSON.stringify({ streams: [{ stream: { app: 'x' }, values: [[1738324800, 'number time']] }] }), {
      'content-type': 'application/json',
    });
  });

  test('protobuf that is not snappy, or snappy that is not a PushRequest, or bad labels', async () => {
    await expectRejected(Buffer.from(request('x', ['a'])), { 'content-type': 'application/x-protobuf' });
    await expectRejected(Buffer.from(snappy.compress(new Uint8Array([0x0a, 0xff, 0xff]))), { 'content-type': 'application/x-protobuf' });
    const badLabels = PushRequest.encode(PushRequest.fromObject({ streams: [{ labels: 'job=x', entries: [{ line: 'a' }] }] })).finish();
    await expectRejected(Buffer.from(snappy.compress(badLabels)), { 'content-type': 'application/x-protobuf' });
  });

  test('a snappy block declaring more than MAX_BODY_BYTES is a 413 before anything is allocated', async () => {
    // Snappy's preamble is the uncompressed length as a varint: here 100,000,000 bytes (> 5 MiB).
    const bomb = new Uint8Array([0x80, 0xc2, 0xd7, 0x2f, 0x00]);
    await expectRejected(bomb, { 'content-type': 'application/x-protobuf' }, 413);
  });

  test('an unknown content type is 415', async () => {
    await expectRejected('a line', { 'content-type': 'text/plain' }, 415);
  });

  function request(job: string, lines: string[]) {
    return PushRequest.encode(PushRequest.fromObject({ streams: [{ labels: `{job="${job}"}`, entries: lines.map((line) => ({ line })) }] })).finish();
  }
});

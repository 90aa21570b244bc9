/**
 * The seven hostile bodies of issue 22, each against a real aggregator process (RSS read from
 * /proc, raw sockets where an HTTP client would normalise the request): a small body that
 * expands into millions of records, fan-out of shared attributes, deep nesting, OTLP values
 * with non-callable toString, a `__proto__` attribute key, a chunked trailer, a trickling body.
 */
import { describe, expect, test } from 'bun:test';
import { connect } from 'node:net';
import * as snappy from 'snappyjs';
import { useReplicaProcess } from '../support/process-replica';
import { residentMiB } from '../support/faults';
import { rawRequest } from '../support/raw-http';
import { concat, field, repeated } from '../support/wire';

const BODY_READ_TIMEOUT_MS = 2_000;
const replica = useReplicaProcess('hostile', { BODY_READ_TIMEOUT_MS: String(BODY_READ_TIMEOUT_MS) });

const received = async () => ((await (await fetch(`${replica.agg.url}/stats`)).json()) as { received: number }).received;

/** Sends one request while sampling the process's RSS; returns the answer, its time and the peak growth. */
async function measured(path: string, body: Uint8Array | string, headers: Record<string, string>) {
  const before = residentMiB(replica.agg.pid);
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, residentMiB(replica.agg.pid));
  }, 20);
  const started = performance.now();
  try {
    const response = await fetch(`${replica.agg.url}${path}`, {
      method: 'POST',
      headers,
      body: body as BodyInit,
      signal: AbortSignal.timeout(120_000),
    });
    const text = await response.text();
    return { status: response.status, text, ms: performance.now() - started, grewMiB: Math.max(peak, residentMiB(replica.agg.pid)) - before };
  } finally {
    clearInterval(sampler);
  }
}

// OTLP protobuf built on the wire (logs.proto field numbers), so absurd shapes cost the test nothing.
const otlpRequest = (resourceLogs: Uint8Array) => field(1, resourceLogs);
const PROTOBUF = { 'content-type': 'application/x-protobuf' };
const JSON_TYPE = { 'content-type': 'application/json' };

describe('1. a small body that would expand into millions of records', () => {
  test('Loki: 2.6 M empty entries in ~250 KB of snappy is a 413 naming MAX_BATCH, fast and without the memory', async () => {
    const stream = concat(field(1, new TextEncoder().encode('{job="bomb"}')), repeated(2, 2_600_000));
    const body = snappy.compress(field(1, stream)) as Uint8Array;
    expect(body.length).toBeLessThan(300_000); // the precondition: a small request
    const before = await received();
    const { status, text, ms, grewMiB } = await measured('/loki/api/v1/push', body, PROTOBUF);
    expect(status).toBe(413);
    expect(text).toContain('MAX_BATCH');
    expect(ms).toBeLessThan(10_000); // unfixed: 27-68 s
    expect(grewMiB).toBeLessThan(150); // unfixed: 2.5 GiB
    expect(await received()).toBe(before);
  }, 130_000);

  test('OTLP: 2.6 M empty LogRecords is a 413 naming MAX_BATCH; 2.6 M empty ScopeLogs a 413 naming INGEST_MAX_ITEMS', async () => {
    const records = otlpRequest(field(2, repeated(2, 2_600_000)));
    const first = await measured('/v1/logs', records, PROTOBUF);
    expect(first.status).toBe(413);
    expect(first.text).toContain('MAX_BATCH');
    expect(first.grewMiB).toBeLessThan(150);
    const scopes = otlpRequest(repeated(2, 2_600_000));
    const second = await measured('/v1/logs', scopes, PROTOBUF);
    expect(second.status).toBe(413); // unfixed: 200 after 0.9 GiB
    expect(second.text).toContain('INGEST_MAX_ITEMS');
    expect(second.grewMiB).toBeLessThan(150);
  }, 130_000);

  test('positive control: the same shapes at MAX_BATCH records are accepted', async () => {
    const ok = await measured('/v1/logs', otlpRequest(field(2, repeated(2, 5000))), PROTOBUF);
    expect(ok.status).toBe(200);
  }, 60_000);
});

describe('2. fan-out: shared attributes and labels count once per record', () => {
  const big = 'x'.repeat(100_000);
  test('OTLP protobuf: 5,000 empty records under one 100 KB resource attribute is a 413 naming INGEST_MAX_PAYLOAD_BYTES', async () => {
    const anyValue = field(1, new TextEncoder().encode(big));
    const keyValue = concat(field(1, new TextEncoder().encode('big')), field(2, anyValue));
    const resource = field(1, keyValue);
    const body = otlpRequest(concat(field(1, resource), field(2, repeated(2, 5000))));
    expect(body.length).toBeLessThan(120_000);
    const before = await received();
    const { status, text, grewMiB } = await measured('/v1/logs', body, PROTOBUF);
    expect(status).toBe(413);
    expect(text).toContain('INGEST_MAX_PAYLOAD_BYTES');
    expect(grewMiB).toBeLessThan(150);
    expect(await received()).toBe(before);
  }, 130_000);

  test('OTLP JSON and Loki JSON: the same fan-out is a 413', async () => {
    const otlp = {
      resourceLogs: [
        {
          resource: { attributes: [{ key: 'big', value: { stringValue: big } }] },
          scopeLogs: [{ logRecords: Array.from({ length: 5000 }, () => ({})) }],
        },
      ],
    };
    const first = await measured('/v1/logs', JSON.stringify(otlp), JSON_TYPE);
    expect(first.status).toBe(413);
    expect(first.text).toContain('INGEST_MAX_PAYLOAD_BYTES');
    const loki = { streams: [{ stream: { big }, values: Array.from({ length: 5000 }, (_, i) => [String(i + 1), '']) }] };
    const second = await measured('/loki/api/v1/push', JSON.stringify(loki), JSON_TYPE);
    expect(second.status).toBe(413);
    expect(second.text).toContain('INGEST_MAX_PAYLOAD_BYTES');
  }, 130_000);
});

describe('3. deep nesting is a 400 naming MAX_JSON_DEPTH on every JSON input', () => {
  const nested = (depth: number, leaf = '1') => `${'{"a":'.repeat(depth)}${leaf}${'}'.repeat(depth)}`;
  const event = (payload: string) =>
    `{"topic":"deep","event_id":"d${Math.random()}","timestamp":"2025-01-31T12:00:00Z","source":"t","payload":${payload}}`;
  test('/publish, bulk and OTLP JSON', async () => {
    const before = await received();
    // \u0000 made validation's recursive walk run; 20,000 levels passed PostgreSQL's max_stack_depth.
    const publish = await measured('/publish', event(nested(20_000, '"\\u0000"')), JSON_TYPE);
    expect(publish.status).toBe(400);
    expect(publish.text).toContain('MAX_JSON_DEPTH');
    const bulk = await measured('/_bulk', `{"index":{"_index":"deep"}}\n${nested(20_000)}\n`, { 'content-type': 'application/x-ndjson' });
    expect(bulk.status).toBe(400);
    expect(bulk.text).toContain('MAX_JSON_DEPTH');
    let kvlist = '{"stringValue":"leaf"}';
    for (let i = 0; i < 50_000; i++) kvlist = `{"kvlistValue":{"values":[{"key":"k","value":${kvlist}}]}}`;
    const otlp = `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":${kvlist}}]}]}]}`;
    const third = await measured('/v1/logs', otlp, JSON_TYPE);
    expect(third.status).toBe(400);
    expect(third.text).toContain('MAX_JSON_DEPTH');
    expect(await received()).toBe(before);
  }, 130_000);

  test('OTLP protobuf nested past the limit is a 400; positive control: 50 levels are stored', async () => {
    let value = field(1, new TextEncoder().encode('leaf')); // AnyValue.string_value
    for (let i = 0; i < 2_000; i++) value = field(6, field(1, concat(field(1, new TextEncoder().encode('k')), field(2, value))));
    const deep = otlpRequest(field(2, field(2, field(5, value))));
    const refused = await measured('/v1/logs', deep, PROTOBUF);
    expect(refused.status).toBe(400);
    const ok = await measured('/publish', event(nested(50)), JSON_TYPE);
    expect(ok).toMatchObject({ status: 202 });
  }, 60_000);
});

describe('4. OTLP JSON values with a non-callable toString / valueOf', () => {
  const hostile: Record<string, unknown>[] = [
    { toString: 1 },
    { valueOf: 1, toString: 1 },
    { __isLong__: true, toString: 1 },
    { __isLong__: true, low: 'x', high: 1 },
  ];
  test('in body, attributes, service.name, severity and times: never a 500, always the OTLP answer shape', async () => {
    for (const value of hostile) {
      const records = [
        { body: { intValue: value } },
        { body: { doubleValue: value } },
        { body: { bytesValue: value } },
        { attributes: [{ key: 'a', value: { intValue: value } }] },
        { severityNumber: value, timeUnixNano: value, observedTimeUnixNano: value, droppedAttributesCount: value },
      ];
      const body = {
        resourceLogs: [
          {
            resource: { attributes: [{ key: 'service.name', value: { intValue: value } }] },
            scopeLogs: [{ scope: { name: value }, logRecords: records }],
          },
        ],
      };
      const { status, text } = await measured('/v1/logs', JSON.stringify(body), JSON_TYPE);
      expect({ value, status }).toEqual({ value, status: 200 });
      expect(() => JSON.parse(text)).not.toThrow();
    }
  }, 60_000);
});

describe('5. an attribute key __proto__', () => {
  test('is stored as an attribute, and a log.record.uid inside its value is not the event_id', async () => {
    const uid = `proto-${Date.now()}`;
    const record = {
      timeUnixNano: '1700000000000000000',
      body: { stringValue: 'proto' },
      attributes: [{ key: '__proto__', value: { kvlistValue: { values: [{ key: 'log.record.uid', value: { stringValue: uid } }] } } }],
    };
    const body = { resourceLogs: [{ scopeLogs: [{ logRecords: [record] }] }] };
    const { status } = await measured('/v1/logs?topic=proto', JSON.stringify(body), JSON_TYPE);
    expect(status).toBe(200);
    let events: { event_id: string; payload: { attributes?: Record<string, unknown> } }[] = [];
    for (let i = 0; i < 200 && events.length === 0; i++) {
      events = ((await (await fetch(`${replica.agg.url}/events?topic=proto`)).json()) as { events: typeof events }).events;
      if (events.length === 0) await Bun.sleep(50);
    }
    expect(events).toHaveLength(1);
    expect(events[0]!.event_id).not.toBe(uid);
    expect(Object.keys(events[0]!.payload.attributes ?? {})).toEqual(['__proto__']);
  }, 30_000);
});

describe('6. a chunked body with a trailer field', () => {
  const chunked = (body: string, trailer: string) =>
    rawRequest(
      replica.agg.port,
      'POST /publish HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close',
      `${body.length.toString(16)}\r\n${body}\r\n0\r\n${trailer}\r\n`,
    );
  const event = (id: string) => JSON.stringify({ topic: 'trailer', event_id: id, timestamp: '2025-01-31T12:00:00Z', source: 't', payload: {} });
  test('is never answered 4xx after its events were stored: refused, nothing stored', async () => {
    const positive = await chunked(event(`plain-${Date.now()}`), '');
    expect(positive).toMatchObject({ status: 202 }); // the precondition: a chunked body is otherwise fine
    await Bun.sleep(200);
    const before = await received();
    const answer = await chunked(event(`trailer-${Date.now()}`), 'X-Checksum: abc\r\n');
    expect(answer.status).toBe(400);
    await Bun.sleep(500); // what an unfixed handler commits lands within this
    expect(await received()).toBe(before);
  }, 30_000);
});

describe('7. a body trickling at one byte a second', () => {
  test('is cut off with a 408 after BODY_READ_TIMEOUT_MS and the connection closed', async () => {
    const socket = connect(replica.agg.port, '127.0.0.1');
    let data = '';
    let closed = false;
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
    });
    socket.on('close', () => {
      closed = true;
    });
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('POST /publish HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n');
    const started = Date.now();
    const trickle = setInterval(() => {
      if (!socket.destroyed) socket.write('[');
    }, 1_000);
    try {
      while (!data.includes('\r\n\r\n') && Date.now() - started < 30_000) await Bun.sleep(50);
      expect(data).toMatch(/^HTTP\/1\.1 408/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(BODY_READ_TIMEOUT_MS - 100);
      while (!closed && Date.now() - started < 30_000) await Bun.sleep(50);
      expect(closed).toBe(true);
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
  }, 40_000);
});

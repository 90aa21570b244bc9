/**
 * Worst-case request bodies for every ingest route under the default limits (MAX_BODY_BYTES
 * 5 MiB, MAX_BATCH 5000, INGEST_MAX_ITEMS, INGEST_MAX_PAYLOAD_BYTES): the largest bodies the
 * decode budget accepts, and the expansion bombs it must refuse. Shared by the memory test and
 * bench/hostile.ts.
 */
import { concat, field, repeated } from './wire';

export interface WorstCase {
  name: string;
  path: string;
  headers: Record<string, string>;
  bytes: Uint8Array;
  /** The status every copy must get. */
  expect: number;
}

const utf8 = (text: string) => new TextEncoder().encode(text);
const JSON_TYPE = { 'content-type': 'application/json' };
const PROTOBUF = { 'content-type': 'application/x-protobuf' };
const pad = (i: number, length: number) => `${i}-${'p'.repeat(length)}`;

/** A payload of `members` small members plus a pad: many objects for JSON.parse, ~1 KiB. */
function payload(i: number, members: number): Record<string, unknown> {
  const value: Record<string, unknown> = { pad: pad(i, 700) };
  for (let m = 0; m < members; m++) value[`k${m}`] = m;
  return value;
}

const keyValue = (key: string, value: string) => concat(field(1, utf8(key)), field(2, field(1, utf8(value))));

/**
 * `records` per accepted body: 5000 (MAX_BATCH) puts each at MAX_BODY_BYTES; fewer make the same
 * shapes smaller (the bombs stay full size: they are refused before they cost anything).
 */
export function worstCaseBodies(snappyCompress: (input: Uint8Array) => Uint8Array, records = 5000): WorstCase[] {
  const RECORDS = records;
  const events = Array.from({ length: RECORDS }, (_, i) => ({
    topic: 'worst',
    event_id: `w-${i}`,
    timestamp: '2025-01-31T12:00:00Z',
    source: 'worst',
    payload: payload(i, 25),
  }));
  const bulk = events.map((e) => `{"index":{"_index":"worst","_id":"${e.event_id}"}}\n${JSON.stringify(e.payload)}\n`).join('');
  const otlpRecords = Array.from({ length: RECORDS }, (_, i) => ({
    body: { stringValue: pad(i, 600) },
    attributes: Array.from({ length: 8 }, (_, a) => ({ key: `a${a}`, value: { stringValue: `v${a}` } })),
  }));
  const otlpJson = {
    resourceLogs: [
      { resource: { attributes: [{ key: 'service.name', value: { stringValue: 'worst' } }] }, scopeLogs: [{ logRecords: otlpRecords }] },
    ],
  };
  const otlpRecord = (i: number) =>
    concat(field(5, field(1, utf8(pad(i, 700)))), ...Array.from({ length: 8 }, (_, a) => field(6, keyValue(`a${a}`, `v${a}`))));
  const otlpProto = field(
    1,
    concat(
      field(1, field(1, keyValue('service.name', 'worst'))),
      field(2, concat(...Array.from({ length: RECORDS }, (_, i) => field(2, otlpRecord(i))))),
    ),
  );
  const labels = `{${Array.from({ length: 20 }, (_, l) => `l${l}="${'v'.repeat(40)}"`).join(',')}}`;
  const entry = (i: number) => concat(field(1, new Uint8Array([8, 1])), field(2, utf8(pad(i, 800))));
  const lokiProto = field(1, concat(field(1, utf8(labels)), ...Array.from({ length: RECORDS }, (_, i) => field(2, entry(i)))));
  const lokiJson = {
    streams: [
      {
        stream: Object.fromEntries(Array.from({ length: 20 }, (_, l) => [`l${l}`, 'v'.repeat(40)])),
        values: Array.from({ length: RECORDS }, (_, i) => [String(1_700_000_000_000_000_000n + BigInt(i)), pad(i, 800)]),
      },
    ],
  };
  const big = keyValue('big', 'x'.repeat(100_000));
  return [
    { name: 'publish JSON at the limits', path: '/publish', headers: JSON_TYPE, bytes: utf8(JSON.stringify(events)), expect: 202 },
    { name: 'publish: 1.7 M empty objects', path: '/publish', headers: JSON_TYPE, bytes: utf8(`[${'{},'.repeat(1_700_000)}{}]`), expect: 413 },
    { name: 'bulk at the limits', path: '/_bulk', headers: { 'content-type': 'application/x-ndjson' }, bytes: utf8(bulk), expect: 200 },
    { name: 'OTLP JSON at the limits', path: '/v1/logs', headers: JSON_TYPE, bytes: utf8(JSON.stringify(otlpJson)), expect: 200 },
    { name: 'OTLP protobuf at the limits', path: '/v1/logs', headers: PROTOBUF, bytes: otlpProto, expect: 200 },
    {
      name: 'OTLP protobuf: 2.6 M empty records',
      path: '/v1/logs',
      headers: PROTOBUF,
      bytes: field(1, field(2, repeated(2, 2_600_000, new Uint8Array(0)))),
      expect: 413,
    },
    {
      name: 'OTLP protobuf: a 100 KB resource attribute x 5000',
      path: '/v1/logs',
      headers: PROTOBUF,
      bytes: field(1, concat(field(1, field(1, big)), field(2, repeated(2, 5000, new Uint8Array(0))))),
      expect: 413,
    },
    { name: 'Loki protobuf at the limits', path: '/loki/api/v1/push', headers: PROTOBUF, bytes: snappyCompress(lokiProto), expect: 204 },
    {
      name: 'Loki protobuf: 2.6 M empty entries',
      path: '/loki/api/v1/push',
      headers: PROTOBUF,
      bytes: snappyCompress(field(1, concat(field(1, utf8('{a="b"}')), repeated(2, 2_600_000, new Uint8Array(0))))),
      expect: 413,
    },
    { name: 'Loki JSON at the limits', path: '/loki/api/v1/push', headers: JSON_TYPE, bytes: utf8(JSON.stringify(lokiJson)), expect: 204 },
  ];
}

/** Sends `copies` of `body` to `url` at once; resolves with every answer's status. */
export function sendCopies(url: string, body: WorstCase, copies: number, timeoutMs: number): Promise<number[]> {
  return Promise.all(
    Array.from({ length: copies }, () =>
      fetch(`${url}${body.path}`, {
        method: 'POST',
        headers: body.headers,
        body: body.bytes as BodyInit,
        signal: AbortSignal.timeout(timeoutMs),
      }).then(async (r) => {
        await r.arrayBuffer();
        return r.status;
      }),
    ),
  );
}

/**
 * Seeded fuzzing of every ingest decoder (OTLP protobuf and JSON, Loki protobuf and JSON, bulk,
 * publish) against a real process: valid seed bodies are bit-flipped, truncated, spliced,
 * repeated and, for JSON, given values of the wrong type or deep nesting. For every case: no
 * 5xx, an answer within 30 s, RSS under the chart's 512 MiB, `received` unchanged by a refused
 * request and moved by exactly the accepted count of an accepted one.
 *
 * FUZZ_CASES per decoder (default 50, so a few hundred in `npm test`) and FUZZ_SEED select the
 * run; `npm run bench:hostile` runs thousands.
 */
import { describe, expect, test } from 'bun:test';
import * as snappy from 'snappyjs';
import { useReplicaProcess } from '../support/process-replica';
import protobuf from 'protobufjs';
import { ExportLogsServiceRequest, ExportLogsServiceResponse } from '../../src/ingest/otlp/schema';
import { residentMiB } from '../support/faults';
import { concat, field } from '../support/wire';

const CASES = Number(process.env.FUZZ_CASES ?? 50);
const SEED = Number(process.env.FUZZ_SEED ?? 22);
const replica = useReplicaProcess('fuzz');

/** mulberry32: small, seeded, good enough to pick mutations. */
function random(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n) };
}
type Random = ReturnType<typeof random>;

function mutateBytes(bytes: Uint8Array, r: Random): Uint8Array {
  const out = Uint8Array.from(bytes);
  switch (r.int(4)) {
    case 0: // flip bits
      for (let i = 0, n = 1 + r.int(8); i < n && out.length > 0; i++) out[r.int(out.length)]! ^= 1 << r.int(8);
      return out;
    case 1: // truncate
      return out.subarray(0, r.int(out.length + 1));
    case 2: {
      // splice random bytes in
      const at = r.int(out.length + 1);
      const junk = Uint8Array.from({ length: 1 + r.int(16) }, () => r.int(256));
      return concat(out.subarray(0, at), junk, out.subarray(at));
    }
    default: {
      // repeat a slice (absurd counts of whatever it holds)
      const start = r.int(out.length);
      const slice = out.subarray(start, start + 1 + r.int(32));
      const copies = 1 + r.int(20_000);
      const parts = [out.subarray(0, start)];
      for (let i = 0; i < copies; i++) parts.push(slice);
      return concat(...parts, out.subarray(start));
    }
  }
}

const HOSTILE_VALUES = [
  '{"toString":1}',
  '{"__isLong__":true,"toString":1}',
  'null',
  '[]',
  '{}',
  '"x"',
  '1e400',
  '-0',
  '{"__proto__":{"a":1}}',
  '"\\u0000"',
  '"\\ud800"',
];

function mutateJson(text: string, r: Random): string {
  const choice = r.int(3);
  if (choice === 0) {
    // a value of another type where a value stood
    const values = [...text.matchAll(/:("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false|null)/g)];
    const target = values[r.int(values.length)];
    if (!target) return text;
    const at = target.index! + 1;
    return text.slice(0, at) + HOSTILE_VALUES[r.int(HOSTILE_VALUES.length)] + text.slice(at + target[1]!.length);
  }
  if (choice === 1) {
    // nesting, deep or within the limit, in place of a value
    const depth = r.next() < 0.5 ? 1 + r.int(60) : 65 + r.int(20_000);
    const at = text.indexOf(':', r.int(text.length));
    if (at === -1) return text;
    const end = text.slice(at + 1).search(/[,}\]]/);
    if (end === -1) return text;
    return `${text.slice(0, at + 1)}${'['.repeat(depth)}1${']'.repeat(depth)}${text.slice(at + 1 + end)}`;
  }
  return new TextDecoder().decode(mutateBytes(new TextEncoder().encode(text), r));
}

interface Decoder {
  name: string;
  path: string;
  contentType: string;
  seed: () => Uint8Array;
  mutate: (seed: Uint8Array, r: Random) => Uint8Array;
  /** Events the answer says were accepted, from the status, the answer and the request sent. */
  accepted: (status: number, answer: Uint8Array, sent: Uint8Array) => number;
}

const utf8 = (text: string) => new TextEncoder().encode(text);
const event = (i: number) => ({
  topic: 'fuzz',
  event_id: `f-${i}`,
  timestamp: '2025-01-31T12:00:00Z',
  source: 'fuzz',
  payload: { i, big: '9007199254740993', list: [1, { a: 'b' }] },
});
const otlpObject = () => ({
  resourceLogs: [
    {
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'fuzz' } }] },
      scopeLogs: [
        {
          scope: { name: 'lib' },
          logRecords: Array.from({ length: 4 }, (_, i) => ({
            timeUnixNano: String(1_700_000_000_000_000_000n + BigInt(i)),
            severityNumber: 9,
            body: { kvlistValue: { values: [{ key: 'n', value: { intValue: String(i) } }] } },
            attributes: [{ key: 'k', value: { doubleValue: 1.5 } }],
          })),
        },
      ],
    },
  ],
});
const lokiObject = () => ({
  streams: [{ stream: { app: 'fuzz', host: 'h' }, values: [0, 1, 2].map((i) => [String(1_700_000_000_000_000_000n + BigInt(i)), `line ${i}`]) }],
});
const lokiProto = () =>
  concat(
    field(
      1,
      concat(
        field(1, utf8('{app="fuzz"}')),
        ...[0, 1, 2].map((i) => field(2, concat(field(1, new Uint8Array([8, 1 + i])), field(2, utf8(`line ${i}`))))),
      ),
    ),
  );

// The reference readers that count what a request held: protobufjs and JSON.parse, not our decoders.
const PushRequest = new protobuf.Root()
  .loadSync(new URL('../../src/ingest/loki/push.proto', import.meta.url).pathname)
  .lookupType('logproto.PushRequest');
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Entries of a Loki push (a 204 means every one was stored). */
function lokiEntries(sent: Uint8Array, json: boolean): number {
  const push = (json ? JSON.parse(text(sent)) : PushRequest.decode(snappy.uncompress(sent) as Uint8Array)) as {
    streams: { values?: unknown[]; entries?: unknown[] }[];
  };
  return push.streams.reduce((n, s) => n + (s.values ?? s.entries ?? []).length, 0);
}

/** A 204 stored every entry; a 400 names how many of the push were stored (as Loki, the valid ones). */
function lokiAccepted(status: number, answer: Uint8Array, sent: Uint8Array, json: boolean): number {
  if (status === 204) return lokiEntries(sent, json);
  return Number(/the other (\d+) were stored/.exec(text(answer))?.[1] ?? 0);
}

function otlpRecords(sent: Uint8Array, json: boolean): number {
  try {
    const request = (json ? JSON.parse(text(sent)) : ExportLogsServiceRequest.decode(sent)) as {
      resourceLogs?: { scopeLogs?: { logRecords?: unknown[] }[] }[];
    };
    let n = 0;
    for (const resource of request.resourceLogs ?? [])
      for (const scope of resource?.scopeLogs ?? []) n += Array.isArray(scope?.logRecords) ? scope.logRecords.length : 0;
    return n;
  } catch {
    return 0;
  }
}

const otlpAccepted = (json: boolean) => (status: number, answer: Uint8Array, sent: Uint8Array) => {
  if (status !== 200) return 0;
  const response = (
    json ? JSON.parse(text(answer)) : ExportLogsServiceResponse.toObject(ExportLogsServiceResponse.decode(answer), { longs: String })
  ) as {
    partialSuccess?: { rejectedLogRecords?: string };
  };
  return otlpRecords(sent, json) - Number(response.partialSuccess?.rejectedLogRecords ?? 0);
};

const DECODERS: Decoder[] = [
  {
    name: 'publish (JSON)',
    path: '/publish',
    contentType: 'application/json',
    seed: () => utf8(JSON.stringify([0, 1, 2].map(event))),
    mutate: (seed, r) => utf8(mutateJson(text(seed), r)),
    accepted: (status, answer) => (status === 202 ? (JSON.parse(text(answer)) as { accepted: number }).accepted : 0),
  },
  {
    name: 'bulk',
    path: '/_bulk',
    contentType: 'application/x-ndjson',
    seed: () => utf8([0, 1, 2].map((i) => `{"index":{"_index":"fuzz-bulk"}}\n${JSON.stringify(event(i).payload)}\n`).join('')),
    mutate: (seed, r) => utf8(mutateJson(text(seed), r)),
    accepted: (status, answer) =>
      status === 200
        ? (JSON.parse(text(answer)) as { items: Record<string, { status: number }>[] }).items.filter((item) => Object.values(item)[0]!.status === 201)
            .length
        : 0,
  },
  {
    name: 'OTLP JSON',
    path: '/v1/logs',
    contentType: 'application/json',
    seed: () => utf8(JSON.stringify(otlpObject())),
    mutate: (seed, r) => utf8(mutateJson(text(seed), r)),
    accepted: otlpAccepted(true),
  },
  {
    name: 'OTLP protobuf',
    path: '/v1/logs',
    contentType: 'application/x-protobuf',
    seed: () => ExportLogsServiceRequest.encode(ExportLogsServiceRequest.fromObject(otlpObject())).finish(),
    mutate: mutateBytes,
    accepted: otlpAccepted(false),
  },
  {
    name: 'Loki JSON',
    path: '/loki/api/v1/push',
    contentType: 'application/json',
    seed: () => utf8(JSON.stringify(lokiObject())),
    mutate: (seed, r) => utf8(mutateJson(text(seed), r)),
    accepted: (status, answer, sent) => lokiAccepted(status, answer, sent, true),
  },
  {
    name: 'Loki protobuf',
    path: '/loki/api/v1/push',
    contentType: 'application/x-protobuf',
    seed: () => snappy.compress(lokiProto()) as Uint8Array,
    // Mutated before compression (what a buggy exporter sends) or after (corrupt snappy).
    mutate: (seed, r) =>
      r.next() < 0.7 ? (snappy.compress(mutateBytes(snappy.uncompress(seed) as Uint8Array, r)) as Uint8Array) : mutateBytes(seed, r),
    accepted: (status, answer, sent) => lokiAccepted(status, answer, sent, false),
  },
];

const received = async () => ((await (await fetch(`${replica.agg.url}/stats`)).json()) as { received: number }).received;

describe(`fuzzing every decoder (${CASES} cases each, seed ${SEED})`, () => {
  for (const [d, decoder] of DECODERS.entries()) {
    test(decoder.name, async () => {
      const r = random(SEED * 100 + d);
      const seed = decoder.seed();
      const seen: Record<number, number> = {};
      // Positive control: the unmutated seed is accepted whole.
      const control = await fetch(`${replica.agg.url}${decoder.path}`, {
        method: 'POST',
        headers: { 'content-type': decoder.contentType },
        body: seed as BodyInit,
      });
      expect(control.status).toBeLessThan(300);
      await control.arrayBuffer();
      for (let i = 0; i < CASES; i++) {
        const body = decoder.mutate(seed, r);
        const before = await received();
        const response = await fetch(`${replica.agg.url}${decoder.path}`, {
          method: 'POST',
          headers: { 'content-type': decoder.contentType },
          body: body as BodyInit,
          signal: AbortSignal.timeout(30_000),
        });
        const answer = new Uint8Array(await response.arrayBuffer());
        seen[response.status] = (seen[response.status] ?? 0) + 1;
        const context = { decoder: decoder.name, case: i, status: response.status, answer: text(answer).slice(0, 300) };
        expect({ ...context, serverError: response.status >= 500 }).toEqual({ ...context, serverError: false });
        const delta = (await received()) - before;
        const expected = decoder.accepted(response.status, answer, body);
        expect({ ...context, delta }).toEqual({ ...context, delta: expected });
      }
      expect(residentMiB(replica.agg.pid)).toBeLessThan(512);
      console.log(`${decoder.name}: statuses ${JSON.stringify(seen)}`);
    }, 600_000);
  }
});

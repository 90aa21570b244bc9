/**
 * What every ingest route shares, /publish and the shipper protocols alike: Content-Encoding
 * (gzip, deflate, zstd), 415 for other encodings, the size limit on the decoded body (a zip bomb
 * is a 413 without the memory it would inflate to), and backpressure as 429 + Retry-After in
 * each protocol's own shape.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createGzip, createZstdCompress, deflateSync } from 'node:zlib';
import { type TestAggregator, makeEvents, startTestAggregator } from '../support/harness';

const MAX_BODY_BYTES = 2 * 1024 * 1024;

let agg: TestAggregator;
/** No workers and a tiny MAX_PENDING: the backlog stays over the bound once anything is stored. */
let stalled: TestAggregator;

beforeAll(async () => {
  agg = await startTestAggregator({ MAX_BODY_BYTES: String(MAX_BODY_BYTES) });
  stalled = await startTestAggregator({ WORKERS: '0', MAX_PENDING: '1' });
}, 90_000);
afterAll(async () => {
  await agg?.close();
  await stalled?.close();
}, 30_000);

const encoders: Record<string, (data: Uint8Array) => Uint8Array> = {
  gzip: (data) => Bun.gzipSync(data as Uint8Array<ArrayBuffer>),
  'x-gzip': (data) => Bun.gzipSync(data as Uint8Array<ArrayBuffer>),
  deflate: (data) => deflateSync(data), // HTTP's deflate is the zlib format (RFC 1950), not raw deflate
  zstd: (data) => Bun.zstdCompressSync(data),
};

/** A one-record body for each ingest route, and how that route says "accepted". */
const ROUTES: { name: string; path: string; type: string; body: (topic: string) => string; ok: number }[] = [
  {
    name: '/publish',
    path: '/publish',
    type: 'application/json',
    body: (topic) => JSON.stringify(makeEvents(3, 1).map((e) => ({ ...e, topic }))),
    ok: 202,
  },
  {
    name: 'OTLP',
    path: '/v1/logs',
    type: 'application/json',
    body: (topic) =>
      JSON.stringify({
        resourceLogs: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: topic } }] },
            scopeLogs: [{ logRecords: [{ timeUnixNano: '1', body: { stringValue: 'x' } }] }],
          },
        ],
      }),
    ok: 200,
  },
  {
    name: 'Loki',
    path: '/loki/api/v1/push',
    type: 'application/json',
    body: (topic) => JSON.stringify({ streams: [{ stream: { app: topic }, values: [['1', 'x']] }] }),
    ok: 204,
  },
  { name: 'bulk', path: '/_bulk', type: 'application/x-ndjson', body: (topic) => `{"index":{"_index":"${topic}"}}\n{"message":"x"}\n`, ok: 200 },
];

const post = (target: TestAggregator, path: string, body: BodyInit, headers: Record<string, string>) =>
  target.request(path, { method: 'POST', headers, body });

describe.each(ROUTES)('$name', ({ path, type, body, ok }) => {
  test.each(Object.keys(encoders))('Content-Encoding: %s is decoded', async (encoding) => {
    const before = await agg.stats();
    const response = await post(agg, path, Buffer.from(encoders[encoding]!(Buffer.from(body(`enc-${encoding}`)))), {
      'content-type': type,
      'content-encoding': encoding,
    });
    expect(response.status).toBe(ok);
    expect((await agg.stats()).received).toBeGreaterThan(before.received);
  });

  test('an unknown encoding is a 415 and corrupt gzip a 400; neither stores anything', async () => {
    const before = await agg.stats();
    const unknown = await post(agg, path, body('enc-br'), { 'content-type': type, 'content-encoding': 'br' });
    expect(unknown.status).toBe(415);
    expect(await unknown.text()).toContain('br');
    const corrupt = await post(agg, path, Buffer.from('definitely not gzip'), { 'content-type': type, 'content-encoding': 'gzip' });
    expect(corrupt.status).toBe(400);
    expect((await agg.stats()).received).toBe(before.received);
  });

  test("backpressure: 429 with Retry-After, in the route's own error shape", async () => {
    // Fill the stalled replica's inbox past MAX_PENDING, then wait for the sampled backlog to say so.
    await post(stalled, '/publish', JSON.stringify(makeEvents(5, 1, `fill-${path}`)), { 'content-type': 'application/json' });
    let response: Response;
    const deadline = Date.now() + 10_000;
    do {
      response = await post(stalled, path, body('bp'), { 'content-type': type });
      if (response.status === 429) break;
      await Bun.sleep(50);
    } while (Date.now() < deadline);
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('1');
    const answer = (await response.json()) as Record<string, any>;
    if (path === '/v1/logs') expect(answer).toMatchObject({ code: 8, message: expect.stringContaining('MAX_PENDING') });
    else if (path === '/_bulk') expect(answer).toMatchObject({ status: 429, error: { type: 'es_rejected_execution_exception' } });
    else expect(answer.error).toContain('MAX_PENDING');
  });
});

/** `size` zero bytes compressed by a streaming encoder, without ever holding them uncompressed. */
async function bomb(encoder: ReturnType<typeof createGzip>, size: number): Promise<Uint8Array<ArrayBuffer>> {
  const parts: Buffer[] = [];
  encoder.on('data', (chunk: Buffer) => parts.push(chunk));
  const done = new Promise((resolve) => encoder.on('end', resolve));
  const zeros = Buffer.alloc(1024 * 1024);
  for (let written = 0; written < size; written += zeros.length) {
    if (!encoder.write(zeros)) await new Promise((resolve) => encoder.once('drain', resolve));
  }
  encoder.end();
  await done;
  return new Uint8Array(Buffer.concat(parts));
}

describe('zip bombs', () => {
  test.each([
    ['gzip', () => bomb(createGzip({ level: 9 }), 256 * 1024 * 1024)],
    ['zstd', () => bomb(createZstdCompress() as unknown as ReturnType<typeof createGzip>, 1024 * 1024 * 1024)],
  ])(
    '%s: a small body that inflates far past MAX_BODY_BYTES is a 413 without the memory it inflates to',
    async (encoding, make) => {
      const compressed = await make();
      expect(compressed.length).toBeLessThan(MAX_BODY_BYTES); // it passes the limit on the wire
      Bun.gc(true);
      const before = process.memoryUsage().rss;
      for (const { path, type } of ROUTES) {
        const response = await post(agg, path, compressed, { 'content-type': type, 'content-encoding': encoding });
        expect(response.status).toBe(413);
        expect(await response.text()).toContain('MAX_BODY_BYTES');
      }
      // Inflated, one body would be 256 MiB or 1 GiB; reading stops at MAX_BODY_BYTES (+ one chunk).
      expect(process.memoryUsage().rss - before).toBeLessThan(128 * 1024 * 1024);
    },
    60_000,
  );
});

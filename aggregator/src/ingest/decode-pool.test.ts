import { describe, expect, test } from 'bun:test';
import { type BodyChunks, joinChunks } from '../api/decompress';
import { loadConfig } from '../config';
import { ValidationError } from '../errors';
import type { IngestLimits } from './decode-budget';
import { DecodePool, WORKER_MIN_BYTES } from './decode-pool';
import { prepareBody } from './prepare';

/** The defaults (MAX_BODY_BYTES, MAX_BATCH, the decode budget). */
const limits: IngestLimits = loadConfig({});

/** NDJSON of `count` events of ~1 KiB, cut into chunks of `size` bytes; every other chunk is a view into a larger buffer. */
function chunkedBody(count: number, size: number): BodyChunks {
  const text = Array.from({ length: count }, (_, i) =>
    JSON.stringify({ topic: `t${i % 7}`, event_id: `e-${i}`, timestamp: '2025-01-31T12:00:00Z', source: 's', payload: { i, pad: 'é'.repeat(500) } }),
  ).join('\n');
  const bytes = new TextEncoder().encode(text);
  const chunks: Uint8Array[] = [];
  for (let at = 0, k = 0; at < bytes.length; at += size, k++) {
    const piece = bytes.slice(at, at + size);
    if (k % 2 === 0) chunks.push(piece);
    else {
      const larger = new Uint8Array(piece.length + 16);
      larger.set(piece, 8);
      chunks.push(larger.subarray(8, 8 + piece.length));
    }
  }
  return { chunks, length: bytes.length };
}

const copyOf = (body: BodyChunks): BodyChunks => ({ chunks: body.chunks.map((chunk) => chunk.slice()), length: body.length });

describe('DecodePool', () => {
  test('a large body sent in chunks is joined in the worker and prepared as it would be inline', async () => {
    const body = chunkedBody(600, 64 * 1024);
    expect(body.length).toBeGreaterThan(WORKER_MIN_BYTES); // the worker path, not the inline one
    expect(body.chunks.length).toBeGreaterThan(4);
    const expected = prepareBody({ route: 'publish', format: 'ndjson' }, joinChunks(copyOf(body)), limits);
    const prepared = await new DecodePool(limits).prepare({ route: 'publish', format: 'ndjson' }, body);
    expect(prepared.rows.count).toBe(600);
    expect(prepared.rows).toEqual(expected.rows);
    // Whole chunks were transferred to the worker (detached here); views into larger buffers copied.
    expect(body.chunks[0]!.byteLength).toBe(0);
    expect(body.chunks[1]!.byteLength).toBeGreaterThan(0);
  }, 120_000);

  test("the worker's refusal keeps its class and message", async () => {
    const body = chunkedBody(600, 64 * 1024);
    body.chunks[3] = new Uint8Array(body.chunks[3]!.length).fill(0xff); // invalid UTF-8 mid-body
    await expect(new DecodePool(limits).prepare({ route: 'publish', format: 'ndjson' }, body)).rejects.toBeInstanceOf(ValidationError);
  }, 120_000);
});

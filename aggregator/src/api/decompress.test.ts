import { describe, expect, test } from 'bun:test';
import { PayloadTooLarge, UnsupportedMediaType, ValidationError } from '../errors';
import { decodersFor, readBodyBytes } from './decompress';

const post = (body: BodyInit | Uint8Array, encoding?: string) =>
  new Request('http://x/', { method: 'POST', body: body as BodyInit, headers: encoding ? { 'content-encoding': encoding } : {} });

describe('decodersFor', () => {
  test('identity and no header decode nothing; stacked encodings are undone last-first', () => {
    expect(decodersFor(null)).toEqual([]);
    expect(decodersFor('identity')).toEqual([]);
    expect(decodersFor('gzip, zstd')).toEqual(['zstd', 'gzip']);
    expect(decodersFor('X-GZIP')).toEqual(['gzip']);
  });
  test('an encoding we do not take is a 415 naming it', () => {
    expect(() => decodersFor('br')).toThrow(UnsupportedMediaType);
    expect(() => decodersFor('gzip, compress')).toThrow(/"compress"/);
  });
});

describe('readBodyBytes', () => {
  test('decodes gzip and zstd, including both stacked', async () => {
    const text = 'hello '.repeat(1000);
    expect(new TextDecoder().decode(await readBodyBytes(post(Bun.gzipSync(text), 'gzip'), { maxBodyBytes: 10_000, bodyReadTimeoutMs: 10_000 }))).toBe(
      text,
    );
    expect(
      new TextDecoder().decode(await readBodyBytes(post(Bun.zstdCompressSync(text), 'zstd'), { maxBodyBytes: 10_000, bodyReadTimeoutMs: 10_000 })),
    ).toBe(text);
    const stacked = Bun.zstdCompressSync(Bun.gzipSync(text));
    expect(new TextDecoder().decode(await readBodyBytes(post(stacked, 'gzip, zstd'), { maxBodyBytes: 10_000, bodyReadTimeoutMs: 10_000 }))).toBe(
      text,
    );
  });
  test('the limit counts decoded bytes: a small body inflating past it is a 413', async () => {
    const compressed = Bun.gzipSync(new Uint8Array(1_000_000));
    expect(compressed.length).toBeLessThan(10_000);
    await expect(readBodyBytes(post(compressed, 'gzip'), { maxBodyBytes: 100_000, bodyReadTimeoutMs: 10_000 })).rejects.toBeInstanceOf(
      PayloadTooLarge,
    );
  });
  test('corrupt compressed data is a 400', async () => {
    await expect(readBodyBytes(post('not gzip at all', 'gzip'), { maxBodyBytes: 10_000, bodyReadTimeoutMs: 10_000 })).rejects.toBeInstanceOf(
      ValidationError,
    );
  });
});

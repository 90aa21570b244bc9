/**
 * Reads a request body, decoding Content-Encoding (gzip, deflate, zstd) as it streams, and never
 * holds more than `maxBytes` of it: the limit counts the decoded bytes, so a zip bomb (1 KiB that
 * inflates to gigabytes) ends in a 413 after at most `maxBytes` plus one 64 KiB chunk, never an
 * out-of-memory. The compressed body is bounded by the same limit (it cannot be larger than what
 * it decodes to for any body worth sending).
 *
 * DecompressionStream yields 64 KiB chunks lazily as they are read (measured under Bun 1.4:
 * reading 10 MiB of a 1 GiB gzip bomb then cancelling grew RSS by ~10 MB), which is what makes
 * the counter a real bound rather than a check after the fact.
 */
import { setImmediate } from 'node:timers/promises';
import type { Config } from '../config';
import { AppError, PayloadTooLarge, RequestTimeout, UnsupportedMediaType, ValidationError } from '../errors';

/** What bounds one body read: its decoded size and how long it may take to arrive. */
export type BodyLimits = Pick<Config, 'maxBodyBytes' | 'bodyReadTimeoutMs'>;

/** Content-Encoding tokens we decode, mapped to the DecompressionStream format. */
const ENCODINGS: Record<string, CompressionFormat | 'zstd' | null> = {
  identity: null,
  gzip: 'gzip',
  'x-gzip': 'gzip',
  deflate: 'deflate',
  zstd: 'zstd',
};

/** The accepted Content-Encoding values, for error messages and docs. */
export const ACCEPTED_ENCODINGS = Object.keys(ENCODINGS);

/** The decoding chain for a Content-Encoding header (applied in the order listed); 415 when unknown. */
export function decodersFor(header: string | null): (CompressionFormat | 'zstd')[] {
  if (header === null || header.trim() === '') return [];
  const formats: (CompressionFormat | 'zstd')[] = [];
  for (const token of header.split(',')) {
    const name = token.trim().toLowerCase();
    if (!(name in ENCODINGS)) {
      throw new UnsupportedMediaType(`unsupported content encoding ${JSON.stringify(name)}: send one of ${ACCEPTED_ENCODINGS.join(', ')}`);
    }
    const format = ENCODINGS[name];
    if (format) formats.push(format);
  }
  // Encodings are listed in the order they were applied; undo them last-first.
  return formats.reverse();
}

/**
 * A body as it arrived, in chunks, not joined: joining 5 MiB into one buffer is 15-25 ms of CPU
 * (page faults of fresh memory, measured on the loaded 2-core machine), and for a large body the
 * decode worker does it, off the event loop (ingest/decode-pool.ts). No chunk is empty.
 */
export interface BodyChunks {
  chunks: Uint8Array[];
  length: number;
}

/** The chunks as one buffer (the chunk itself when there is one). */
export function joinChunks({ chunks, length }: BodyChunks): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  if (chunks.length === 0) return new Uint8Array(0);
  return Buffer.concat(chunks, length);
}

/** The first `count` bytes of a body (fewer when it is shorter), without joining the rest. */
export function bodyHead({ chunks }: BodyChunks, count: number): Uint8Array {
  if (chunks.length === 0 || chunks[0]!.length >= count) return chunks[0]?.subarray(0, count) ?? new Uint8Array(0);
  const head: number[] = [];
  for (const chunk of chunks) {
    for (const byte of chunk) {
      if (head.length === count) return Uint8Array.from(head);
      head.push(byte);
    }
  }
  return Uint8Array.from(head);
}

/** The decoded body bytes as one buffer; see readBodyChunks. */
export async function readBodyBytes(request: Request, limits: BodyLimits): Promise<Uint8Array> {
  return joinChunks(await readBodyChunks(request, limits));
}

/**
 * The decoded body in chunks. Throws PayloadTooLarge past `maxBodyBytes` (decoded), RequestTimeout
 * when the whole body has not arrived within `bodyReadTimeoutMs` (a client trickling a byte a
 * second holds a socket and a buffer forever otherwise: Bun's idle timeout resets on every
 * byte), UnsupportedMediaType for an unknown encoding and ValidationError when the compressed
 * data is corrupt or the HTTP layer refused the request after its body (see below).
 */
export async function readBodyChunks(request: Request, { maxBodyBytes: maxBytes, bodyReadTimeoutMs }: BodyLimits): Promise<BodyChunks> {
  const tooLarge = () => new PayloadTooLarge(`request body exceeds MAX_BODY_BYTES (${maxBytes} bytes, after decompression)`);
  const decoders = decodersFor(request.headers.get('content-encoding'));
  const declared = Number(request.headers.get('content-length') ?? Number.NaN);
  if (declared > maxBytes) throw tooLarge();
  if (request.body === null) return { chunks: [], length: 0 };

  let stream = request.body as ReadableStream<Uint8Array>;
  for (const format of decoders) {
    stream = stream.pipeThrough(new DecompressionStream(format as CompressionFormat) as unknown as ReadableWritablePair<Uint8Array, Uint8Array>);
  }

  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = stream.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new RequestTimeout(`request body not received within BODY_READ_TIMEOUT_MS (${bodyReadTimeoutMs} ms)`)),
      bodyReadTimeoutMs,
    );
  });
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), expired]);
      if (done) break;
      if (value.byteLength === 0) continue;
      size += value.byteLength;
      if (size > maxBytes) throw tooLarge();
      chunks.push(value);
    }
  } catch (error) {
    await reader.cancel().catch(() => {});
    if (error instanceof AppError) throw error;
    if (decoders.length > 0) {
      throw new ValidationError(`request body is not valid ${request.headers.get('content-encoding')} data`, [
        { index: null, field: null, message: (error as Error).message },
      ]);
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
  await refusedAfterBody(request);
  return { chunks, length: size };
}

/**
 * Bun 1.4 ends a chunked body at the last chunk (`0\r\n`) and only then parses the trailer
 * section: a trailer field makes it answer `400 Bad Request` itself and abort the request
 * (oven-sh/bun#32887). Had the handler committed meanwhile, the client would be told nothing
 * was stored although it was. A trailer sent with the last chunk is parsed within the same
 * turn of the event loop, so one turn later the abort is visible and the request is refused
 * before anything is stored. (A trailer held back by the client until after the commit is
 * answered after our 2xx, which the client reads first.)
 */
async function refusedAfterBody(request: Request): Promise<void> {
  if (request.headers.get('transfer-encoding') === null) return;
  await setImmediate();
  if (request.signal.aborted) {
    throw new ValidationError('the HTTP layer refused the request after its body (a chunked trailer section?); nothing was stored');
  }
}

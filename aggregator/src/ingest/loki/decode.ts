import protobuf from 'protobufjs';
import * as snappy from 'snappyjs';
import { mediaTypeOf } from '../../api/media-type';
import { PayloadTooLarge, UnsupportedMediaType, ValidationError } from '../../errors';
import { decodeUtf8, parseJsonBody } from '../../api/body';
import { type BodyChunks, bodyHead } from '../../api/decompress';
import type { DecodeBudget } from '../decode-budget';
import { scanJson } from '../json-scan';
import { type WireMessage, scanProtobuf } from '../protobuf-scan';
import { parseLabels } from './labels';

/** One stream of a push: its labels and its entries (time as decimal Unix nanoseconds). */
export interface LokiStream {
  labels: Record<string, string>;
  entries: LokiEntry[];
}

export interface LokiEntry {
  nanos: string;
  line: string;
  metadata?: Record<string, string>;
}

export type LokiEncoding = 'json' | 'protobuf';

const protoRoot = new protobuf.Root().loadSync(new URL('./push.proto', import.meta.url).pathname);
const PushRequest = protoRoot.lookupType('logproto.PushRequest');

/** Loki reads JSON when told so and protobuf otherwise; a non-JSON, non-protobuf type is a 415. */
export function lokiEncoding(contentType: string | null): LokiEncoding {
  const mediaType = mediaTypeOf(contentType);
  if (mediaType === 'application/json') return 'json';
  if (mediaType === '' || mediaType === 'application/x-protobuf' || mediaType === 'application/protobuf') return 'protobuf';
  throw new UnsupportedMediaType(`unsupported content type ${JSON.stringify(mediaType)}: send application/json or application/x-protobuf (snappy)`);
}

const invalid = (message: string, cause?: unknown) =>
  new ValidationError(message, cause === undefined ? [] : [{ index: null, field: null, message: (cause as Error).message ?? String(cause) }]);

const isStringMap = (value: unknown): value is Record<string, string> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');

export interface DecodedPush {
  streams: LokiStream[];
  /** The JSON text, for the JSON encoding (validation skips its string walk when it can). */
  text?: string;
}

// push.proto as the decode budget sees it: entries are records, a stream's labels are copied
// into each of its entries' payloads, structured metadata pairs are items.
const ENTRY: WireMessage = { 3: { kind: 'item' } };
const STREAM: WireMessage = { 1: { kind: 'shared' }, 2: { kind: 'record', message: () => ENTRY } };
const PUSH: WireMessage = { 1: { kind: 'item', message: () => STREAM } };

/**
 * The streams of a push; `maxBytes` bounds the snappy-decoded size too. Throws
 * PayloadTooLarge, before building entries, when the push would overrun the decode budget.
 */
export function decodeLoki(bytes: Uint8Array, encoding: LokiEncoding, maxBytes: number, budget: DecodeBudget): DecodedPush {
  if (encoding === 'protobuf') return { streams: decodeProtobuf(bytes, maxBytes, budget) };
  const text = decodeUtf8(bytes);
  return { streams: decodeJson(text, budget), text };
}

/**
 * What a push decodes to, before decoding it: a snappy block starts with its uncompressed
 * length (a varint), capped here at `maxBytes` as the decoder caps it.
 */
export function decodedSize(body: BodyChunks, encoding: LokiEncoding, maxBytes: number): number {
  if (encoding === 'json') return body.length;
  const bytes = bodyHead(body, 5);
  let length = 0;
  for (let i = 0, scale = 1; i < 5 && i < bytes.length; i++, scale *= 128) {
    length += (bytes[i]! & 0x7f) * scale;
    if (bytes[i]! < 0x80) break;
  }
  return Math.min(Math.max(length, body.length), maxBytes);
}

function decodeJson(text: string, budget: DecodeBudget): LokiStream[] {
  scanJson(text, budget);
  const value = parseJsonBody(text, 'Loki JSON push body');
  const streams = (value as { streams?: unknown } | null)?.streams;
  if (!Array.isArray(streams)) throw invalid('Loki push body must be {"streams": [...]}');
  countJsonEntries(streams, budget, text.length);
  return streams.map((stream: unknown, s) => {
    const { stream: labels, values } = (stream ?? {}) as { stream?: unknown; values?: unknown };
    if (!isStringMap(labels)) throw invalid(`streams[${s}].stream must be an object of string labels`);
    if (!Array.isArray(values)) throw invalid(`streams[${s}].values must be an array`);
    const entries = values.map((entry: unknown, e): LokiEntry => {
      const [nanos, line, metadata] = Array.isArray(entry) ? entry : [];
      if (typeof nanos !== 'string' || !/^\d{1,19}$/.test(nanos) || typeof line !== 'string') {
        throw invalid(`streams[${s}].values[${e}] must be ["<unix nanoseconds as text>", "<line>", {metadata}?]`);
      }
      if (metadata !== undefined && !isStringMap(metadata)) throw invalid(`streams[${s}].values[${e}][2] must be an object of strings`);
      return metadata === undefined || Object.keys(metadata).length === 0 ? { nanos, line } : { nanos, line, metadata };
    });
    return { labels, entries };
  });
}

/** Entries and fan-out of a parsed JSON push, before mapping: each stream's labels count once per entry. */
function countJsonEntries(streams: unknown[], budget: DecodeBudget, bodyBytes: number): void {
  budget.payload(bodyBytes);
  for (const stream of streams) {
    const { stream: labels, values } = (typeof stream === 'object' && stream !== null ? stream : {}) as Record<string, unknown>;
    if (!Array.isArray(values)) continue;
    budget.record(values.length);
    if (typeof labels === 'object' && labels !== null) budget.payload((JSON.stringify(labels)?.length ?? 0) * values.length);
  }
}

interface ProtoPush {
  streams?: {
    labels?: string;
    entries?: { timestamp?: { seconds?: string; nanos?: number }; line?: string; structuredMetadata?: { name?: string; value?: string }[] }[];
  }[];
}

function decodeProtobuf(bytes: Uint8Array, maxBytes: number, budget: DecodeBudget): LokiStream[] {
  let raw: Uint8Array;
  try {
    raw = snappy.uncompress(bytes, maxBytes);
  } catch (error) {
    // snappyjs reads the declared length first and refuses before allocating.
    if (/too big/.test((error as Error).message)) throw new PayloadTooLarge(`snappy-decoded push exceeds MAX_BODY_BYTES (${maxBytes} bytes)`);
    throw invalid('Loki protobuf push body is not snappy-compressed data', error);
  }
  scanProtobuf(raw, PUSH, budget, budget.limits.maxJsonDepth);
  let push: ProtoPush;
  try {
    push = PushRequest.toObject(PushRequest.decode(raw), { longs: String, defaults: false }) as ProtoPush;
  } catch (error) {
    throw invalid('malformed Loki protobuf PushRequest', error);
  }
  return (push.streams ?? []).map((stream, s) => {
    let labels: Record<string, string>;
    try {
      labels = parseLabels(stream.labels ?? '');
    } catch (error) {
      throw invalid(`streams[${s}].labels`, error);
    }
    const entries = (stream.entries ?? []).map((entry): LokiEntry => {
      const nanos = (BigInt(entry.timestamp?.seconds ?? '0') * 1_000_000_000n + BigInt(entry.timestamp?.nanos ?? 0)).toString();
      const pairs = entry.structuredMetadata ?? [];
      const line = entry.line ?? '';
      if (pairs.length === 0) return { nanos, line };
      return { nanos, line, metadata: Object.fromEntries(pairs.map((p) => [p.name ?? '', p.value ?? ''])) };
    });
    return { labels, entries };
  });
}

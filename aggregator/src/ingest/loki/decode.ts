import protobuf from 'protobufjs';
import * as snappy from 'snappyjs';
import { PayloadTooLarge, UnsupportedMediaType, ValidationError } from '../../errors';
import { decodeUtf8 } from '../body';
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
  const mediaType = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
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

/** The streams of a push; `maxBytes` bounds the snappy-decoded size too. */
export function decodeLoki(bytes: Uint8Array, encoding: LokiEncoding, maxBytes: number): DecodedPush {
  if (encoding === 'protobuf') return { streams: decodeProtobuf(bytes, maxBytes) };
  const text = decodeUtf8(bytes);
  return { streams: decodeJson(text), text };
}

function decodeJson(text: string): LokiStream[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw invalid('malformed Loki JSON push body', error);
  }
  const streams = (value as { streams?: unknown } | null)?.streams;
  if (!Array.isArray(streams)) throw invalid('Loki push body must be {"streams": [...]}');
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

interface ProtoPush {
  streams?: {
    labels?: string;
    entries?: { timestamp?: { seconds?: string; nanos?: number }; line?: string; structuredMetadata?: { name?: string; value?: string }[] }[];
  }[];
}

function decodeProtobuf(bytes: Uint8Array, maxBytes: number): LokiStream[] {
  let raw: Uint8Array;
  try {
    raw = snappy.uncompress(bytes, maxBytes);
  } catch (error) {
    // snappyjs reads the declared length first and refuses before allocating.
    if (/too big/.test((error as Error).message)) throw new PayloadTooLarge(`snappy-decoded push exceeds MAX_BODY_BYTES (${maxBytes} bytes)`);
    throw invalid('Loki protobuf push body is not snappy-compressed data', error);
  }
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

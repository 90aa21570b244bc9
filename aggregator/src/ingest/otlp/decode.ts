/** Decodes an ExportLogsServiceRequest body in either OTLP/HTTP encoding. Pure. */
import { UnsupportedMediaType, ValidationError } from '../../errors';
import { decodeUtf8 } from '../body';
import { ExportLogsServiceRequest, type OtlpRequest } from './schema';

export type OtlpEncoding = 'protobuf' | 'json';

/** The encoding named by Content-Type; OTLP/HTTP defines exactly these two. */
export function otlpEncoding(contentType: string | null): OtlpEncoding {
  const mediaType = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (mediaType === 'application/x-protobuf' || mediaType === 'application/protobuf') return 'protobuf';
  if (mediaType === 'application/json') return 'json';
  throw new UnsupportedMediaType(`unsupported content type ${JSON.stringify(mediaType)}: send application/x-protobuf or application/json`);
}

export interface DecodedOtlp {
  request: OtlpRequest;
  /** The JSON text, for the JSON encoding (validation skips its string walk when it can). */
  text?: string;
}

/** The request as plain objects (see schema.ts); throws ValidationError when it cannot be decoded. */
export function decodeOtlp(bytes: Uint8Array, encoding: OtlpEncoding): DecodedOtlp {
  if (encoding === 'protobuf') {
    try {
      // The decoded message as it is: toObject() would cost ~7x the decode (measured 390 vs
      // 53 us per 50 records). map.ts reads set fields as own properties and 64-bit integers
      // as Long objects, whose toString keeps every digit.
      return { request: ExportLogsServiceRequest.decode(bytes) as unknown as OtlpRequest };
    } catch (error) {
      throw new ValidationError('malformed OTLP protobuf body', [{ index: null, field: null, message: (error as Error).message }]);
    }
  }
  let value: unknown;
  let text: string;
  try {
    text = decodeUtf8(bytes);
    value = JSON.parse(text);
  } catch (error) {
    if (error instanceof ValidationError) throw error;
    throw new ValidationError('malformed OTLP JSON body', [{ index: null, field: null, message: (error as Error).message }]);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ValidationError('OTLP JSON body must be an ExportLogsServiceRequest object');
  }
  const { resourceLogs } = value as { resourceLogs?: unknown };
  if (resourceLogs !== undefined && !Array.isArray(resourceLogs)) {
    throw new ValidationError('OTLP JSON body: resourceLogs must be an array', [
      { index: null, field: 'resourceLogs', message: 'expected an array' },
    ]);
  }
  return { request: value as OtlpRequest, text };
}

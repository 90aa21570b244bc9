/**
 * OTLP/HTTP answers, in the encoding of the request as the specification requires: an
 * ExportLogsServiceResponse on success (with partial_success when records were rejected), and a
 * google.rpc.Status for every 4xx/5xx. Retryable refusals (429, 503) keep their Retry-After so
 * exporters back off; the other 4xx are permanent and exporters drop the batch.
 */
import type { AppError, Detail } from '../../errors';
import type { OtlpEncoding } from './decode';
import { ExportLogsServiceResponse, Status } from './schema';

const CONTENT_TYPE: Record<OtlpEncoding, string> = { protobuf: 'application/x-protobuf', json: 'application/json' };

// gRPC status codes, which OTLP/HTTP's Status carries.
const GRPC_CODE: Record<number, number> = { 400: 3, 401: 16, 403: 7, 413: 8, 415: 3, 429: 8, 503: 14 };

/** Problems as one line each, at most 10 of them (the Status has no structured details of ours). */
function describe(details: readonly Detail[]): string {
  const lines = details.slice(0, 10).map((d) => `record ${d.index ?? '-'}${d.field ? ` ${d.field}` : ''}: ${d.message}`);
  if (details.length > 10) lines.push(`... ${details.length - 10} more`);
  return lines.join('; ');
}

/** 200 with an ExportLogsServiceResponse; partial_success only when something was rejected. */
export function otlpSuccess(encoding: OtlpEncoding, rejected: Map<number, Detail[]>): Response {
  const response: Record<string, unknown> = {};
  if (rejected.size > 0) {
    const details = [...rejected.values()].flat();
    response.partialSuccess = {
      rejectedLogRecords: String(rejected.size),
      errorMessage: `${rejected.size} log records rejected: ${describe(details)}`,
    };
  }
  const body =
    encoding === 'json'
      ? JSON.stringify(response)
      : Buffer.from(ExportLogsServiceResponse.encode(ExportLogsServiceResponse.fromObject(response)).finish());
  return new Response(body, { status: 200, headers: { 'content-type': CONTENT_TYPE[encoding] } });
}

/** An AppError as a google.rpc.Status in the request's encoding, keeping status and Retry-After. */
export function otlpFailure(error: AppError, encoding: OtlpEncoding): Response {
  const message = error.details && error.details.length > 0 ? `${error.message}: ${describe(error.details)}` : error.message;
  const status = { code: GRPC_CODE[error.status] ?? 2, message };
  const body = encoding === 'json' ? JSON.stringify(status) : Buffer.from(Status.encode(Status.fromObject(status)).finish());
  const headers: Record<string, string> = { 'content-type': CONTENT_TYPE[encoding] };
  if (error.retryAfter !== undefined) headers['retry-after'] = String(error.retryAfter);
  return new Response(body, { status: error.status, headers });
}

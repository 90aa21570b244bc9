/** POST /v1/logs: OTLP/HTTP logs, protobuf or JSON. */
import { Elysia } from 'elysia';
import type { AppError } from '../../errors';
import type { Acceptor } from '../accept';
import type { IngestLimits } from '../decode-budget';
import { readBodyChunks } from '../../api/decompress';
import { answeringIn } from '../protocol-errors';
import { topicOverride } from '../record-mapping';
import { type OtlpEncoding, otlpEncoding } from './decode';
import { otlpFailure, otlpSuccess } from './respond';

export interface OtlpRouteOptions {
  limits: IngestLimits;
  defaultTopic: string;
}

interface OtlpContext {
  request: Request;
  query: Record<string, string | undefined>;
}

/** A refusal as a Status in the request's encoding; JSON when Content-Type names neither (415), as OTLP allows. */
function otlpRefusal(error: AppError, { request }: OtlpContext): Response {
  let encoding: OtlpEncoding = 'json';
  try {
    encoding = otlpEncoding(request.headers.get('content-type'));
  } catch {
    // Neither encoding: this refusal is that 415.
  }
  return otlpFailure(error, encoding);
}

export function otlpRoutes(acceptor: Acceptor, { limits, defaultTopic }: OtlpRouteOptions) {
  return new Elysia({ name: 'ingest-otlp' }).post(
    '/v1/logs',
    answeringIn(otlpRefusal, async ({ request, query }: OtlpContext) => {
      const encoding = otlpEncoding(request.headers.get('content-type'));
      acceptor.admit();
      const override = topicOverride(request, query);
      const body = await readBodyChunks(request, limits);
      const { rejected } = await acceptor.ingest(body, { route: 'otlp', encoding, topicOverride: override, defaultTopic });
      return otlpSuccess(encoding, rejected);
    }),
    {
      parse: 'none',
      detail: {
        summary: 'OTLP/HTTP logs (ExportLogsServiceRequest, protobuf or JSON)',
        description:
          'Each log record becomes one event (mapping in docs/SHIPPERS.md). Answers ExportLogsServiceResponse in the request encoding, ' +
          'with partial_success for rejected records; errors are google.rpc.Status; 429/503 carry Retry-After. ' +
          'Topic override: ?topic= or X-Logbus-Topic.',
      },
    },
  );
}

/** POST /v1/logs: OTLP/HTTP logs, protobuf or JSON. */
import { Elysia } from 'elysia';
import { AppError, fromDatabaseError } from '../../errors';
import type { Acceptor } from '../accept';
import type { IngestLimits } from '../decode-budget';
import { readBodyBytes } from '../decompress';
import { topicOverride } from '../record-mapping';
import { type OtlpEncoding, otlpEncoding } from './decode';
import { otlpFailure, otlpSuccess } from './respond';

export interface OtlpRouteOptions {
  limits: IngestLimits;
  defaultTopic: string;
}

export function otlpRoutes(acceptor: Acceptor, { limits, defaultTopic }: OtlpRouteOptions) {
  return new Elysia({ name: 'ingest-otlp' }).post(
    '/v1/logs',
    async ({ request, query }) => {
      // Errors before the encoding is known (415) are answered in JSON, as OTLP allows.
      let encoding: OtlpEncoding = 'json';
      try {
        encoding = otlpEncoding(request.headers.get('content-type'));
        acceptor.admit();
        const override = topicOverride(request, query);
        const body = await readBodyBytes(request, limits);
        const { rejected } = await acceptor.ingest(body, { route: 'otlp', encoding, topicOverride: override, defaultTopic });
        return otlpSuccess(encoding, rejected);
      } catch (error) {
        const mapped = fromDatabaseError(error);
        if (mapped instanceof AppError) return otlpFailure(mapped, encoding);
        throw mapped;
      }
    },
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

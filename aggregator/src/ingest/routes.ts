/** POST /publish */
import { Elysia } from 'elysia';
import { jsonContent } from '../api/openapi';
import { ErrorBody, PublishAccepted, PublishBody } from '../api/contract';
import type { Acceptor } from './accept';
import { readBodyChunks } from '../api/decompress';
import type { IngestLimits } from './decode-budget';
import { bodyFormat } from './parse';

export function ingestRoutes(acceptor: Acceptor, limits: IngestLimits) {
  return new Elysia({ name: 'ingest' }).post(
    '/publish',
    async ({ request, set }) => {
      acceptor.admit();
      const format = bodyFormat(request.headers.get('content-type'));
      const body = await readBodyChunks(request, limits);
      const { accepted } = await acceptor.ingest(body, { route: 'publish', format });
      set.status = 202;
      return { accepted };
    },
    {
      parse: 'none',
      detail: {
        summary: 'Publish one event or a batch',
        description: 'Atomic: either every event is durably enqueued (202) or none is.',
        requestBody: {
          required: true,
          content: { ...jsonContent(PublishBody), 'application/x-ndjson': { schema: { type: 'string', description: 'One Event per line.' } } },
        },
        responses: {
          202: { description: 'Durably enqueued', content: jsonContent(PublishAccepted) },
          400: { description: 'Malformed or invalid; nothing stored', content: jsonContent(ErrorBody) },
          401: { description: 'Missing or wrong bearer token', content: jsonContent(ErrorBody) },
          413: { description: 'Body over MAX_BODY_BYTES (after decompression) or batch over MAX_BATCH', content: jsonContent(ErrorBody) },
          415: {
            description: 'Content type other than JSON or NDJSON, or a Content-Encoding other than gzip, deflate or zstd',
            content: jsonContent(ErrorBody),
          },
          429: { description: 'Backlog over MAX_PENDING; honour Retry-After', content: jsonContent(ErrorBody) },
          503: { description: 'Storage unavailable or replica draining; honour Retry-After', content: jsonContent(ErrorBody) },
        },
      },
    },
  );
}

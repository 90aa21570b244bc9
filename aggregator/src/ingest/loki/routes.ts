/** POST /loki/api/v1/push: the Loki push API, JSON or snappy-compressed protobuf. */
import { Elysia } from 'elysia';
import { ValidationError } from '../../errors';
import type { Acceptor } from '../accept';
import type { IngestLimits } from '../decode-budget';
import { readBodyChunks } from '../../api/decompress';
import { topicOverride } from '../record-mapping';
import { decodedSize, lokiEncoding } from './decode';

export interface LokiRouteOptions {
  limits: IngestLimits;
  topicLabels: readonly string[];
  defaultTopic: string;
}

export function lokiRoutes(acceptor: Acceptor, { limits, topicLabels, defaultTopic }: LokiRouteOptions) {
  return new Elysia({ name: 'ingest-loki' }).post(
    '/loki/api/v1/push',
    async ({ request, query }) => {
      const encoding = lokiEncoding(request.headers.get('content-type'));
      acceptor.admit();
      const override = topicOverride(request, query);
      const body = await readBodyChunks(request, limits);
      const { accepted, rejected, candidates } = await acceptor.ingest(
        body,
        { route: 'loki', encoding, topicOverride: override, topicLabels, defaultTopic },
        decodedSize(body, encoding, limits.maxBodyBytes),
      );
      if (rejected.size > 0) {
        // Like Loki: the valid entries are stored and the push is answered 400 (not retried).
        throw new ValidationError(
          `${rejected.size} of ${candidates} entries rejected; the other ${accepted} were stored`,
          [...rejected.values()].flat().slice(0, 100),
        );
      }
      return new Response(null, { status: 204 });
    },
    {
      parse: 'none',
      detail: {
        summary: 'Loki push API (JSON or snappy-compressed protobuf PushRequest)',
        description:
          'Each entry becomes one event (mapping in docs/SHIPPERS.md); answers 204 like Loki. Entries that fail validation are ' +
          'reported in a 400 while the others are stored. Topic: the first of LOKI_TOPIC_LABELS present, or ?topic= / X-Logbus-Topic.',
      },
    },
  );
}

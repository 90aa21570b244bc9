/** POST|PUT /_bulk and /{index}/_bulk: the Elasticsearch bulk API, index and create actions. */
import { Elysia } from 'elysia';
import { mediaTypeOf } from '../../api/media-type';
import { UnsupportedMediaType } from '../../errors';
import type { Acceptor } from '../accept';
import { readBodyChunks } from '../../api/decompress';
import type { IngestLimits } from '../decode-budget';
import { answeringIn } from '../protocol-errors';
import { topicOverride } from '../record-mapping';
import { bulkResponse, elasticFailure } from './respond';

/** Clients send x-ndjson (or the vendored +x-ndjson / +json of the 8.x/9.x clients); a missing type is read as NDJSON. */
function checkContentType(contentType: string | null): void {
  const mediaType = mediaTypeOf(contentType);
  if (mediaType === '' || /^application\/(?:(?:vnd\.elasticsearch\+)?x-ndjson|(?:vnd\.elasticsearch\+)?json)$/.test(mediaType)) return;
  throw new UnsupportedMediaType(`unsupported content type ${JSON.stringify(mediaType)}: send application/x-ndjson`);
}

export function elasticRoutes(acceptor: Acceptor, limits: IngestLimits) {
  const handle = answeringIn(
    (error) => elasticFailure(error),
    async ({ request, query, params }: { request: Request; query: Record<string, string | undefined>; params?: { index?: string } }) => {
      const startedAt = performance.now();
      checkContentType(request.headers.get('content-type'));
      acceptor.admit();
      const override = topicOverride(request, query);
      const body = await readBodyChunks(request, limits);
      const { bulkResults } = await acceptor.ingest(body, { route: 'bulk', urlIndex: params?.index, topicOverride: override });
      return bulkResponse(bulkResults ?? [], startedAt);
    },
  );
  const detail = {
    summary: 'Elasticsearch bulk API (index and create actions)',
    description:
      'NDJSON action + source lines; each index/create document becomes one event (mapping in docs/SHIPPERS.md). Answers the bulk ' +
      'response (took, errors, items); other actions get a per-item 400. Topic: the index, or ?topic= / X-Logbus-Topic.',
  };
  return new Elysia({ name: 'ingest-elastic' })
    .post('/_bulk', handle, { parse: 'none', detail })
    .put('/_bulk', handle, { parse: 'none', detail: { ...detail, hide: true } })
    .post('/:index/_bulk', handle, { parse: 'none', detail })
    .put('/:index/_bulk', handle, { parse: 'none', detail: { ...detail, hide: true } });
}

/** POST|PUT /_bulk and /{index}/_bulk: the Elasticsearch bulk API, index and create actions. */
import { Elysia } from 'elysia';
import { mediaTypeOf } from '../../api/media-type';
import { UnsupportedMediaType } from '../../errors';
import type { Acceptor } from '../accept';
import { decodeUtf8 } from '../../api/body';
import { readBodyBytes } from '../../api/decompress';
import { DecodeBudget, type IngestLimits } from '../decode-budget';
import type { Candidate } from '../inbox-event';
import { answeringIn } from '../protocol-errors';
import { topicOverride } from '../record-mapping';
import { type BulkItem, parseBulk } from './bulk';
import { bulkDocToEvent, bulkTopic } from './map';
import { type ItemResult, bulkResponse, elasticFailure } from './respond';

/** Clients send x-ndjson (or the vendored +x-ndjson / +json of the 8.x/9.x clients); a missing type is read as NDJSON. */
function checkContentType(contentType: string | null): void {
  const mediaType = mediaTypeOf(contentType);
  if (mediaType === '' || /^application\/(?:(?:vnd\.elasticsearch\+)?x-ndjson|(?:vnd\.elasticsearch\+)?json)$/.test(mediaType)) return;
  throw new UnsupportedMediaType(`unsupported content type ${JSON.stringify(mediaType)}: send application/x-ndjson`);
}

const MISSING_INDEX = { type: 'action_request_validation_exception', reason: 'index is missing: name it in the URL, in _index, or with ?topic=' };

/** A document to store, and the result it is answered with (turned into a 400 if it fails validation). */
type BulkCandidate = Candidate & { result: ItemResult };

/** Validates and enqueues the storable items; every item gets its result, in request order. */
async function storeItems(acceptor: Acceptor, items: BulkItem[], override: string | null, text: string): Promise<ItemResult[]> {
  const results: ItemResult[] = [];
  const candidates: BulkCandidate[] = [];
  for (const item of items) {
    const topic = item.doc ? bulkTopic(item, override) : null;
    const error = item.error ?? (topic === null ? MISSING_INDEX : undefined);
    if (error || topic === null) {
      results.push({ action: item.action, index: item.index ?? '', id: item.id ?? '', status: 400, error });
      continue;
    }
    const document = item as BulkItem & { doc: Record<string, unknown>; docText: string };
    const value = bulkDocToEvent(document, topic);
    const result: ItemResult = { action: item.action, index: topic, id: String(value.event_id), status: 201 };
    results.push(result);
    // The document is the payload: its own text is stored, so 64-bit ids and key order survive.
    candidates.push({ value, payloadText: document.docText, result });
  }
  const { rejected } = await acceptor.accept(candidates, { atomic: false, sourceText: text, bytes: text.length });
  for (const [c, problems] of rejected) {
    const result = candidates[c]!.result;
    result.status = 400;
    result.error = { type: 'document_parsing_exception', reason: problems.map((p) => `${p.field ?? 'document'}: ${p.message}`).join('; ') };
  }
  return results;
}

export function elasticRoutes(acceptor: Acceptor, limits: IngestLimits) {
  const handle = answeringIn(
    (error) => elasticFailure(error),
    async ({ request, query, params }: { request: Request; query: Record<string, string | undefined>; params?: { index?: string } }) => {
      const startedAt = performance.now();
      checkContentType(request.headers.get('content-type'));
      acceptor.admit();
      const override = topicOverride(request, query);
      const body = await readBodyBytes(request, limits);
      const results = await acceptor.decoding(body.length, () => {
        const text = decodeUtf8(body);
        return storeItems(acceptor, parseBulk(text, params?.index, new DecodeBudget(limits)), override, text);
      });
      return bulkResponse(results, startedAt);
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

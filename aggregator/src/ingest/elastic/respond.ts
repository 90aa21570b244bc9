/**
 * Answers in the shapes Elasticsearch clients and shippers parse. A compatibility surface, not a
 * claim to be Elasticsearch: the official clients (7.14+) refuse any 2xx answer without
 * `X-Elastic-Product: Elasticsearch`, and Vector, Filebeat and Logstash read `version.number`
 * from GET / to pick the API dialect, so both are given; nothing else of Elasticsearch is.
 */
import type { AppError } from '../../errors';
import type { BulkAction } from './bulk';
import { BulkParseError } from './bulk';

/** The Elasticsearch major version we answer like: 8.x bulk has no mapping types. */
export const COMPATIBLE_VERSION = '8.17.0';

export const PRODUCT_HEADERS = { 'x-elastic-product': 'Elasticsearch', 'content-type': 'application/json' } as const;

/** GET / for clients that ask what they talk to. */
export function elasticRootResponse(): Response {
  const body = {
    name: 'logbus', // not the host name: GET / is public
    cluster_name: 'logbus',
    cluster_uuid: '_na_',
    version: {
      number: COMPATIBLE_VERSION,
      build_flavor: 'default',
      build_type: 'logbus',
      lucene_version: '9.12.0',
      minimum_wire_compatibility_version: '7.17.0',
      minimum_index_compatibility_version: '7.0.0',
    },
    tagline: 'logbus: Elasticsearch bulk-compatible ingest (POST /_bulk only)',
  };
  return new Response(JSON.stringify(body), { headers: PRODUCT_HEADERS });
}

export interface ItemResult {
  action: BulkAction;
  index: string;
  id: string;
  status: number;
  error?: { type: string; reason: string };
}

/** The bulk response: `errors` true when any item failed, one entry per item in request order. */
export function bulkResponse(results: readonly ItemResult[], startedAt: number): Response {
  const items = results.map(({ action, index, id, status, error }) => ({
    [action]: error
      ? { _index: index, _id: id, status, error: { ...error, index } }
      : {
          _index: index,
          _id: id,
          _version: 1,
          result: 'created',
          _shards: { total: 1, successful: 1, failed: 0 },
          _seq_no: 0,
          _primary_term: 1,
          status,
        },
  }));
  const body = { took: Math.round(performance.now() - startedAt), errors: results.some((r) => r.error !== undefined), items };
  return new Response(JSON.stringify(body), { headers: PRODUCT_HEADERS });
}

// Elasticsearch's error types for the statuses we answer with.
const ERROR_TYPE: Record<number, string> = {
  400: 'illegal_argument_exception',
  401: 'security_exception',
  413: 'content_too_long_exception',
  415: 'media_type_header_exception',
  429: 'es_rejected_execution_exception',
  503: 'unavailable_shards_exception',
};

/** A whole-request failure in Elasticsearch's error shape, keeping status and Retry-After. */
export function elasticFailure(error: AppError): Response {
  const type = error instanceof BulkParseError ? error.type : (ERROR_TYPE[error.status] ?? 'exception');
  const detail = error.details?.map((d) => d.message).join('; ');
  const reason = detail ? `${error.message}: ${detail}` : error.message;
  const body = { error: { root_cause: [{ type, reason }], type, reason }, status: error.status };
  const headers: Record<string, string> = { ...PRODUCT_HEADERS };
  if (error.retryAfter !== undefined) headers['retry-after'] = String(error.retryAfter);
  return new Response(JSON.stringify(body), { status: error.status, headers });
}

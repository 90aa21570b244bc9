/**
 * Everything between a request body and the events its commit stores: decode (within the
 * decode budget), map, validate. Pure and synchronous, so it runs in the decode worker for a
 * large body (decode-pool.ts) and inline for a small one, with the same result; the main thread
 * then only enqueues. A job names the route and what the route read from the request.
 */
import type { Detail } from '../errors';
import { PayloadTooLarge, ValidationError } from '../errors';
import { decodeUtf8 } from '../api/body';
import { DecodeBudget, type IngestLimits } from './decode-budget';
import { bulkCandidates, rejectBulkItems } from './elastic/map';
import { parseBulk } from './elastic/bulk';
import type { ItemResult } from './elastic/respond';
import { type InboxRows, inboxRows } from './enqueue';
import type { Candidate, InboxEvent } from './inbox-event';
import { type LokiEncoding, decodeLoki } from './loki/decode';
import { lokiToEvents } from './loki/map';
import { type OtlpEncoding, decodeOtlp } from './otlp/decode';
import { otlpToEvents } from './otlp/map';
import { type BodyFormat, parsePublishBody } from './parse';
import { sortEvents, validateEvents } from './validate';

export type DecodeJob =
  | { route: 'publish'; format: BodyFormat }
  | { route: 'otlp'; encoding: OtlpEncoding; topicOverride: string | null; defaultTopic: string }
  | { route: 'loki'; encoding: LokiEncoding; topicOverride: string | null; topicLabels: readonly string[]; defaultTopic: string }
  | { route: 'bulk'; urlIndex: string | undefined; topicOverride: string | null };

/** Validated events and the rejected candidates by index (empty in atomic mode, which throws). */
export interface Validated {
  events: InboxEvent[];
  rejected: Map<number, Detail[]>;
}

export interface Prepared {
  /** The valid events, laid out for the inbox statement. */
  rows: InboxRows;
  /** Rejected candidates by index (empty in atomic mode, which throws instead). */
  rejected: Map<number, Detail[]>;
  /** Candidate events the body held (valid or not). */
  candidates: number;
  /** The request's size for the group commit's byte bound, when known. */
  bytes?: number;
  /** The bulk API's per-item results, in request order (rejected items marked). */
  bulkResults?: ItemResult[];
}

export interface ValidateOptions {
  /** One invalid candidate rejects the request (400, nothing stored), as /publish promises. */
  atomic: boolean;
  /** The JSON every string of the candidates came from: validation skips its string walk when it can. */
  sourceText?: string | undefined;
}

/**
 * Validates candidate events. Throws PayloadTooLarge over MAX_BATCH, and ValidationError for
 * any invalid one when `atomic`; otherwise the valid ones are kept and the rest returned.
 */
export function validateCandidates(candidates: readonly Candidate[], { atomic, sourceText }: ValidateOptions, maxBatch: number): Validated {
  if (candidates.length > maxBatch) {
    throw new PayloadTooLarge(`batch of ${candidates.length} events exceeds MAX_BATCH (${maxBatch})`);
  }
  if (atomic) {
    if (candidates.length === 0) throw new ValidationError('empty batch: send at least one event');
    return { events: validateEvents(candidates, sourceText), rejected: new Map() };
  }
  const { valid, rejected } = sortEvents(candidates, sourceText);
  return { events: valid, rejected };
}

/** Decodes, maps and validates `body`; throws the AppError the route answers with. */
export function prepareBody(job: DecodeJob, body: Uint8Array, limits: IngestLimits): Prepared {
  const { events, ...prepared } = prepareEvents(job, body, limits);
  return { ...prepared, rows: inboxRows(events) };
}

function prepareEvents(job: DecodeJob, body: Uint8Array, limits: IngestLimits): Validated & Omit<Prepared, 'rows' | 'rejected'> {
  const budget = new DecodeBudget(limits);
  switch (job.route) {
    case 'publish': {
      const text = decodeUtf8(body);
      // Each payload's own text is kept, so it is stored and returned exactly as sent.
      const candidates = parsePublishBody(text, job.format, budget);
      const validated = validateCandidates(candidates, { atomic: true, sourceText: text }, limits.maxBatch);
      return { ...validated, candidates: candidates.length, bytes: text.length };
    }
    case 'otlp': {
      const { request, text } = decodeOtlp(body, job.encoding, budget);
      const candidates = otlpToEvents(request, job).map((value) => ({ value }));
      return { ...validateCandidates(candidates, { atomic: false, sourceText: text }, limits.maxBatch), candidates: candidates.length };
    }
    case 'loki': {
      const { streams, text } = decodeLoki(body, job.encoding, limits.maxBodyBytes, budget);
      const candidates = lokiToEvents(streams, job).map((value) => ({ value }));
      return { ...validateCandidates(candidates, { atomic: false, sourceText: text }, limits.maxBatch), candidates: candidates.length };
    }
    case 'bulk': {
      const text = decodeUtf8(body);
      const { results, candidates } = bulkCandidates(parseBulk(text, job.urlIndex, budget), job.topicOverride);
      const validated = validateCandidates(candidates, { atomic: false, sourceText: text }, limits.maxBatch);
      rejectBulkItems(candidates, validated.rejected);
      return { ...validated, candidates: candidates.length, bytes: text.length, bulkResults: results };
    }
  }
}

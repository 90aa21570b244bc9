/**
 * Bulk documents -> our events. `bulkDocToEvent` is the one place the mapping lives (docs/SHIPPERS.md
 * table "Elasticsearch bulk"). The document itself is the payload, untouched: index and _id are
 * carried by topic and event_id.
 */
import { recordId, topicFromName } from '../record-mapping';
import { timestampProblem } from '../../api/timestamp';
import type { Detail } from '../../errors';
import type { Candidate } from '../inbox-event';
import type { BulkItem } from './bulk';
import type { ItemResult } from './respond';

/** The document's time: `@timestamp` (ECS, what every shipper writes) or `timestamp`, else now. */
function documentTime(doc: Record<string, unknown>): string {
  const value = doc['@timestamp'] ?? doc.timestamp;
  if (typeof value === 'string') {
    if (timestampProblem(value) === null) return value;
    const parsed = Date.parse(value);
    if (Number.isFinite(parsed)) return new Date(parsed).toISOString();
  }
  // Elasticsearch's default date format also takes epoch milliseconds.
  if (typeof value === 'number' && Number.isFinite(value)) {
    const date = new Date(value);
    if (Number.isFinite(date.getTime())) return date.toISOString();
  }
  return new Date().toISOString();
}

function documentSource(doc: Record<string, unknown>): string {
  const host = doc.host;
  const name = (typeof host === 'object' && host !== null ? (host as Record<string, unknown>).name : host) ?? doc['host.name'] ?? doc.hostname;
  return typeof name === 'string' && name !== '' ? name.slice(0, 256) : 'bulk';
}

/** The topic an item goes to: the override, else its index; null when neither names one. */
export function bulkTopic(item: BulkItem, topicOverride: string | null): string | null {
  return topicOverride ?? topicFromName(item.index);
}

/**
 * One index/create item as a candidate event (validated afterwards like any /publish event).
 * event_id: the item's `_id`, else a hash of the index and the document's text, so the same
 * document re-sent is a duplicate (Elasticsearch would store it twice under a fresh id).
 */
export function bulkDocToEvent(item: BulkItem & { doc: Record<string, unknown>; docText: string }, topic: string): Record<string, unknown> {
  return {
    topic,
    event_id: item.id ?? recordId('bulk', item.index ?? '', item.docText),
    timestamp: documentTime(item.doc),
    source: documentSource(item.doc),
    payload: item.doc,
  };
}

const MISSING_INDEX = { type: 'action_request_validation_exception', reason: 'index is missing: name it in the URL, in _index, or with ?topic=' };

/** A document to store, and the result it is answered with (turned into a 400 if it fails validation). */
export type BulkCandidate = Candidate & { result: ItemResult };

/** The items of a bulk request: every item's result in request order, and the documents to store. */
export interface BulkCandidates {
  results: ItemResult[];
  candidates: BulkCandidate[];
}

export function bulkCandidates(items: readonly BulkItem[], override: string | null): BulkCandidates {
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
  return { results, candidates };
}

/** Turns the results of the documents validation rejected into 400s. */
export function rejectBulkItems(candidates: readonly BulkCandidate[], rejected: ReadonlyMap<number, Detail[]>): void {
  for (const [c, problems] of rejected) {
    const result = candidates[c]!.result;
    result.status = 400;
    result.error = { type: 'document_parsing_exception', reason: problems.map((p) => `${p.field ?? 'document'}: ${p.message}`).join('; ') };
  }
}

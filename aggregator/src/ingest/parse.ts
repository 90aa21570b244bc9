/**
 * Turns a request body into a list of candidate events (not yet validated). Pure: no I/O.
 * Accepted shapes: one event object, an array of events, `{"events": [...]}`, or NDJSON.
 */
import { parseJsonBody } from '../api/body';
import { mediaTypeOf } from '../api/media-type';
import { UnsupportedMediaType, ValidationError } from '../errors';
import type { DecodeBudget } from './decode-budget';
import type { Candidate } from './inbox-event';
import { scanJson } from './json-scan';
import { arrayPayloadTexts, envelopeEventsStart, eventPayloadText } from './payload-text';

export type BodyFormat = 'json' | 'ndjson';

const NDJSON_TYPES = new Set(['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/x-jsonlines']);

/**
 * Maps a Content-Type header to a body format. A missing one is 415 like any other type a
 * browser may send cross-site without a preflight: a page elsewhere can never publish through a
 * visitor's browser when auth is off.
 */
export function bodyFormat(contentType: string | null): BodyFormat {
  if (contentType === null || contentType.trim() === '') {
    throw new UnsupportedMediaType('missing Content-Type: send application/json or application/x-ndjson');
  }
  const mediaType = mediaTypeOf(contentType);
  if (mediaType === 'application/json' || (mediaType.startsWith('application/') && mediaType.endsWith('+json'))) {
    return 'json';
  }
  if (NDJSON_TYPES.has(mediaType)) return 'ndjson';
  throw new UnsupportedMediaType(`unsupported content type ${JSON.stringify(mediaType)}: send application/json or application/x-ndjson`);
}

/** Parses the body text into candidate values; throws ValidationError on malformed input. */
export function parseBody(text: string, format: BodyFormat, budget: DecodeBudget): unknown[] {
  return parsePublishBody(text, format, budget).map((candidate) => candidate.value);
}

/**
 * The candidate events of a body, each with its payload's text, for storing payloads exactly as
 * sent. The text is scanned first (nesting depth, items: json-scan.ts), so JSON.parse only sees
 * what the budget allows.
 */
export function parsePublishBody(text: string, format: BodyFormat, budget: DecodeBudget): Candidate[] {
  scanJson(text, budget);
  budget.payload(text.length);
  if (format === 'ndjson') return parseNdjson(text, budget);
  const candidates = parseJson(text);
  budget.record(candidates.length);
  return candidates;
}

function parseJson(text: string): Candidate[] {
  if (text.trim() === '') throw new ValidationError('empty body: send at least one event');
  const value = parseJsonBody(text);
  if (Array.isArray(value)) return elementsOf(value, text, 0);
  if (isEnvelope(value)) return elementsOf(value.events, text, envelopeEventsStart(text));
  return [{ value, payloadText: eventPayloadText(text, 0) }];
}

/**
 * The elements of the array JSON.parse read from `text` at `start`, each with its payload's text.
 * JSON.parse and the text scan read the same well-formed text, so they find the same elements; if
 * a shape ever defeated the scan, storing re-serialised values beats attaching a text to the wrong
 * event.
 */
function elementsOf(values: unknown[], text: string, start: number): Candidate[] {
  const payloadTexts = arrayPayloadTexts(text, start);
  const aligned = payloadTexts.length === values.length;
  return values.map((value, i) => ({ value, payloadText: aligned ? payloadTexts[i] : undefined }));
}

/** `{"events": [...]}` and nothing else; an event object has a topic and no `events` array. */
function isEnvelope(value: unknown): value is { events: unknown[] } {
  if (typeof value !== 'object' || value === null) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && keys[0] === 'events' && Array.isArray((value as { events: unknown }).events);
}

function parseNdjson(text: string, budget: DecodeBudget): Candidate[] {
  const candidates: Candidate[] = [];
  const problems: { index: number; field: null; message: string }[] = [];
  // `index` counts events (non-blank lines), as for a JSON array; the message names the line.
  // Lines are cut one at a time: a body of newlines must not become millions of strings.
  let index = 0;
  let at = 0;
  for (let line = 0; at < text.length; line++) {
    const end = text.indexOf('\n', at);
    const raw = text.slice(at, end === -1 ? text.length : end).trim();
    at = end === -1 ? text.length : end + 1;
    if (raw === '') continue; // blank lines, including the trailing newline
    budget.record();
    try {
      candidates.push({ value: JSON.parse(raw), payloadText: eventPayloadText(raw, 0) });
    } catch (error) {
      if (problems.length < 100) problems.push({ index, field: null, message: `line ${line + 1}: ${(error as Error).message}` });
    }
    index++;
  }
  if (problems.length > 0) throw new ValidationError('malformed NDJSON', problems);
  if (candidates.length === 0) throw new ValidationError('empty body: send at least one event');
  return candidates;
}

/**
 * Checks candidate events against the Event schema and the limits PostgreSQL imposes beyond it.
 * Collects every problem with its index and field, so one 400 says all that is wrong.
 */
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { type Detail, ValidationError, schemaDetails } from '../errors';
import { Event } from '../api/contract';
import { timestampProblem } from '../api/timestamp';
import type { Candidate, InboxEvent } from './inbox-event';

const checkEvent = TypeCompiler.Compile(Event);

function stringProblem(value: string, path: string): string | null {
  if (value.includes('\u0000')) return `${path} contains U+0000, which cannot be stored`;
  if (!value.isWellFormed()) return `${path} contains an unpaired UTF-16 surrogate`;
  return null;
}

/**
 * PostgreSQL text and jsonb cannot hold U+0000, and lone UTF-16 surrogates are not valid
 * Unicode; both must be a 400 here rather than a failure after the event was accepted. The
 * walk keeps its own stack: client data never drives recursion (a deep payload would overflow
 * the call stack before any depth limit could answer).
 */
function unstorableString(root: unknown, rootPath: string): string | null {
  const stack: [unknown, string][] = [[root, rootPath]];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [value, path] = next;
    if (typeof value === 'string') {
      const problem = stringProblem(value, path);
      if (problem) return problem;
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    const entries = Object.entries(value);
    // Pushed last-first so the first problem in document order is the one reported.
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, inner] = entries[i]!;
      stack.push([inner, Array.isArray(value) ? `${path}[${key}]` : `${path}.${key}`]);
      if (!Array.isArray(value)) stack.push([key, `${path} key`]);
    }
  }
  return null;
}

/**
 * Whether JSON text can decode to a string PostgreSQL cannot store. JSON forbids raw control
 * characters in strings and the body was decoded as strict UTF-8, so U+0000 and unpaired
 * surrogates can only come from `\u0000` and `\uD800`–`\uDFFF` escapes. Most bodies have none,
 * and then the per-string walk below is skipped (it was half of validation's cost).
 */
export function mayHoldUnstorable(jsonText: string): boolean {
  return /\\u(?:0000|[dD][89a-fA-F])/.test(jsonText);
}

function problemsOf(candidate: unknown, index: number, checkStrings: boolean): Detail[] {
  if (!checkEvent.Check(candidate)) {
    // A timestamp's own rule says more than "does not match format date-time".
    return schemaDetails(checkEvent.Errors(candidate), index, (field, issue) =>
      field === 'timestamp' && typeof issue.value === 'string' ? timestampProblem(issue.value) : null,
    );
  }
  const event = candidate as Event;
  const details: Detail[] = [];
  if (!checkStrings) return details;
  for (const field of ['topic', 'event_id', 'source', 'payload'] as const) {
    const problem = unstorableString(event[field], field);
    if (problem) details.push({ index, field, message: problem });
  }
  return details;
}

/** A valid candidate as the inbox stores it: its event, carrying the payload text it came with. */
function toInboxEvent({ value, payloadText }: Candidate): InboxEvent {
  const event = value as InboxEvent;
  if (payloadText !== undefined) event.payloadJson = payloadText;
  return event;
}

/**
 * Validates every candidate; returns them as inbox events, or throws one ValidationError listing
 * all problems. `sourceText`, the JSON the candidates were parsed from, lets the U+0000 /
 * surrogate walk be skipped when the text cannot produce such strings.
 */
export function validateEvents(candidates: readonly Candidate[], sourceText?: string): InboxEvent[] {
  const checkStrings = sourceText === undefined || mayHoldUnstorable(sourceText);
  const details: Detail[] = [];
  for (let i = 0; i < candidates.length; i++) {
    const problems = problemsOf(candidates[i]!.value, i, checkStrings);
    if (problems.length > 0) details.push(...problems);
  }
  if (details.length > 0) {
    const invalid = new Set(details.map((d) => d.index)).size;
    throw new ValidationError(`${invalid} of ${candidates.length} events are invalid; nothing was stored`, details.slice(0, 100));
  }
  return candidates.map(toInboxEvent);
}

/** The outcome of validating records one by one: protocols accept the valid ones and report the rest. */
export interface SortedEvents {
  valid: InboxEvent[];
  /** Problems of the rejected candidates, keyed by their index in the input. */
  rejected: Map<number, Detail[]>;
}

/**
 * Validates each candidate on its own (no all-or-nothing): what OTLP partial_success, Loki and
 * the bulk API's per-item statuses need. The checks are the same as validateEvents', and so is
 * `sourceText`: the JSON every string came from, when there is one (protobuf bodies have none).
 */
export function sortEvents(candidates: readonly Candidate[], sourceText?: string): SortedEvents {
  const checkStrings = sourceText === undefined || mayHoldUnstorable(sourceText);
  const valid: InboxEvent[] = [];
  const rejected = new Map<number, Detail[]>();
  for (let i = 0; i < candidates.length; i++) {
    const candidate = candidates[i]!;
    const problems = problemsOf(candidate.value, i, checkStrings);
    if (problems.length > 0) rejected.set(i, problems);
    else valid.push(toInboxEvent(candidate));
  }
  return { valid, rejected };
}

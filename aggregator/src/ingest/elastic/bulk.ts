/**
 * Parses an Elasticsearch bulk body: NDJSON pairs of an action line and, for index / create /
 * update, a source line. Pure. A broken action line fails the whole request (as in
 * Elasticsearch, since the pairing after it cannot be trusted); a broken source line fails only
 * its item.
 */
import { ValidationError } from '../../errors';
import type { DecodeBudget } from '../decode-budget';
import { scanJson } from '../json-scan';

export type BulkAction = 'index' | 'create' | 'update' | 'delete';
const ACTIONS = new Set<string>(['index', 'create', 'update', 'delete']);

export interface BulkItem {
  action: BulkAction;
  /** `_index` of the action line, else the index of the URL. */
  index: string | undefined;
  id: string | undefined;
  /** The source document and its text, for index and create; absent when `error` is set. */
  doc?: Record<string, unknown>;
  docText?: string;
  /** Why this item cannot be stored (Elasticsearch error type and reason). */
  error?: { type: string; reason: string };
}

/** The per-item error of a delete or update. */
const APPEND_ONLY = { type: 'illegal_argument_exception', reason: 'logbus is append-only: only index and create actions are accepted' };

/** A bulk body that cannot be paired into items: 400 with Elasticsearch's error type. */
export class BulkParseError extends ValidationError {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

function parseObject(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The items of a bulk body, counted against the decode budget (json-scan.ts) before any line is parsed. */
export function parseBulk(text: string, urlIndex: string | undefined, budget: DecodeBudget): BulkItem[] {
  scanJson(text, budget);
  budget.payload(text.length);
  const items: BulkItem[] = [];
  // `n`: the 1-based number of the line last returned. Lines are cut one at a time, never split
  // into an array up front (a body of newlines would be millions of strings).
  let n = 0;
  let at = 0;
  const next = () => {
    while (at < text.length) {
      const end = text.indexOf('\n', at);
      const line = text.slice(at, end === -1 ? text.length : end);
      at = end === -1 ? text.length : end + 1;
      n++;
      if (line.trim() !== '') return line;
    }
    return undefined;
  };
  for (let line = next(); line !== undefined; line = next()) {
    const actionLine = parseObject(line);
    if (actionLine === null)
      throw new BulkParseError('x_content_parse_exception', `line [${n}]: malformed action/metadata line, expected a JSON object`);
    const keys = Object.keys(actionLine);
    if (keys.length !== 1 || !ACTIONS.has(keys[0]!)) {
      throw new BulkParseError(
        'illegal_argument_exception',
        `line [${n}]: malformed action/metadata line, expected one of [create, delete, index, update] but found [${keys.join(', ')}]`,
      );
    }
    const action = keys[0] as BulkAction;
    budget.record();
    const meta = (actionLine[action] ?? {}) as Record<string, unknown>;
    if (typeof meta !== 'object' || Array.isArray(meta)) {
      throw new BulkParseError('x_content_parse_exception', `line [${n}]: the ${action} action's metadata must be an object`);
    }
    const index = typeof meta._index === 'string' && meta._index !== '' ? meta._index : urlIndex;
    const id = typeof meta._id === 'string' && meta._id !== '' ? meta._id : typeof meta._id === 'number' ? String(meta._id) : undefined;
    // delete has no source line; update has one, consumed below before it is refused.
    if (action === 'delete') {
      items.push({ action, index, id, error: APPEND_ONLY });
      continue;
    }
    const sourceText = next();
    if (sourceText === undefined) throw new BulkParseError('illegal_argument_exception', `line [${n}]: the ${action} action has no source line`);
    if (action === 'update') {
      items.push({ action, index, id, error: APPEND_ONLY });
      continue;
    }
    const doc = parseObject(sourceText);
    if (doc === null) {
      items.push({ action, index, id, error: { type: 'document_parsing_exception', reason: `line [${n}]: the source must be a JSON object` } });
      continue;
    }
    items.push({ action, index, id, doc, docText: sourceText.trim() });
  }
  return items;
}

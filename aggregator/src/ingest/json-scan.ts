/**
 * A pass over JSON text before JSON.parse sees it: the nesting depth is checked (MAX_JSON_DEPTH)
 * and every container and value separator is counted against the request's decode budget. It
 * is iterative and allocates nothing, so a body of 100,000 nested arrays or two million empty
 * objects is refused before it becomes objects: deep nesting would otherwise overflow the
 * stack of a recursive walk and PostgreSQL's JSON parser (max_stack_depth, near 16,400 levels).
 *
 * Malformed JSON is left to JSON.parse to report; the scan only has to terminate on it.
 */
import { ValidationError } from '../errors';
import type { DecodeBudget } from './decode-budget';

const STRUCTURAL = /["{}[\],]/g;

/** Where the string whose opening quote is at `i` ends (after its closing quote), or the text's end. */
function stringEnd(text: string, i: number): number {
  let end = text.indexOf('"', i + 1);
  for (;;) {
    if (end === -1) return text.length;
    let backslashes = 0;
    while (text.charCodeAt(end - 1 - backslashes) === 92) backslashes++;
    if (backslashes % 2 === 0) return end + 1;
    end = text.indexOf('"', end + 1);
  }
}

/** Throws ValidationError past MAX_JSON_DEPTH, PayloadTooLarge past INGEST_MAX_ITEMS. */
export function scanJson(text: string, budget: DecodeBudget): void {
  const maxDepth = budget.limits.maxJsonDepth;
  const regex = new RegExp(STRUCTURAL);
  let depth = 0;
  let items = 0;
  for (let match = regex.exec(text); match !== null; match = regex.exec(text)) {
    const c = match[0];
    if (c === '"') {
      regex.lastIndex = stringEnd(text, match.index);
    } else if (c === '{' || c === '[') {
      if (++depth > maxDepth) {
        throw new ValidationError(`JSON nested deeper than MAX_JSON_DEPTH (${maxDepth})`, [
          { index: null, field: null, message: `nesting passes ${maxDepth} levels at character ${match.index}` },
        ]);
      }
      items++;
    } else if (c === ',') {
      items++;
    } else if (depth > 0) {
      depth--;
    }
    // Counted in steps, so the budget's own check runs often enough to stop early.
    if (items >= 4096) {
      budget.item(items);
      items = 0;
    }
  }
  budget.item(items);
}

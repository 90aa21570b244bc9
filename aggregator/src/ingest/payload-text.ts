/**
 * Finds each event's `payload` as the JSON text its producer sent. JSON.parse rounds integers
 * beyond 2^53 (a 64-bit trace id comes back altered), drops digits of long decimals and moves
 * integer-like keys first, so a payload stored from the parsed value is not what was sent. The
 * parsed value is still what validation looks at; the stored text is the slice found here.
 *
 * The scan runs after JSON.parse accepted the same text, so it may assume well-formed JSON and
 * only tracks strings and nesting. Native indexOf and a sticky character-class search do the
 * stepping, which keeps it a fraction of JSON.parse's own cost (bench/ingest-payload.ts).
 */

const STRUCTURAL = /["{}[\]]/g;
const WHITESPACE = new Set([' ', '\t', '\n', '\r']);

function skipWhitespace(text: string, i: number): number {
  while (i < text.length && WHITESPACE.has(text[i]!)) i++;
  return i;
}

/** `text[i]` is a quote; returns the index after the closing quote. */
function skipString(text: string, i: number): number {
  let end = text.indexOf('"', i + 1);
  for (;;) {
    let backslashes = 0;
    while (text.charCodeAt(end - 1 - backslashes) === 92) backslashes++;
    if (backslashes % 2 === 0) return end + 1;
    end = text.indexOf('"', end + 1);
  }
}

/** Returns the index after the JSON value starting at `i`. */
function skipValue(text: string, i: number): number {
  const first = text[i];
  if (first === '"') return skipString(text, i);
  if (first === '{' || first === '[') {
    let depth = 0;
    STRUCTURAL.lastIndex = i;
    for (;;) {
      const match = STRUCTURAL.exec(text)!;
      const at = match.index;
      const c = text[at];
      if (c === '"') {
        STRUCTURAL.lastIndex = skipString(text, at);
      } else if (c === '{' || c === '[') {
        depth++;
      } else if (--depth === 0) {
        return at + 1;
      }
    }
  }
  // A number, true, false or null: it ends at the next delimiter.
  let end = i;
  while (end < text.length && !',]}'.includes(text[end]!) && !WHITESPACE.has(text[end]!)) end++;
  return end;
}

/** Key text between quotes, unescaped only when it holds an escape (rare). */
function keyAt(text: string, start: number, end: number): string {
  const raw = text.slice(start + 1, end - 1);
  return raw.includes('\\') ? (JSON.parse(text.slice(start, end)) as string) : raw;
}

/**
 * The `payload` member's text of the object starting at `i` (the last one, as JSON.parse keeps
 * the last of duplicate keys), or undefined when the value there is not an object or has none.
 */
export function eventPayloadText(text: string, i: number): string | undefined {
  i = skipWhitespace(text, i);
  if (text[i] !== '{') return undefined;
  let payload: string | undefined;
  i = skipWhitespace(text, i + 1);
  while (text[i] === '"') {
    const keyEnd = skipString(text, i);
    const key = keyAt(text, i, keyEnd);
    const valueStart = skipWhitespace(text, skipWhitespace(text, keyEnd) + 1); // past ':'
    const valueEnd = skipValue(text, valueStart);
    if (key === 'payload') payload = text.slice(valueStart, valueEnd);
    i = skipWhitespace(text, valueEnd);
    if (text[i] === ',') i = skipWhitespace(text, i + 1);
  }
  return payload;
}

/** The payload text of every element of the array starting at `i`. */
export function arrayPayloadTexts(text: string, i: number): (string | undefined)[] {
  const payloads: (string | undefined)[] = [];
  i = skipWhitespace(text, i);
  i = skipWhitespace(text, i + 1); // past '['
  while (i < text.length && text[i] !== ']') {
    payloads.push(eventPayloadText(text, i));
    i = skipWhitespace(text, skipValue(text, i));
    if (text[i] === ',') i = skipWhitespace(text, i + 1);
  }
  return payloads;
}

/**
 * Where the value of the top-level `events` member of an envelope object starts: the last one,
 * as JSON.parse keeps the last of duplicate keys (`{"events":[…],"events":[…]}` is an envelope).
 */
export function envelopeEventsStart(text: string): number {
  let start = -1;
  let i = skipWhitespace(text, skipWhitespace(text, 0) + 1); // past '{'
  while (text[i] === '"') {
    const keyEnd = skipString(text, i);
    const key = keyAt(text, i, keyEnd);
    const valueStart = skipWhitespace(text, skipWhitespace(text, keyEnd) + 1); // past ':'
    if (key === 'events') start = valueStart;
    i = skipWhitespace(text, skipValue(text, valueStart));
    if (text[i] === ',') i = skipWhitespace(text, i + 1);
  }
  return start;
}

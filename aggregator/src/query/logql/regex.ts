/**
 * Regular expressions with RE2 semantics (re2js): linear time whatever the pattern, so a
 * catastrophic regex costs no more than a plain one, and Go syntax such as a leading `(?i)`
 * (which Grafana writes and JavaScript's RegExp rejects) works as in Loki.
 */
import { RE2JS } from 're2js';

/** Longest pattern accepted: a bound on compile time and program size. */
const MAX_PATTERN_LENGTH = 4096;

/** Compiles `pattern`; throws an Error whose message says what is wrong. */
export function compileRegex(pattern: string, anchored: boolean): (text: string) => boolean {
  if (pattern.length > MAX_PATTERN_LENGTH) throw new Error(`regular expression longer than ${MAX_PATTERN_LENGTH} characters`);
  const regex = RE2JS.compile(anchored ? `^(?:${pattern})$` : pattern);
  return anchored ? (text) => regex.testExact(text) : (text) => regex.test(text);
}

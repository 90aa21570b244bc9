/**
 * Parses a Loki stream's label set as the protobuf push request carries it, Prometheus text form
 * `{job="api", env="prod"}` (values are Go-quoted strings; their escapes \" \\ \n \t \uXXXX read
 * the same as JSON's). Pure; a malformed set throws, and the push is answered 400 like Loki does.
 */
const LABEL = /\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*("(?:[^"\\]|\\.)*")\s*(,|$)/y;

export function parseLabels(text: string): Record<string, string> {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{') || !trimmed.endsWith('}')) throw new Error(`labels ${JSON.stringify(text)} are not a {name="value", ...} set`);
  const inner = trimmed.slice(1, -1);
  // No prototype: a label named `__proto__` is a label like any other.
  const labels: Record<string, string> = Object.create(null);
  if (inner.trim() === '') return labels;
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < inner.length) {
    const start = LABEL.lastIndex;
    const match = LABEL.exec(inner);
    if (!match) throw new Error(`labels ${JSON.stringify(text)}: cannot parse from position ${start + 1}`);
    labels[match[1]!] = JSON.parse(match[2]!) as string;
    if (match[3] === '' || LABEL.lastIndex >= inner.length) break;
  }
  return labels;
}

/** A label set in one canonical text (sorted names): the stream's identity, whatever order it came in. */
export function canonicalLabels(labels: Record<string, string>): string {
  const names = Object.keys(labels).sort();
  return `{${names.map((name) => `${name}=${JSON.stringify(labels[name])}`).join(',')}}`;
}

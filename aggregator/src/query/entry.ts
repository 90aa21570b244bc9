/**
 * How a stored event reads as a Loki log entry: its stream labels, its line and its time in
 * nanoseconds (docs/QUERY.md "How an event becomes a stream"). The events table keeps no record
 * of which protocol an event came in by, so the payload's shape says it: the shapes the shipper
 * mappings (ingest/loki, ingest/otlp, ingest/elastic) write are recognised, anything else is a
 * /publish payload whose line is its JSON text exactly as stored.
 */

export type Labels = Record<string, string>;

export interface Entry {
  /** Unix nanoseconds, decimal text (19 digits for today). */
  ns: string;
  labels: Labels;
  line: string;
}

/** A row as the scan reads it (scan.ts). */
export interface EventRow {
  topic: string;
  source: string;
  /** The stored timestamp as Unix microseconds, decimal text. */
  micros: string;
  /** The payload's JSON text as stored. */
  payload: string;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);
const LOKI_KEYS = new Set(['line', 'labels', 'time_unix_nano', 'structured_metadata']);
const OTLP_KEYS = new Set([
  'body',
  'severity_text',
  'severity_number',
  'event_name',
  'attributes',
  'trace_id',
  'span_id',
  'flags',
  'time_unix_nano',
  'observed_time_unix_nano',
  'dropped_attributes_count',
  'resource',
  'scope',
]);

/** A label name from any text: Prometheus' rule, invalid characters become `_`. */
export function sanitizeLabelName(name: string): string {
  const clean = name.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[0-9]/.test(clean) ? `_${clean}` : clean;
}

/** Loki's detected_level values from a severity text (or null when it names no level). */
export function levelFromText(text: string): string | null {
  const value = text.trim().toLowerCase();
  if (value === '') return null;
  if (value.startsWith('trac')) return 'trace';
  if (value.startsWith('deb') || value === 'dbg') return 'debug';
  if (value.startsWith('inf') || value === 'notice') return 'info';
  if (value.startsWith('warn') || value === 'wrn') return 'warn';
  if (value.startsWith('err') || value === 'eror') return 'error';
  if (value.startsWith('crit') || value.startsWith('fatal') || value === 'panic' || value === 'emerg' || value === 'alert') return 'critical';
  return null;
}

/** OTLP SeverityNumber ranges (1-4 trace ... 21-24 fatal). */
function levelFromNumber(number: number): string | null {
  if (!Number.isInteger(number) || number < 1 || number > 24) return null;
  return ['trace', 'debug', 'info', 'warn', 'error', 'critical'][Math.floor((number - 1) / 4)]!;
}

function setLevel(labels: Labels, level: unknown): void {
  if (typeof level !== 'string' || level === '') return;
  labels.level ??= level;
  labels.detected_level ??= levelFromText(level) ?? 'unknown';
}

const isLoki = (p: JsonObject) =>
  typeof p.line === 'string' &&
  isObject(p.labels) &&
  typeof p.time_unix_nano === 'string' &&
  Object.keys(p).every((key) => LOKI_KEYS.has(key)) &&
  Object.values(p.labels).every((value) => typeof value === 'string');

const isOtlp = (p: JsonObject) => ('body' in p || 'resource' in p || 'severity_number' in p) && Object.keys(p).every((key) => OTLP_KEYS.has(key));

/** ECS: every shipper writing to the bulk API stamps `@timestamp`; `message` is the line. */
const isElastic = (p: JsonObject) => typeof p.message === 'string' && '@timestamp' in p;

/** The entry an event reads as; `payload` is the stored JSON text. */
export function toEntry(row: EventRow): Entry {
  const labels: Labels = {};
  let line = row.payload;
  let ns = `${row.micros}000`;
  const payload = row.payload.startsWith('{') ? (JSON.parse(row.payload) as Json) : null;
  if (isObject(payload)) {
    if (isLoki(payload)) {
      Object.assign(labels, payload.labels);
      line = payload.line as string;
      ns = payload.time_unix_nano as string;
      setLevel(labels, labels.level ?? labels.severity);
    } else if (isOtlp(payload)) {
      if (isObject(payload.resource)) {
        for (const [key, value] of Object.entries(payload.resource)) {
          if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') labels[sanitizeLabelName(key)] = String(value);
        }
      }
      line = typeof payload.body === 'string' ? payload.body : payload.body === undefined ? '' : JSON.stringify(payload.body);
      const fromNumber = typeof payload.severity_number === 'number' ? levelFromNumber(payload.severity_number) : null;
      const text = typeof payload.severity_text === 'string' ? payload.severity_text : null;
      if (text !== null || fromNumber !== null) {
        labels.level = text ?? fromNumber!;
        labels.detected_level = fromNumber ?? levelFromText(text!) ?? 'unknown';
      }
    } else if (isElastic(payload)) {
      line = payload.message as string;
      const log = payload.log;
      setLevel(labels, (isObject(log) ? log.level : undefined) ?? payload['log.level'] ?? payload.level);
    } else {
      setLevel(labels, payload.level);
    }
  }
  // topic and source are logbus's own: they always say where the event is stored.
  labels.topic = row.topic;
  labels.source = row.source;
  return { ns, labels, line };
}

/** The label set's identity: sorted names, as Loki's stream key. */
export function streamKey(labels: Labels): string {
  const names = Object.keys(labels).sort();
  let key = '{';
  for (const name of names) key += `${name}=${JSON.stringify(labels[name])},`;
  return `${key}}`;
}

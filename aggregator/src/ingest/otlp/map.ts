/**
 * OTLP log records -> our events. `otlpRecordToEvent` is the one place the mapping lives (see the
 * docs/SHIPPERS.md table "OTLP/HTTP"); the rest walks the resource / scope / record nesting.
 *
 * The input comes from JSON as well as protobuf, so nothing here trusts a field's type: a value
 * of the wrong type reads as absent, and what cannot make an event is left to validation, which
 * reports it per record (partial_success).
 */
import { nanosToTimestamp, nowNanos, recordId, topicFromName } from '../record-mapping';
import type { OtlpAnyValue, OtlpKeyValue, OtlpLogRecord, OtlpRequest, OtlpResourceLogs, OtlpScopeLogs } from './schema';

export interface OtlpMappingOptions {
  /** `?topic=` / X-Logbus-Topic; wins over service.name. */
  topicOverride: string | null;
  /** Used when the resource has no usable service.name. */
  defaultTopic: string;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * A 64-bit integer as exact decimal text, or undefined: decimal text or a safe integer (JSON),
 * or protobufjs' Long, read from its `low`/`high`/`unsigned` fields and never by calling a
 * method of it (a JSON body can send `{"__isLong__":true,"toString":1}`).
 */
function int64Text(value: unknown): string | undefined {
  if (typeof value === 'string') return /^-?\d{1,20}$/.test(value) ? value : undefined;
  if (typeof value === 'number') return Number.isSafeInteger(value) ? String(value) : undefined;
  if (typeof value !== 'object' || value === null) return undefined;
  const { low, high, unsigned } = value as { low?: unknown; high?: unknown; unsigned?: unknown };
  if (typeof low !== 'number' || typeof high !== 'number' || typeof unsigned !== 'boolean') return undefined;
  const bits = (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0);
  return (unsigned ? bits : BigInt.asIntN(64, bits)).toString();
}

/** A small non-negative integer field (severity, counts) from a number or decimal text; else undefined. */
function count(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d{1,10}$/.test(value) ? Number(value) : Number.NaN;
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

const list = <T>(value: unknown): T[] => (Array.isArray(value) ? (value as T[]) : []);
const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/** Bytes as lowercase hex (trace and span ids: OTLP JSON already sends hex text). */
function hex(value: unknown): string | undefined {
  if (value instanceof Uint8Array) return value.length === 0 ? undefined : Buffer.from(value).toString('hex');
  return text(value)?.toLowerCase();
}

// A decoded protobuf message keeps unset fields' defaults on its prototype (an unset oneof
// member still reads as "" or 0), so "is this field set" is an own-property test, which also
// holds for objects from JSON.parse.
const has = (value: object, key: string) => Object.hasOwn(value, key);

type JsonObject = { [key: string]: Json };

/** Where a converted value goes: a slot of an array or object being filled. */
type Slot = [holder: Json[] | JsonObject, key: number | string, value: unknown];

/**
 * One AnyValue without its children: a scalar as JSON, or an empty array / object with a slot
 * to fill for each child. 64-bit integers past 2^53 stay decimal text so no digit is lost.
 */
function shallowJson(value: unknown, children: Slot[]): Json {
  if (typeof value !== 'object' || value === null) return null;
  const any = value as OtlpAnyValue;
  if (has(any, 'stringValue') && typeof any.stringValue === 'string') return any.stringValue;
  if (has(any, 'boolValue') && typeof any.boolValue === 'boolean') return any.boolValue;
  if (has(any, 'intValue')) {
    const digits = int64Text(any.intValue); // a Long from protobuf, text or a number from JSON
    if (digits === undefined) return null;
    const n = Number(digits);
    return Number.isSafeInteger(n) ? n : digits;
  }
  if (has(any, 'doubleValue')) {
    const double = any.doubleValue;
    if (typeof double === 'number') return Number.isFinite(double) ? double : String(double); // NaN and Infinity have no JSON number
    if (typeof double !== 'string') return null;
    const n = Number(double);
    return Number.isFinite(n) ? n : double;
  }
  if (has(any, 'arrayValue')) {
    const values = list<OtlpAnyValue>(any.arrayValue?.values);
    const array: Json[] = new Array(values.length).fill(null);
    for (let i = 0; i < values.length; i++) children.push([array, i, values[i]]);
    return array;
  }
  if (has(any, 'kvlistValue')) return shallowAttributes(any.kvlistValue?.values, children);
  if (has(any, 'bytesValue')) {
    const bytes = any.bytesValue;
    return bytes instanceof Uint8Array ? Buffer.from(bytes).toString('base64') : typeof bytes === 'string' ? bytes : null;
  }
  return null;
}

/**
 * A KeyValue list as an object whose values are still to fill. The object has no prototype: a
 * key `__proto__` is an attribute like any other, never the object's prototype (which would let
 * a nested `log.record.uid` pose as the record's own). A repeated key keeps its first place and
 * its last value (OTLP forbids repeats): the slots are filled in list order.
 */
function shallowAttributes(attributes: unknown, children: Slot[]): JsonObject {
  const object: JsonObject = Object.create(null);
  for (const pair of list<OtlpKeyValue>(attributes)) {
    if (typeof pair !== 'object' || pair === null || typeof pair.key !== 'string') continue;
    object[pair.key] = null;
    children.push([object, pair.key, pair.value]);
  }
  return object;
}

/**
 * Fills `slots` and every slot their values open, with a stack of its own: client data never
 * drives recursion (the decode budget bounds the depth, but a walk must not depend on it).
 */
function fill(slots: Slot[]): void {
  const stack = slots.reverse();
  const children: Slot[] = [];
  for (let slot = stack.pop(); slot !== undefined; slot = stack.pop()) {
    const [holder, key, value] = slot;
    (holder as Record<number | string, Json>)[key] = shallowJson(value, children);
    // Reversed so siblings are filled in order: a repeated key's last value is written last.
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
    children.length = 0;
  }
}

/** An AnyValue as JSON (scalars, arrays, key-value lists at any depth). */
export function anyValueToJson(value: OtlpAnyValue | undefined): Json {
  const root: Json[] = [null];
  fill([[root, 0, value]]);
  return root[0]!;
}

/** A KeyValue list as an object; see shallowAttributes. */
export function attributesToJson(attributes: unknown): JsonObject {
  const children: Slot[] = [];
  const object = shallowAttributes(attributes, children);
  fill(children);
  return object;
}

/** Nonzero Unix nanoseconds as text, or undefined (0 means "unknown" in OTLP). */
function nanos(value: unknown): string | undefined {
  const digits = typeof value === 'number' && Number.isFinite(value) ? BigInt(Math.trunc(value)).toString() : int64Text(value);
  return digits !== undefined && /^\d+$/.test(digits) && !/^0+$/.test(digits) ? digits : undefined;
}

/** What a record's resource and scope contribute, computed once per group of records. */
export interface OtlpRecordContext {
  topic: string;
  source: string;
  resource: { [key: string]: Json };
  scope: { [key: string]: Json } | undefined;
}

export function resourceContext(resourceLogs: OtlpResourceLogs, scopeLogs: OtlpScopeLogs, options: OtlpMappingOptions): OtlpRecordContext {
  const resource = attributesToJson(resourceLogs?.resource?.attributes);
  const rawScope = typeof scopeLogs?.scope === 'object' && scopeLogs.scope !== null ? scopeLogs.scope : undefined;
  let scope: { [key: string]: Json } | undefined;
  if (rawScope) {
    scope = {};
    if (text(rawScope.name)) scope.name = rawScope.name!;
    if (text(rawScope.version)) scope.version = rawScope.version!;
    const attributes = attributesToJson(rawScope.attributes);
    if (Object.keys(attributes).length > 0) scope.attributes = attributes;
    if (Object.keys(scope).length === 0) scope = undefined;
  }
  const topic = options.topicOverride ?? topicFromName(resource['service.name']) ?? options.defaultTopic;
  const source = [resource['host.name'], resource['service.instance.id'], resource['service.name']].find(
    (value): value is string => typeof value === 'string' && value !== '',
  );
  return { topic, source: (source ?? 'otlp').slice(0, 256), resource, scope };
}

/**
 * One OTLP log record as a candidate event (validated afterwards like any /publish event).
 * event_id: the record's `log.record.uid` attribute, else a hash of everything the record and
 * its resource and scope carry, so a re-sent record dedups and two records differing in any
 * field do not.
 */
export function otlpRecordToEvent(record: OtlpLogRecord, context: OtlpRecordContext): Record<string, unknown> {
  const payload: { [key: string]: Json } = {};
  const put = (key: string, value: Json | undefined) => {
    if (value !== undefined) payload[key] = value;
  };
  put('body', anyValueToJson(record.body));
  put('severity_text', text(record.severityText));
  put('severity_number', count(record.severityNumber));
  put('event_name', text(record.eventName));
  const attributes = attributesToJson(record.attributes);
  if (Object.keys(attributes).length > 0) payload.attributes = attributes;
  put('trace_id', hex(record.traceId));
  put('span_id', hex(record.spanId));
  put('flags', typeof record.flags === 'number' && record.flags !== 0 ? record.flags : undefined);
  const time = nanos(record.timeUnixNano);
  const observed = nanos(record.observedTimeUnixNano);
  put('time_unix_nano', time);
  put('observed_time_unix_nano', observed);
  put('dropped_attributes_count', count(record.droppedAttributesCount));
  if (Object.keys(context.resource).length > 0) payload.resource = context.resource;
  if (context.scope) payload.scope = context.scope;

  const uid = attributes['log.record.uid'];
  return {
    topic: context.topic,
    event_id: typeof uid === 'string' && uid !== '' ? uid : recordId('otlp', JSON.stringify(payload)),
    // OTLP: an unset time means "use the observed time"; with neither, the time it reached us.
    timestamp: nanosToTimestamp(time ?? observed ?? nowNanos()) ?? undefined,
    source: context.source,
    payload,
  };
}

/** Every record of the request, in order, as candidate events. */
export function otlpToEvents(request: OtlpRequest, options: OtlpMappingOptions): Record<string, unknown>[] {
  const events: Record<string, unknown>[] = [];
  for (const resourceLogs of list<OtlpResourceLogs>(request.resourceLogs)) {
    for (const scopeLogs of list<OtlpScopeLogs>(resourceLogs?.scopeLogs)) {
      const context = resourceContext(resourceLogs, scopeLogs, options);
      for (const record of list<OtlpLogRecord>(scopeLogs?.logRecords)) {
        events.push(typeof record === 'object' && record !== null ? otlpRecordToEvent(record, context) : { topic: context.topic });
      }
    }
  }
  return events;
}

/**
 * What the shipper protocols share when they turn a record into our event: a topic from a name
 * the shipper chose (service, label, index), the caller's topic override, a deterministic
 * event_id for records that carry no id, and nanosecond Unix times as RFC 3339.
 */
import { createHash } from 'node:crypto';
import { ValidationError } from '../errors';
import { TOPIC_CHARS, TOPIC_MAX_LENGTH, TOPIC_RULE, isTopic } from '../api/contract';

const NOT_TOPIC_CHAR = new RegExp(`[^${TOPIC_CHARS}]`, 'g');

/**
 * A topic from a name the shipper chose, or null when nothing usable is left. Characters our
 * topic pattern does not allow become `_` (the OpenTelemetry SDK's default service name is
 * `unknown_service:node`), leading `.`/`_`/`-` are dropped, and the result is cut to 128.
 */
export function topicFromName(name: unknown): string | null {
  if (typeof name !== 'string') return null;
  const topic = name
    .replace(NOT_TOPIC_CHAR, '_')
    .replace(/^[._-]+/, '')
    .slice(0, TOPIC_MAX_LENGTH);
  return topic === '' ? null : topic;
}

/**
 * The caller's topic override: `?topic=` or the `X-Logbus-Topic` header (for shippers that
 * cannot add query parameters). It is configuration, not data, so an invalid one fails the
 * whole request rather than being rewritten.
 */
export function topicOverride(request: Request, query: Record<string, string | undefined>): string | null {
  const value = query.topic ?? request.headers.get('x-logbus-topic');
  if (value === undefined || value === null || value === '') return null;
  if (!isTopic(value)) {
    throw new ValidationError('invalid topic override', [{ index: null, field: 'topic', message: TOPIC_RULE }]);
  }
  return value;
}

/**
 * A deterministic event_id from a record's identity: the first 128 bits of SHA-256 over the
 * parts, each length-prefixed so that no two different part lists hash the same text. The same
 * record re-sent after a timeout gets the same id and is stored once.
 */
export function recordId(...parts: string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(`${part.length}:`).update(part);
  return hash.digest('hex').slice(0, 32);
}

const NANOS_PER_SECOND = 1_000_000_000n;

/** Unix nanoseconds (decimal text or bigint) as RFC 3339 UTC with all nine fraction digits; null when out of range. */
export function nanosToTimestamp(nanos: string | bigint): string | null {
  let value: bigint;
  try {
    value = typeof nanos === 'bigint' ? nanos : BigInt(nanos);
  } catch {
    return null;
  }
  // Year 1 .. 9999 is what RFC 3339 and PostgreSQL both take; fixed64 reaches past 2554 only.
  if (value < -62_135_596_800n * NANOS_PER_SECOND || value > 253_402_300_799n * NANOS_PER_SECOND) return null;
  const seconds = value / NANOS_PER_SECOND - (value % NANOS_PER_SECOND < 0n ? 1n : 0n);
  const fraction = value - seconds * NANOS_PER_SECOND;
  const whole = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  return `${whole}.${fraction.toString().padStart(9, '0')}Z`;
}

/** Now as Unix nanoseconds (millisecond precision), for records that carry no time at all. */
export function nowNanos(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

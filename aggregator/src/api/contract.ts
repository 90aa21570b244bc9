/**
 * The event contract. Each schema is both the validator and the OpenAPI description, and its
 * static type is the TypeScript type: one definition, no drift.
 */
import { FormatRegistry, Type as t } from '@sinclair/typebox';
import { timestampProblem } from './timestamp';

// The schema's `date-time` format is our strict RFC 3339 check, so the validator, the OpenAPI
// document and PostgreSQL's timestamptz parser all agree on what a timestamp is.
FormatRegistry.Set('date-time', (value) => timestampProblem(value) === null);

// What a topic name is, in one place: the Topic schema below, and through isTopic() and these
// constants for what checks or makes a name outside a request schema (config.ts, shipper records).
/** The characters a topic may hold (a regex character class body). */
export const TOPIC_CHARS = 'A-Za-z0-9._-';
export const TOPIC_PATTERN = `^[A-Za-z0-9][${TOPIC_CHARS}]*$`;
export const TOPIC_MAX_LENGTH = 128;
/** The rule in words, for error messages. */
export const TOPIC_RULE = `letters, digits, ".", "_" and "-", starting with a letter or digit, at most ${TOPIC_MAX_LENGTH}`;

const topicRegex = new RegExp(TOPIC_PATTERN);

/** Whether `value` is a valid topic name (the Topic schema's rule). */
export function isTopic(value: unknown): value is string {
  return typeof value === 'string' && value.length <= TOPIC_MAX_LENGTH && topicRegex.test(value);
}

export const Topic = t.String({
  minLength: 1,
  maxLength: TOPIC_MAX_LENGTH,
  pattern: TOPIC_PATTERN,
  description: 'Topic name: letters, digits, ".", "_" and "-", starting with a letter or digit.',
  examples: ['auth.login'],
});

export const Event = t.Object(
  {
    topic: Topic,
    event_id: t.String({ minLength: 1, maxLength: 256, description: 'Unique within the topic; the deduplication key.' }),
    timestamp: t.String({ format: 'date-time', description: 'RFC 3339 date-time with a time zone.' }),
    source: t.String({ minLength: 1, maxLength: 256 }),
    payload: t.Record(t.String(), t.Unknown(), { description: 'Any JSON object.' }),
  },
  { additionalProperties: false },
);
export type Event = typeof Event.static;

/** What POST /publish accepts as JSON; NDJSON carries one Event per line. */
export const PublishBody = t.Union([Event, t.Array(Event), t.Object({ events: t.Array(Event) })], {
  description: 'One event, an array of events, or {"events": [...]}. Also NDJSON (application/x-ndjson).',
});

/** An event as GET /events and GET /subscribe return it: the published fields plus its seq. */
export const StoredEvent = t.Composite([t.Object({ seq: t.Integer() }), Event]);

/** GET /stats. Every answer satisfies received == unique_processed + duplicate_dropped + pending. */
export const Stats = t.Object({
  received: t.Integer({ description: 'Events acknowledged with 202, duplicates included.' }),
  unique_processed: t.Integer({ description: 'Events stored: the first copy of each (topic, event_id).' }),
  duplicate_dropped: t.Integer({ description: 'Copies of an already stored (topic, event_id).' }),
  pending: t.Integer({ description: 'Acknowledged events not yet applied.' }),
  parked: t.Integer({ description: 'Of pending: events that failed to apply even alone, kept aside so their partition flows on.' }),
  expired: t.Integer({
    description:
      'Stored events removed since by retention (RETENTION, a topic override, or MAX_STORAGE_BYTES); stored = unique_processed - expired - deleted.',
  }),
  deleted: t.Integer({ description: 'Stored events removed by DELETE /topics/{topic}.' }),
  topics: t.Array(t.String(), { description: 'Topics with processed events (or a retention set by PUT /topics), sorted.' }),
  uptime: t.Number({ description: 'Seconds since this replica started (millisecond precision).' }),
});
export type Stats = typeof Stats.static;

export const PublishAccepted = t.Object({ accepted: t.Integer({ minimum: 1 }) });

export const ErrorBody = t.Object({
  error: t.String(),
  details: t.Optional(
    t.Array(
      t.Object({
        index: t.Union([t.Integer(), t.Null()], { description: 'Position of the event in the batch (line for NDJSON).' }),
        field: t.Union([t.String(), t.Null()]),
        message: t.String(),
      }),
    ),
  ),
});

/** GET /events: page through a topic's processed events. */
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { type TObject, Type as t } from '@sinclair/typebox';
import { Elysia } from 'elysia';
import type { Sql } from '../db/client';
import { type Detail, ValidationError } from '../errors';
import { ErrorBody, Event, Topic } from '../ingest/model';
import { jsonContent } from '../openapi';
import { readPage } from './read';
import { noteBytesMoved } from '../ops/gc-pacer';
import type { ReadBudget } from './read-budget';

export const MAX_PAGE = 1000;

export const EventsQuery = t.Object(
  {
    topic: Topic,
    after: t.Optional(t.Integer({ minimum: 0, description: 'Return events with seq greater than this (a previous next_after).' })),
    limit: t.Optional(t.Integer({ minimum: 1, maximum: MAX_PAGE, default: 100 })),
  },
  { additionalProperties: false },
);
export type EventsQuery = typeof EventsQuery.static;

export const StoredEvent = t.Composite([t.Object({ seq: t.Integer() }), Event]);

export const EventsPage = t.Object({
  topic: t.String(),
  events: t.Array(StoredEvent),
  next_after: t.Union([t.Integer(), t.Null()], {
    description:
      'Pass as `after` for the next page: the last seq returned, or the `after` given when the page is empty. A page holds up to `limit` events and stops early at MAX_PAGE_BYTES of payload (at least one event), so a short page does not mean the end: page until one comes back empty.',
  }),
});

const checkQuery = TypeCompiler.Compile(EventsQuery);

/**
 * Validates a query string against a schema and names the offending parameter. Elysia's own
 * query validation reports coercion failures without the parameter's name, so we do it here.
 */
export function parseQuery<T>(schema: TObject, check: { Check(v: unknown): boolean; Errors(v: unknown): Iterable<{ path: string; message: string }> }, raw: Record<string, string | undefined>): T {
  // Strict coercion: only a whole decimal number becomes an integer ("1.5" and "1e3" stay
  // strings and fail the check; TypeBox's Value.Convert would truncate them).
  const value: Record<string, unknown> = { ...raw };
  for (const [name, property] of Object.entries(schema.properties)) {
    const text = value[name];
    if ((property as { type?: string }).type === 'integer' && typeof text === 'string' && /^-?\d{1,15}$/.test(text)) {
      value[name] = Number(text);
    }
  }
  if (check.Check(value)) return value as T;
  const details: Detail[] = [];
  for (const error of check.Errors(value)) {
    const field = error.path.replace(/^\//, '') || null;
    if (!details.some((d) => d.field === field)) details.push({ index: null, field, message: error.message });
  }
  throw new ValidationError('invalid query parameters', details);
}

/** OpenAPI parameters for a query schema, so the docs come from the validating schema. */
export function queryParameters(schema: TObject) {
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties).map(([name, property]) => ({
    name,
    in: 'query' as const,
    required: required.has(name),
    schema: property,
    description: (property as { description?: string }).description,
  }));
}

/**
 * `maxPageBytes`: MAX_PAGE_BYTES, the payload bytes a page may hold (at least one event);
 * `budget`: the replica's bound on bytes held by reads at once.
 */
export function eventsRoutes(sql: Sql, maxPageBytes: number, budget: ReadBudget) {
  return new Elysia({ name: 'events' }).get(
    '/events',
    async ({ query }) => {
      const { topic, after, limit } = parseQuery<EventsQuery>(EventsQuery, checkQuery, query);
      const body = await budget.run(maxPageBytes, async () => {
        const page = await readPage(sql, topic, after ?? 0, limit ?? 100, maxPageBytes);
        const nextAfter = page.lastSeq ?? after ?? null;
        return Buffer.concat([Buffer.from(`{"topic":${JSON.stringify(topic)},"events":`), page.eventsJson, Buffer.from(`,"next_after":${nextAfter}}`)]);
      });
      noteBytesMoved(body.length);
      return new Response(body, {
        headers: { 'content-type': 'application/json' },
      });
    },
    {
      detail: {
        summary: 'Page through processed events of a topic',
        parameters: queryParameters(EventsQuery),
        responses: {
          200: { description: 'A page', content: jsonContent(EventsPage) },
          400: { description: 'Invalid topic, after or limit', content: jsonContent(ErrorBody) },
        },
      },
    },
  );
}

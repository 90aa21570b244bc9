/** GET /events: page through a topic's processed events. */
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Type as t } from '@sinclair/typebox';
import { Elysia } from 'elysia';
import type { Sql } from '../db/client';
import { ErrorBody, StoredEvent, Topic } from '../api/contract';
import { parseQuery, queryParameters } from '../api/query';
import { jsonContent } from '../openapi';
import { readPage } from './read';

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

export const EventsPage = t.Object({
  topic: t.String(),
  events: t.Array(StoredEvent),
  next_after: t.Union([t.Integer(), t.Null()], {
    description: 'Pass as `after` for the next page: the last seq returned, or the `after` given when the page is empty.',
  }),
});

const checkQuery = TypeCompiler.Compile(EventsQuery);

export function eventsRoutes(sql: Sql) {
  return new Elysia({ name: 'events' }).get(
    '/events',
    async ({ query }) => {
      const { topic, after, limit } = parseQuery<EventsQuery>(EventsQuery, checkQuery, query);
      const page = await readPage(sql, topic, after ?? 0, limit ?? 100);
      const nextAfter = page.lastSeq ?? after ?? null;
      return new Response(`{"topic":${JSON.stringify(topic)},"events":${page.eventsJson},"next_after":${nextAfter}}`, {
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

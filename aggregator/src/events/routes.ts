/** GET /events: page through a topic's processed events. */
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Type as t } from '@sinclair/typebox';
import { Elysia } from 'elysia';
import type { Sql } from '../db/client';
import { ErrorBody, StoredEvent, Topic } from '../api/contract';
import { parseQuery, queryParameters } from '../api/query';
import { jsonContent } from '../api/openapi';
import { readPage } from './read';
import { noteBytesMoved } from '../ops/gc-pacer';
import type { ReadBudget } from './read-budget';
import type { HorizonSource } from './horizon';

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
    description:
      'Pass as `after` for the next page: the last seq returned, or the `after` given when the page is empty. A page holds up to `limit` events and stops early at MAX_PAGE_BYTES of payload (at least one event), so a short page does not mean the end: page until one comes back empty.',
  }),
  first_available: t.Optional(
    t.Union([t.Integer(), t.Null()], {
      description:
        'Present only when events after `after` were removed by retention: the oldest kept event after `after` (the page starts there), or null when none is kept.',
    }),
  ),
  expired_through: t.Optional(t.Integer({ description: 'Present with first_available: every event of the topic up to this seq has expired.' })),
});

const checkQuery = TypeCompiler.Compile(EventsQuery);

/**
 * `maxPageBytes`: MAX_PAGE_BYTES, the payload bytes a page may hold (at least one event);
 * `budget`: the replica's bound on bytes held by reads at once; `horizon`: what reads see up to;
 * `sql`: where pages are read (the primary, or a standby with its own horizon: events/standby.ts).
 */
export function eventsRoutes(sql: Sql, maxPageBytes: number, budget: ReadBudget, horizon: HorizonSource) {
  return new Elysia({ name: 'events' }).get(
    '/events',
    async ({ query }) => {
      const { topic, after, limit } = parseQuery<EventsQuery>(EventsQuery, checkQuery, query);
      const bound = await horizon.current();
      const body = await budget.run(maxPageBytes, async () => {
        const page = await readPage(sql, bound, topic, after ?? 0, limit ?? 100, maxPageBytes);
        const nextAfter = page.lastSeq ?? after ?? null;
        const expiry = page.expiry ? `,"first_available":${page.expiry.firstAvailable},"expired_through":${page.expiry.expiredThrough}` : '';
        return Buffer.concat([
          Buffer.from(`{"topic":${JSON.stringify(topic)},"events":`),
          page.eventsJson,
          Buffer.from(`,"next_after":${nextAfter}${expiry}}`),
        ]);
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

/** GET /subscribe: a topic's events as Server-Sent Events, live, resumable by seq. */
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Type as t } from '@sinclair/typebox';
import { Elysia } from 'elysia';
import type { Sql } from '../db/client';
import { Draining, ValidationError, fromDatabaseError } from '../errors';
import { parseQuery, queryParameters } from '../events/routes';
import { ErrorBody, Topic } from '../ingest/model';
import { jsonContent } from '../openapi';
import type { SubscriptionHub } from './hub';
import { readHead } from './read';

export const SubscribeQuery = t.Object(
  {
    topic: Topic,
    after: t.Optional(
      t.Integer({
        minimum: 0,
        description: 'Start after this seq (0: the whole topic). Default: the current end of the topic. A Last-Event-ID header wins over it.',
      }),
    ),
    // ops/auth.ts reads it: a browser's EventSource cannot send an Authorization header.
    access_token: t.Optional(t.String({ description: 'Bearer token, for clients that cannot send headers (EventSource), when AUTH_TOKEN is set.' })),
  },
  { additionalProperties: false },
);
export type SubscribeQuery = typeof SubscribeQuery.static;

const checkQuery = TypeCompiler.Compile(SubscribeQuery);

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  // nginx and similar proxies must pass events through as they come, not buffer them.
  'x-accel-buffering': 'no',
};

// After our final event, a client that no longer reads is disconnected this many seconds later.
const LINGER_AFTER_OVERFLOW_S = 10;
// Draining: stalled subscribers must not hold the drain, which waits for open requests.
const LINGER_AFTER_SHUTDOWN_S = 1;

/** The Last-Event-ID header as a seq; null when absent. */
export function parseLastEventId(header: string | null): number | null {
  if (header === null || header.trim() === '') return null;
  const text = header.trim();
  if (!/^\d{1,15}$/.test(text)) {
    throw new ValidationError('invalid Last-Event-ID', [{ index: null, field: 'Last-Event-ID', message: 'expected a seq: a non-negative integer' }]);
  }
  return Number(text);
}

export interface SubscribeDeps {
  sql: Sql;
  hub: SubscriptionHub;
  isDraining: () => boolean;
}

const DESCRIPTION = `Server-Sent Events (text/event-stream) for one topic, in seq order with no gaps.

- Each event is one message: \`id: <seq>\` and \`data: <event JSON>\`, the event exactly as an item of GET /events.
- The stream opens with \`retry: 1000\` and \`id: <start seq>\` (no data), so a client reconnecting before any event arrived resumes from where it started.
- Start: the \`Last-Event-ID\` header (what EventSource sends when it reconnects), else \`after\`, else the current end of the topic (only new events). \`after=0\` replays the topic from its start.
- New events reach subscribers on every replica within about a second of being processed.
- \`: ping\` comments every 15 s when there is nothing else to send.
- A subscriber that stops reading while events wait for it, for about 5 s in all since it last caught up, gets \`event: overflow\` with \`data: {"reason", "last_event_id"}\` and the stream ends: reconnect with Last-Event-ID. A replica shutting down ends its streams with \`event: shutdown\` the same way. Neither final message carries an \`id\`.
- To read a large history quickly, page with GET /events and subscribe with \`after\` set to the last seq read.`;

export function subscribeRoutes({ sql, hub, isDraining }: SubscribeDeps) {
  return new Elysia({ name: 'subscribe' }).get(
    '/subscribe',
    async ({ query, request, server }) => {
      const { topic, after } = parseQuery<SubscribeQuery>(SubscribeQuery, checkQuery, query);
      const resumeFrom = parseLastEventId(request.headers.get('last-event-id')) ?? after;
      if (isDraining() || hub.isClosed) throw new Draining();
      let start: number;
      try {
        start = resumeFrom ?? (await readHead(sql, topic));
      } catch (error) {
        throw fromDatabaseError(error);
      }
      if (isDraining() || hub.isClosed) throw new Draining();
      // Bun closes connections idle for 10 s by default; a quiet topic's stream is idle for up to
      // a heartbeat interval, so this connection gets no idle limit while it streams.
      server?.timeout(request, 0);
      const subscription = hub.open(topic, start, (reason) => {
        if (reason !== 'cancelled') server?.timeout(request, reason === 'shutdown' ? LINGER_AFTER_SHUTDOWN_S : LINGER_AFTER_OVERFLOW_S);
      });
      return new Response(subscription.stream, { headers: SSE_HEADERS });
    },
    {
      detail: {
        summary: 'Subscribe to a topic (Server-Sent Events)',
        description: DESCRIPTION,
        parameters: [
          ...queryParameters(SubscribeQuery),
          {
            name: 'Last-Event-ID',
            in: 'header' as const,
            required: false,
            schema: { type: 'integer', minimum: 0 },
            description: 'Resume after this seq: the id of the last message received. Wins over `after`.',
          },
        ],
        responses: {
          200: {
            description: 'The event stream',
            content: { 'text/event-stream': { schema: { type: 'string', description: 'SSE messages: `id: <seq>`, `data: <event JSON>`; `event: overflow|shutdown` at the end.' } } },
          },
          400: { description: 'Invalid topic, after or Last-Event-ID', content: jsonContent(ErrorBody) },
          401: { description: 'Missing or wrong bearer token', content: jsonContent(ErrorBody) },
          503: { description: 'Storage unavailable or replica draining; honour Retry-After', content: jsonContent(ErrorBody) },
        },
      },
    },
  );
}

/** GET /subscribe: a topic's events as Server-Sent Events, live, resumable by seq. */
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Type as t } from '@sinclair/typebox';
import { Elysia } from 'elysia';
import { Draining, ValidationError } from '../errors';
import { parseQuery, queryParameters } from '../api/query';
import { ErrorBody, Topic } from '../api/contract';
import { jsonContent } from '../api/openapi';
import { grantOf } from '../auth/guard';
import type { SubscriptionHub } from './hub';
import type { Expiry } from '../events/read';

/** `event: expired` (no id: the client's last event id stays where it was). */
function expiredMessage(lastEventId: number, expiry: Expiry): string {
  const data = {
    reason: 'events after last_event_id were removed by retention',
    last_event_id: lastEventId,
    expired_through: expiry.expiredThrough,
    first_available: expiry.firstAvailable,
  };
  return `event: expired\ndata: ${JSON.stringify(data)}\n\n`;
}

export const SubscribeQuery = t.Object(
  {
    topic: Topic,
    after: t.Optional(
      t.Integer({
        minimum: 0,
        description: 'Start after this seq (0: the whole topic). Default: the current end of the topic. A Last-Event-ID header wins over it.',
      }),
    ),
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
  hub: SubscriptionHub;
  isDraining: () => boolean;
}

const DESCRIPTION = `Server-Sent Events (text/event-stream) for one topic, in seq order with no gaps.

- Each event is one message: \`id: <seq>\` and \`data: <event JSON>\`, the event exactly as an item of GET /events.
- The stream opens with \`retry: 1000\` and \`id: <start seq>\` (no data), so a client reconnecting before any event arrived resumes from where it started.
- Start: the \`Last-Event-ID\` header (what EventSource sends when it reconnects), else \`after\`, else the current end of the topic (only new events). \`after=0\` replays the topic from its start.
- Resuming (Last-Event-ID or \`after\`) from a point whose following events were removed by retention: the first message is \`event: expired\` with \`data: {"reason", "last_event_id", "expired_through", "first_available"}\` (no \`id\`), then the kept events follow.
- New events reach subscribers on every replica within about a second of being processed.
- \`: ping\` comments every 15 s when there is nothing else to send.
- A subscriber that stops reading while events wait for it, for about 5 s in all since it last caught up, gets \`event: overflow\` with \`data: {"reason", "last_event_id"}\` and the stream ends: reconnect with Last-Event-ID. A replica shutting down ends its streams with \`event: shutdown\` the same way. Neither final message carries an \`id\`.
- To read a large history quickly, page with GET /events and subscribe with \`after\` set to the last seq read.`;

export function subscribeRoutes({ hub, isDraining }: SubscribeDeps) {
  return new Elysia({ name: 'subscribe' }).get(
    '/subscribe',
    async ({ query, request, server }) => {
      const { topic, after } = parseQuery<SubscribeQuery>(SubscribeQuery, checkQuery, query);
      const resumeFrom = parseLastEventId(request.headers.get('last-event-id')) ?? after;
      if (isDraining() || hub.isClosed) throw new Draining();
      // HEAD gets the headers and no stream: a body nobody reads must not hold a subscriber slot
      // (Bun never cancels a HEAD response's stream on some routing paths; seen with dot segments).
      if (request.method === 'HEAD') return new Response(null, { headers: SSE_HEADERS });
      // Counted per token name; without auth, per client address (a proxy in front shares one).
      const release = hub.caps.acquire(grantOf(request)?.name ?? `ip:${server?.requestIP(request)?.address ?? 'unknown'}`);
      let start: number;
      let preamble = '';
      try {
        start = resumeFrom ?? (await hub.head(topic));
        // Resuming from an id whose successors expired: say so before the first kept event.
        const expiry = resumeFrom === undefined ? null : await hub.expiry(topic, start);
        if (expiry) preamble = expiredMessage(start, expiry);
      } catch (error) {
        release();
        throw error;
      }
      // The drain may have begun while the head was read.
      if (isDraining() || hub.isClosed) {
        release();
        throw new Draining();
      }
      // Bun closes connections idle for 10 s by default; a quiet topic's stream is idle for up to
      // a heartbeat interval, so this connection gets no idle limit while it streams.
      server?.timeout(request, 0);
      const subscription = hub.open(
        topic,
        start,
        (reason) => {
          release();
          if (reason !== 'cancelled') server?.timeout(request, reason === 'shutdown' ? LINGER_AFTER_SHUTDOWN_S : LINGER_AFTER_OVERFLOW_S);
        },
        preamble,
      );
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
            content: {
              'text/event-stream': {
                schema: { type: 'string', description: 'SSE messages: `id: <seq>`, `data: <event JSON>`; `event: overflow|shutdown` at the end.' },
              },
            },
          },
          400: { description: 'Invalid topic, after or Last-Event-ID', content: jsonContent(ErrorBody) },
          401: { description: 'Missing or wrong bearer token', content: jsonContent(ErrorBody) },
          403: { description: 'The token lacks the read scope', content: jsonContent(ErrorBody) },
          429: {
            description: 'Subscriber cap reached (SUBSCRIBE_MAX, SUBSCRIBE_MAX_PER_TOKEN); honour Retry-After',
            content: jsonContent(ErrorBody),
          },
          503: { description: 'Storage unavailable or replica draining; honour Retry-After', content: jsonContent(ErrorBody) },
        },
      },
    },
  );
}

/**
 * The Loki query API (docs/QUERY.md): what Grafana's Loki data source calls, answered from the
 * events table. HTTP only; engine.ts does the work. Every route needs the `read` scope
 * (auth/access.ts).
 */
import { Elysia } from 'elysia';
import { QueryRejected } from '../errors';
import type { QueryEngine } from './engine';
import type { Query } from './params';

const BUILD_INFO = {
  // The Loki API version whose behaviour this follows; Grafana reads it to pick features.
  version: '2.9.0',
  revision: 'logbus',
  branch: 'logbus',
  buildUser: 'logbus',
  buildDate: '',
  goVersion: '',
};

/** Every query parameter, repeated ones (`match[]`) as arrays. */
function queryOf(request: Request): Query {
  const query: Query = {};
  for (const [name, value] of new URL(request.url, 'http://localhost').searchParams) {
    const existing = query[name];
    query[name] = existing === undefined ? value : [existing, value].flat();
  }
  return query;
}

function encodingFlags(request: Request): string[] {
  const header = request.headers.get('x-loki-response-encoding-flags') ?? '';
  return header
    .split(',')
    .map((flag) => flag.trim())
    .filter((flag) => flag !== '');
}

const json = (body: unknown) => new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json; charset=utf-8' } });

export function queryRoutes(engine: QueryEngine) {
  const tails = new Map<string, { start(): Promise<void>; stop(): void }>();
  // Bun closes a connection that sends nothing for 10 s; a query may run up to its time limit.
  const idleSeconds = Math.ceil(engine.limits.timeoutMs / 1000) + 10;
  return new Elysia({ name: 'query' })
    .onBeforeHandle(({ request, server }) => {
      server?.timeout(request, idleSeconds);
    })
    .get('/loki/api/v1/query_range', async ({ request }) => json(await engine.queryRange(queryOf(request), encodingFlags(request))), {
      detail: { summary: 'Loki API: a LogQL log or metric query over a time range', tags: ['query'] },
    })
    .get('/loki/api/v1/query', async ({ request }) => json(await engine.instantQuery(queryOf(request), encodingFlags(request))), {
      detail: { summary: 'Loki API: a LogQL query at one instant', tags: ['query'] },
    })
    .get('/loki/api/v1/labels', async ({ request }) => json(await engine.labels(queryOf(request))), {
      detail: { summary: 'Loki API: label names seen in a time range', tags: ['query'] },
    })
    .get('/loki/api/v1/label/:name/values', async ({ request, params }) => json(await engine.labelValues(params.name, queryOf(request))), {
      detail: { summary: "Loki API: a label's values seen in a time range", tags: ['query'] },
    })
    .get('/loki/api/v1/series', async ({ request }) => json(await engine.series(queryOf(request))), {
      detail: { summary: 'Loki API: label sets of the streams matching match[]', tags: ['query'] },
    })
    .get('/loki/api/v1/index/stats', async ({ request }) => json(await engine.indexStats(queryOf(request))), {
      detail: { summary: 'Loki API: streams, entries and bytes a selector covers', tags: ['query'] },
    })
    .ws('/loki/api/v1/tail', {
      async open(ws) {
        try {
          const tail = engine.openTail(queryOf(ws.data.request), (frame) => ws.send(frame));
          tails.set(ws.id, tail);
          await tail.start();
        } catch (error) {
          // Loki closes a tail it cannot run with the reason; 1008: policy violation (a bad query).
          ws.close(error instanceof QueryRejected ? 1008 : 1011, (error as Error).message.slice(0, 120));
        }
      },
      close(ws) {
        tails.get(ws.id)?.stop();
        tails.delete(ws.id);
      },
      detail: { summary: 'Loki API: live tail over a WebSocket (Grafana Live)', tags: ['query'] },
    })
    .get('/loki/api/v1/status/buildinfo', () => json(BUILD_INFO), {
      detail: { summary: 'Loki API: version information Grafana reads', tags: ['query'] },
    });
}

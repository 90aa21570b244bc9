/**
 * GET / — the dashboard: static HTML, CSS and ES modules read once at start, no build step and no
 * CDN (the page must work on a cluster without internet access). The files carry no data, so
 * they need no token; GET /dashboard/overview does, like every other data route.
 */
import { readFileSync } from 'node:fs';
import { Elysia } from 'elysia';
import type { Sql } from '../db/client';
import type { ReadHorizon } from '../events/horizon';
import { readDatabaseHealth } from '../db/health';
import { TopicCounter } from './topic-counts';

const ASSETS = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/dashboard/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/dashboard/chart.js': ['chart.js', 'text/javascript; charset=utf-8'],
  '/dashboard/style.css': ['style.css', 'text/css; charset=utf-8'],
  // The API reference, drawn from /openapi/json by a script of ours (no CDN renderer).
  '/openapi': ['api-reference.html', 'text/html; charset=utf-8'],
  '/openapi/reference.js': ['api-reference.js', 'text/javascript; charset=utf-8'],
} as const;

/** Paths of the static files; auth/access.ts lists each as public. */
export const DASHBOARD_ASSET_PATHS: readonly string[] = Object.keys(ASSETS);

const HEADERS = {
  'cache-control': 'no-cache',
  'x-content-type-options': 'nosniff',
  // Same-origin only: the page loads nothing from elsewhere and no other site may frame it.
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
};

export interface DashboardOptions {
  /**
   * Answers GET / for a client that does not ask for HTML (no text/html in Accept): the
   * Elasticsearch compatibility answer (ingest/elastic/respond.ts), which shippers request
   * from the root of the URL they are given. Browsers always send text/html.
   */
  rootForClients?: () => Response;
  /** What the per-topic counts read up to (the replica's read horizon). */
  horizon: ReadHorizon;
}

const wantsHtml = (request: Request) => (request.headers.get('accept') ?? '').includes('text/html');

export function dashboardRoutes(sql: Sql, { rootForClients, horizon }: DashboardOptions) {
  const counter = new TopicCounter(sql, horizon);
  let app = new Elysia({ name: 'dashboard' });
  for (const [path, [file, type]] of Object.entries(ASSETS)) {
    const body = readFileSync(new URL(file, import.meta.url), 'utf8');
    const page = () => new Response(body, { headers: { ...HEADERS, 'content-type': type } });
    const handler = path === '/' && rootForClients ? ({ request }: { request: Request }) => (wantsHtml(request) ? page() : rootForClients()) : page;
    app = app.get(path, handler, { detail: { hide: true } });
  }
  return app.get(
    '/dashboard/overview',
    async () => {
      const [counts, health] = await Promise.all([counter.read(), readDatabaseHealth(sql)]);
      return {
        lag_seconds: health.oldestPendingAgeSeconds,
        inbox_dead_tuples: health.inboxDeadTuples,
        oldest_transaction_seconds: health.oldestTransactionAgeSeconds,
        topics: counts.topics,
        topics_truncated: counts.truncated,
      };
    },
    {
      detail: {
        summary: 'Dashboard data: events stored per topic, processing lag, inbox health',
        description: 'Per-topic counts are exact and kept incrementally per replica (see dashboard/topic-counts.ts).',
      },
    },
  );
}

/**
 * Who may call which route: the one table the auth guard (auth/guard.ts) reads.
 *
 * Keys are `METHOD /route` with the route exactly as registered in Elysia (`/topics/:topic`,
 * not a URL): the guard looks the MATCHED route up here, never a path parsed from the URL. HEAD
 * is looked up as GET. Values:
 * - `public`: no token (probes, the dashboard's static files, the API description: no data);
 * - `metrics`: GET /metrics: public unless METRICS_AUTH=true, then a `read` or `metrics` token;
 * - a scope (`publish`, `read`, `admin`): a token holding that scope.
 *
 * Deny by default: a route missing from this table needs `admin`, and a request that matches no
 * route needs a valid token before it learns that (401, then 404).
 *
 * Adding a route: add one row here in the same commit, e.g.
 *   'POST /v1/logs': 'publish',        // OTLP ingest
 *   'GET /topics': 'read',
 *   'PUT /topics/:topic': 'admin',
 * test/integration/auth-shapes.test.ts ("the table") walks every registered route and fails for
 * one without a row, so a forgotten row is caught (it would be admin-only meanwhile, never open).
 */
import type { Scope } from './tokens';

export type Access = 'public' | 'metrics' | Exclude<Scope, 'metrics'>;

export const ROUTE_ACCESS: Readonly<Record<string, Access>> = {
  // Probes: kubelet holds no secret; they say nothing about the data.
  'GET /health': 'public',
  'GET /ready': 'public',
  // Prometheus scrape; shows topic names (see docs/OPERATIONS.md "Threat model and auth").
  'GET /metrics': 'metrics',
  // Dashboard markup, script and style: no data; its API calls carry the token.
  'GET /': 'public',
  'GET /dashboard/app.js': 'public',
  'GET /dashboard/chart.js': 'public',
  'GET /dashboard/style.css': 'public',
  // The API description: the same as the README, no data. Public also because
  // @elysiajs/openapi prints any error of its spec route with console.log (not JSON, not our
  // logger): a guarded spec let every stranger's request add raw lines to the log.
  'GET /openapi': 'public',
  'GET /openapi/json': 'public',
  'GET /openapi/reference.js': 'public',

  'POST /publish': 'publish',
  // Shipper protocols (ingest/otlp, ingest/loki, ingest/elastic): the same as /publish.
  'POST /v1/logs': 'publish',
  'POST /loki/api/v1/push': 'publish',
  'POST /_bulk': 'publish',
  'PUT /_bulk': 'publish',
  'POST /:index/_bulk': 'publish',
  'PUT /:index/_bulk': 'publish',

  'GET /events': 'read',
  'GET /subscribe': 'read',
  'GET /stats': 'read',
  'GET /dashboard/overview': 'read',
  'GET /topics': 'read',
  // The Loki query API (query/routes.ts): reads events like GET /events.
  'GET /loki/api/v1/query_range': 'read',
  'GET /loki/api/v1/query': 'read',
  'GET /loki/api/v1/labels': 'read',
  'GET /loki/api/v1/label/:name/values': 'read',
  'GET /loki/api/v1/series': 'read',
  'GET /loki/api/v1/index/stats': 'read',
  'GET /loki/api/v1/status/buildinfo': 'read',
  // The live tail: a WebSocket upgrade, a GET (Elysia lists the route as WS; auth sees GET).
  'GET /loki/api/v1/tail': 'read',

  // Changes how long every copy of a topic's events is kept: an operator's decision.
  'PUT /topics/:topic': 'admin',
  // Removes stored events for good.
  'DELETE /topics/:topic': 'admin',
};

/** Access a matched route needs; routes not in the table need `admin`. */
export function accessFor(method: string, route: string): Access {
  const verb = method === 'HEAD' ? 'GET' : method;
  return ROUTE_ACCESS[`${verb} ${route}`] ?? 'admin';
}

/**
 * Per-request id, one log line per request at most, and the HTTP metrics.
 *
 * The id is the caller's X-Request-Id when it looks like an id (so a trace can cross a proxy or
 * the publisher), else a fresh UUID; it is returned as `x-request-id` on every response, errors
 * included. Successful requests log at debug only: at the default level the publish path writes
 * no log line and does no logging work beyond pino's level check. Failed requests log at info
 * (4xx) or warn (503); a 500 is logged once by app.ts's onError, with its cause.
 *
 * Only the path is logged, cut at any `?` (Elysia's path of an odd request target, e.g. an
 * absolute-form one, is not trusted to be query-free), never the query string or a header: a
 * client may put a token there by mistake. The token's configured name is logged, not the token.
 */
import { Elysia } from 'elysia';
import type { Logger } from '../log';
import { grantOf } from '../auth/guard';
import type { Metrics } from './metrics/metrics';
import type { DatabaseOutage } from './outage';

const SANE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

interface RequestInfo {
  id: string;
  started: number;
  error?: unknown;
}

const requests = new WeakMap<Request, RequestInfo>();

/** The id given to `request` (empty when the request never passed this plugin). */
export function requestIdOf(request: Request): string {
  return requests.get(request)?.id ?? '';
}

/** When `request` arrived (performance.now()); undefined when it never passed this plugin. */
export function requestStartOf(request: Request): number | undefined {
  return requests.get(request)?.started;
}

/** Remembers the error a request ended with, for its log line (app.ts's onError calls this). */
export function noteError(request: Request, error: unknown): void {
  const info = requests.get(request);
  if (info) info.error = error;
}

/** The path without any query string, at most 256 characters. */
export function loggablePath(path: string): string {
  const query = path.indexOf('?');
  return (query === -1 ? path : path.slice(0, query)).slice(0, 256);
}

function levelFor(status: number): 'debug' | 'info' | 'warn' | null {
  // 429 is flow control the publisher expects, not news; 500 was logged by onError already.
  if (status < 400 || status === 429) return 'debug';
  if (status === 500) return null;
  return status >= 500 ? 'warn' : 'info';
}

export interface RequestLogDeps {
  log: Logger;
  metrics?: Pick<Metrics, 'observeRequest'>;
  /** While the database is known to be down (ops/outage.ts logged it once), its 503s log at debug. */
  outage?: Pick<DatabaseOutage, 'covers'>;
}

export function requestLog({ log, metrics, outage }: RequestLogDeps) {
  return new Elysia({ name: 'request-log' })
    .onRequest(({ request, set }) => {
      const incoming = request.headers.get('x-request-id');
      const id = incoming !== null && SANE_ID.test(incoming) ? incoming : crypto.randomUUID();
      requests.set(request, { id, started: performance.now() });
      set.headers['x-request-id'] = id;
    })
    .onAfterResponse({ as: 'global' }, ({ request, path, route, set, responseValue }) => {
      const info = requests.get(request);
      if (!info) return;
      // A handler that returns a Response sets its status there; app.ts's onError keeps
      // set.status in step for errors.
      const status = responseValue instanceof Response ? responseValue.status : typeof set.status === 'number' ? set.status : 200;
      const seconds = (performance.now() - info.started) / 1000;
      metrics?.observeRequest(request.method, route, status, seconds);
      // A 503 of a known outage was logged once (ops/outage.ts); one of /ready is its answer while
      // starting or draining, which the kubelet asks every few seconds.
      const level = status === 503 && (outage?.covers(info.started) || route === '/ready') ? 'debug' : levelFor(status);
      if (level !== null && log.isLevelEnabled(level)) {
        const line: Record<string, unknown> = {
          reqId: info.id,
          method: request.method,
          path: loggablePath(path),
          status,
          ms: Math.round(seconds * 10_000) / 10,
        };
        const token = grantOf(request)?.name;
        if (token !== undefined) line.token = token;
        // A 503 keeps its cause (the driver error behind it); a 4xx says what was wrong.
        if (status >= 500) line.err = info.error;
        else if (info.error instanceof Error) line.error = info.error.message;
        log[level](line, 'request');
      }
    });
}

/**
 * Bearer-token auth, on when AUTH_TOKEN lists at least one token.
 *
 * - Every route needs `Authorization: Bearer <token>` except the probes and the scrape
 *   (/health, /ready, /metrics: kubelet and Prometheus hold no secret, and they expose no event
 *   data) and the dashboard's static files (markup and script, no data; its API calls carry the
 *   token).
 * - Several tokens are accepted at once so a token can be rotated without downtime: add the new
 *   one, roll clients over, remove the old one.
 * - Comparison is constant-time: both sides are hashed to 32-byte SHA-256 digests (equal
 *   lengths, as timingSafeEqual needs, without revealing the token's length) and every
 *   configured token is compared, match or not.
 * - GET /subscribe also takes the token as `?access_token=`, because a browser's EventSource
 *   cannot send headers. The price: URLs end up in proxy access logs and browser history, so
 *   that form is accepted on /subscribe only, and our own request log never records query
 *   strings. Prefer the header wherever the client can set one.
 *
 * The check runs in onRequest, before routing and body parsing: a request without a valid token
 * costs one hash, never a body read or a query.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Elysia } from 'elysia';
import { Unauthorized } from '../errors';

/** Paths anyone may GET. */
export const OPEN_PATHS: readonly string[] = ['/health', '/ready', '/metrics'];

const BEARER = /^Bearer[ \t]+([^\s,]+)[ \t]*$/i;

/** The path of an absolute request URL, without the query string. */
export function pathOf(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2);
  if (start === -1) return '/';
  const query = url.indexOf('?', start);
  return query === -1 ? url.slice(start) : url.slice(start, query);
}

const digest = (token: string) => createHash('sha256').update(token).digest();

/** True when `presented` equals one of the configured token digests; constant-time per token. */
export function tokenMatches(digests: readonly Buffer[], presented: string): boolean {
  const candidate = digest(presented);
  let matched = false;
  for (const expected of digests) matched = timingSafeEqual(expected, candidate) || matched;
  return matched;
}

/** The bearer token of `request`, from the header or, on /subscribe only, the query string. */
export function presentedToken(request: Request, path: string): string | null {
  const header = request.headers.get('authorization');
  if (header !== null) return BEARER.exec(header)?.[1] ?? null;
  if (path === '/subscribe') return new URL(request.url).searchParams.get('access_token');
  return null;
}

export interface AuthOptions {
  tokens: readonly string[];
  /** Paths that need no token besides OPEN_PATHS (the dashboard's static files). */
  publicPaths?: readonly string[];
}

/** The auth guard; a plugin without hooks when no token is configured. */
export function authGuard({ tokens, publicPaths = [] }: AuthOptions) {
  const plugin = new Elysia({ name: 'auth' });
  if (tokens.length === 0) return plugin;
  const digests = tokens.map(digest);
  const open = new Set([...OPEN_PATHS, ...publicPaths]);
  return plugin.onRequest(({ request }) => {
    const path = pathOf(request.url);
    if (open.has(path) && (request.method === 'GET' || request.method === 'HEAD')) return;
    const token = presentedToken(request, path);
    if (token === null) throw new Unauthorized('missing bearer token: send Authorization: Bearer <token>');
    if (!tokenMatches(digests, token)) throw new Unauthorized('invalid bearer token');
  });
}

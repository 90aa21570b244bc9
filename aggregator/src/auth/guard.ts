/**
 * Bearer-token auth with scopes, on when at least one token is configured (auth/tokens.ts).
 *
 * What a request needs is decided from the route Elysia MATCHED (`route`, the pattern as
 * registered) looked up in auth/access.ts, never from a second parse of the URL: Bun hands a
 * request without a usable Host header (or an HTTP/1.0 one) a URL that is only a path, and a
 * re-parse of it once turned `GET /stats` into `/`, which was public. Three checkpoints:
 * - onRequest: a request that carries a body and no valid token is refused before routing, so
 *   no route's body is read for a stranger. No public route takes a body, so this decides
 *   nothing about routes; it only makes the refusal cheap.
 * - onTransform (global, before validation and the handler): the matched route's access row.
 * - unmatched requests never reach a route hook (Elysia's NOT_FOUND skips them): app.ts's
 *   onError asks `checkUnmatched`, so an unknown path gets 401 without a token, 404 with one.
 *
 * Tokens are only read from the Authorization header: a query string ends up in proxy logs and
 * browser history. Comparison is constant-time: both sides are hashed to 32-byte SHA-256
 * digests (equal lengths, as timingSafeEqual needs, without revealing the token's length) and
 * every configured token is compared, match or not.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Elysia } from 'elysia';
import { Forbidden, Unauthorized } from '../errors';
import { type Access, accessFor } from './access';
import type { Scope, TokenGrant } from './tokens';

const BEARER = /^Bearer[ \t]+([^\s,]+)[ \t]*$/i;

const digest = (token: string) => createHash('sha256').update(token).digest();

/** The bearer token of `request`'s Authorization header; null when absent or malformed. */
export function presentedToken(request: Request): string | null {
  const header = request.headers.get('authorization');
  return header === null ? null : (BEARER.exec(header)?.[1] ?? null);
}

/** Scopes that satisfy an access row (`public` needs none). */
function scopesFor(access: Exclude<Access, 'public'>): readonly Scope[] {
  return access === 'metrics' ? ['read', 'metrics'] : [access];
}

const grants = new WeakMap<Request, TokenGrant>();

/** The token a request was authorised with (its name and scopes); undefined when auth is off or the route is public. */
export function grantOf(request: Request): TokenGrant | undefined {
  return grants.get(request);
}

export interface AuthOptions {
  tokens: readonly TokenGrant[];
  /** GET /metrics needs a `read` or `metrics` token. */
  metricsAuth?: boolean;
}

export class Authenticator {
  private readonly entries: { digest: Buffer; grant: TokenGrant }[];

  constructor(private readonly options: AuthOptions) {
    this.entries = options.tokens.map((grant) => ({ digest: digest(grant.token), grant }));
  }

  get enabled(): boolean {
    return this.entries.length > 0;
  }

  /** The grant whose token equals `presented`; every token is compared, in constant time each. */
  match(presented: string): TokenGrant | null {
    const candidate = digest(presented);
    let found: TokenGrant | null = null;
    for (const entry of this.entries) if (timingSafeEqual(entry.digest, candidate) && found === null) found = entry.grant;
    return found;
  }

  /** The request's grant; throws 401 when the token is missing or unknown. */
  authenticate(request: Request): TokenGrant {
    const token = presentedToken(request);
    if (token === null) {
      const malformed = request.headers.has('authorization');
      throw new Unauthorized(
        malformed ? 'malformed Authorization header: send Authorization: Bearer <token>' : 'missing bearer token: send Authorization: Bearer <token>',
      );
    }
    const grant = this.match(token);
    if (grant === null) throw new Unauthorized('invalid bearer token');
    return grant;
  }

  /** Checks a request against its matched route's access row; throws 401 or 403. */
  authorize(request: Request, method: string, route: string): void {
    if (!this.enabled) return;
    const access = accessFor(method, route);
    if (access === 'public' || (access === 'metrics' && !this.options.metricsAuth)) return;
    const grant = grants.get(request) ?? this.authenticate(request);
    grants.set(request, grant);
    const needed = scopesFor(access);
    if (!needed.some((scope) => grant.scopes.includes(scope))) {
      throw new Forbidden(`token "${grant.name}" lacks the ${needed.join(' or ')} scope needed for ${method === 'HEAD' ? 'GET' : method} ${route}`);
    }
  }

  /** For a request that matched no route: 401 unless it carries a valid token (then 404 stands). */
  checkUnmatched(request: Request): void {
    if (this.enabled && !grants.has(request)) grants.set(request, this.authenticate(request));
  }
}

/** A body is coming: Content-Length above 0 or a chunked Transfer-Encoding. */
function hasBody(request: Request): boolean {
  const length = request.headers.get('content-length');
  return (length !== null && length.trim() !== '0') || request.headers.has('transfer-encoding');
}

/** The auth guard; a plugin without hooks when no token is configured. */
export function authGuard(auth: Authenticator) {
  const plugin = new Elysia({ name: 'auth' });
  if (!auth.enabled) return plugin;
  return plugin
    .onRequest(({ request }) => {
      if (hasBody(request)) grants.set(request, auth.authenticate(request));
    })
    .onTransform({ as: 'global' }, ({ request, route }) => auth.authorize(request, request.method, route));
}

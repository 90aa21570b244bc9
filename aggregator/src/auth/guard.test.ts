/**
 * The guard without a server: a route missing from the access table needs `admin`, and which
 * strings count as a token. The HTTP side (401/403 bodies, every route, raw request shapes) is in
 * test/integration/auth.test.ts and auth-shapes.test.ts.
 */
import { describe, expect, test } from 'bun:test';
import { Elysia } from 'elysia';
import { loadConfig } from '../config';
import { AppError } from '../errors';
import { ROUTE_ACCESS, accessFor } from './access';
import { Authenticator, authGuard, presentedToken } from './guard';

const OLD_TOKEN = 'old-token-0123456789abcdef';
const NEW_TOKEN = 'new-token-fedcba9876543210';
const WRONG_TOKEN = 'new-token-fedcba9876543211';
const READER = 'reader-token-0123456789abc';
const config = (env: Record<string, string>) => loadConfig({ LOG_LEVEL: 'silent', ...env });

describe('deny by default', () => {
  const UNLISTED = '/unlisted/:topic';
  const admin = 'admin-token-0123456789abcd';
  const app = () => {
    const auth = new Authenticator({ tokens: config({ AUTH_TOKENS: `ops:admin:${admin},r:read:${READER}` }).authTokens });
    return (
      new Elysia()
        .use(authGuard(auth))
        .onError(({ error, set }) => {
          if (error instanceof AppError) return error.toResponse();
          set.status = 500;
          return 'unexpected';
        })
        // Not in auth/access.ts: the kind of route other features will add.
        .delete(UNLISTED, ({ params }) => ({ topic: params.topic }))
        .get('/health', () => 'ok')
    );
  };

  test('a route missing from the access table needs the admin scope', async () => {
    // Positive control: the route really has no row (any method), so only the fallback decides.
    expect(Object.keys(ROUTE_ACCESS).filter((key) => key.endsWith(` ${UNLISTED}`))).toEqual([]);
    expect(accessFor('DELETE', UNLISTED)).toBe('admin');
    const a = app();
    const remove = (token?: string) =>
      a.handle(new Request('http://localhost/unlisted/orders', { method: 'DELETE', headers: token ? { authorization: `Bearer ${token}` } : {} }));
    expect((await remove()).status).toBe(401);
    expect((await remove(READER)).status).toBe(403);
    const allowed = await remove(admin);
    expect(allowed.status).toBe(200);
    expect(await allowed.json()).toEqual({ topic: 'orders' });
    expect((await a.handle(new Request('http://localhost/health'))).status).toBe(200);
  });

  test('HEAD is looked up as GET; every public row is a GET', () => {
    expect(accessFor('HEAD', '/health')).toBe('public');
    expect(accessFor('HEAD', '/stats')).toBe('read');
    for (const [key, access] of Object.entries(ROUTE_ACCESS)) if (access === 'public') expect(key.startsWith('GET /')).toBe(true);
  });
});

describe('token checks', () => {
  const auth = new Authenticator({
    tokens: config({ AUTH_TOKEN: `${OLD_TOKEN},${NEW_TOKEN}`, AUTH_TOKENS: `r:read:${READER}` }).authTokens,
  });

  test('every configured token matches its grant; prefixes, extensions and other strings do not', () => {
    expect(auth.match(OLD_TOKEN)?.name).toBe('auth-token-1');
    expect(auth.match(NEW_TOKEN)?.scopes).toEqual(['publish', 'read', 'admin', 'metrics']);
    expect(auth.match(READER)).toEqual({ name: 'r', scopes: ['read'], token: READER });
    for (const other of ['', OLD_TOKEN.slice(0, 8), `${OLD_TOKEN}x`, WRONG_TOKEN, OLD_TOKEN.toUpperCase()]) {
      expect(auth.match(other)).toBeNull();
    }
  });

  test('the token comes from the Authorization header only', () => {
    const request = (url: string, authorization?: string) => new Request(url, authorization ? { headers: { authorization } } : undefined);
    expect(presentedToken(request('http://h/stats', `Bearer ${OLD_TOKEN}`))).toBe(OLD_TOKEN);
    expect(presentedToken(request('http://h/stats', `Bearer  ${OLD_TOKEN}  `))).toBe(OLD_TOKEN);
    expect(presentedToken(request(`http://h/subscribe?topic=a&access_token=${OLD_TOKEN}`))).toBeNull();
    expect(presentedToken(request('http://h/stats', 'Token abc'))).toBeNull();
  });
});

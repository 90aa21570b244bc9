/**
 * Tokens and scopes: AUTH_TOKEN means every scope, AUTH_TOKENS grants named tokens some scopes;
 * a missing or wrong token is 401, a valid one without the scope 403, both with a JSON error;
 * several tokens at once (rotation); the probes and the dashboard's files are public, /metrics
 * too unless METRICS_AUTH=true. Deny by default and the token checks, which need no server, are
 * in src/auth/guard.test.ts; the request shapes a URL re-parse once let through are in
 * auth-shapes.test.ts (raw sockets).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { DASHBOARD_ASSET_PATHS } from '../../src/dashboard/routes';
import { type TestAggregator, makeEvent, startTestAggregator, testConfig } from '../support/harness';

const OLD_TOKEN = 'old-token-0123456789abcdef';
const NEW_TOKEN = 'new-token-fedcba9876543210';
const WRONG_TOKEN = 'new-token-fedcba9876543211';
const READER = 'reader-token-0123456789abc';
const PUBLISHER = 'publisher-token-0123456789';
const SCRAPER = 'scraper-token-0123456789ab';

let agg: TestAggregator;

beforeAll(async () => {
  agg = await startTestAggregator({
    AUTH_TOKEN: ` ${OLD_TOKEN} , ${NEW_TOKEN} `,
    AUTH_TOKENS: `dashboards:read:${READER},\n services:publish:${PUBLISHER}, prometheus:metrics:${SCRAPER}`,
  });
}, 60_000);
afterAll(async () => {
  await agg.close();
}, 30_000);

interface Route {
  method: string;
  path: string;
  body?: () => string;
  /** The status with a sufficient token. */
  ok: number;
  /** Tokens that suffice besides the all-scope ones; null: every valid token (no route matches). */
  allowed: string[] | null;
}

const ROUTES: Route[] = [
  { method: 'POST', path: '/publish', body: () => JSON.stringify(makeEvent({ topic: 'auth' })), ok: 202, allowed: [PUBLISHER] },
  { method: 'GET', path: '/events?topic=auth', ok: 200, allowed: [READER] },
  { method: 'GET', path: '/stats', ok: 200, allowed: [READER] },
  { method: 'GET', path: '/dashboard/overview', ok: 200, allowed: [READER] },
  { method: 'GET', path: '/no-such-route', ok: 404, allowed: null },
];

function send(route: Route, authorization?: string): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (authorization !== undefined) headers.authorization = authorization;
  return agg.request(route.path, { method: route.method, headers, body: route.body?.() });
}

async function expectRefused(response: Response, status: 401 | 403): Promise<string> {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toContain('application/json');
  if (status === 401) expect(response.headers.get('www-authenticate')).toBe('Bearer');
  const body = (await response.json()) as { error: string };
  expect(body.error).toMatch(status === 401 ? /bearer token|Authorization/ : /lacks the .* scope/);
  return body.error;
}

describe('with tokens configured', () => {
  for (const route of ROUTES) {
    test(`${route.method} ${route.path}: no token, a wrong or malformed one → 401; a token without the scope → 403; the scope or AUTH_TOKEN → ${route.ok}`, async () => {
      await expectRefused(await send(route), 401);
      await expectRefused(await send(route, `Bearer ${WRONG_TOKEN}`), 401);
      await expectRefused(await send(route, `Bearer ${OLD_TOKEN.slice(0, -1)}`), 401);
      await expectRefused(await send(route, `Basic ${btoa(`user:${OLD_TOKEN}`)}`), 401);
      await expectRefused(await send(route, `Bearer ${OLD_TOKEN} extra`), 401);
      for (const token of [OLD_TOKEN, NEW_TOKEN, READER, PUBLISHER, SCRAPER]) {
        const response = await send(route, `Bearer ${token}`);
        const passes = route.allowed === null || token === OLD_TOKEN || token === NEW_TOKEN || route.allowed.includes(token);
        if (passes) {
          expect({ token, status: response.status }).toEqual({ token, status: route.ok });
          await response.arrayBuffer();
        } else {
          const error = await expectRefused(response, 403);
          // The body names the token by its configured name, never the token.
          expect(error).not.toContain(token);
        }
      }
      // The scheme is case-insensitive (RFC 7235).
      expect((await send(route, `bearer ${NEW_TOKEN}`)).status).toBe(route.ok);
    });
  }

  test('a 403 says which token lacks which scope, by name', async () => {
    const error = await expectRefused(await agg.request('/stats', { headers: { authorization: `Bearer ${PUBLISHER}` } }), 403);
    expect(error).toBe('token "services" lacks the read scope needed for GET /stats');
  });

  test('the probes, the scrape, the dashboard page and the API description need no token', async () => {
    for (const path of ['/health', '/ready', '/metrics', '/openapi', '/openapi/json', ...DASHBOARD_ASSET_PATHS]) {
      const response = await agg.request(path);
      expect({ path, status: response.status }).toEqual({ path, status: 200 });
    }
    // …but only to read: another method on an open path matches no route and needs a token
    // (then it learns the path's methods: 405 with Allow).
    await expectRefused(await agg.request('/metrics', { method: 'POST' }), 401);
    const post = await agg.request('/metrics', { method: 'POST', headers: { authorization: `Bearer ${READER}` } });
    expect({ status: post.status, allow: post.headers.get('allow') }).toEqual({ status: 405, allow: 'GET, HEAD' });
  });

  test('a request with a body and no valid token is refused before the body is read (a huge body gets 401, not 413)', async () => {
    const response = await agg.request('/publish', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: 'x'.repeat(8 * 1024 * 1024),
    });
    await expectRefused(response, 401);
  });

  test('GET /subscribe: no token or a wrong one → 401, a publish-only token → 403, a read token → the stream', async () => {
    await expectRefused(await agg.request('/subscribe?topic=auth'), 401);
    await expectRefused(await agg.request('/subscribe?topic=auth', { headers: { authorization: `Bearer ${WRONG_TOKEN}` } }), 401);
    await expectRefused(await agg.request('/subscribe?topic=auth', { headers: { authorization: `Bearer ${PUBLISHER}` } }), 403);
    const opened: Response[] = [];
    for (const token of [OLD_TOKEN, NEW_TOKEN, READER]) {
      opened.push(await agg.request('/subscribe?topic=auth', { headers: { authorization: `Bearer ${token}` } }));
    }
    for (const response of opened) {
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/event-stream');
      await response.body?.cancel();
    }
  });

  test('?access_token= is no credential anywhere: 401 without the header, and refused as an unknown parameter with it', async () => {
    for (const path of ['/subscribe?topic=auth', '/stats', '/events?topic=auth', '/dashboard/overview']) {
      const sep = path.includes('?') ? '&' : '?';
      await expectRefused(await agg.request(`${path}${sep}access_token=${NEW_TOKEN}`), 401);
    }
    const response = await agg.request(`/subscribe?topic=auth&access_token=${READER}`, { headers: { authorization: `Bearer ${READER}` } });
    expect(response.status).toBe(400);
    // The error names the parameter, never its value.
    const text = await response.text();
    expect(text).toContain('access_token');
    expect(text).not.toContain(READER);
  });
});

describe('METRICS_AUTH=true', () => {
  test('GET /metrics needs a read or metrics token: none or a wrong one → 401, publish-only → 403', async () => {
    const guarded = await startTestAggregator(
      { AUTH_TOKENS: `r:read:${READER},p:publish:${PUBLISHER},m:metrics:${SCRAPER}`, METRICS_AUTH: 'true' },
      agg.db,
    );
    try {
      const get = (token?: string) => guarded.request('/metrics', token ? { headers: { authorization: `Bearer ${token}` } } : undefined);
      await expectRefused(await get(), 401);
      await expectRefused(await get(WRONG_TOKEN), 401);
      await expectRefused(await get(PUBLISHER), 403);
      for (const token of [READER, SCRAPER]) {
        const response = await get(token);
        expect(response.status).toBe(200);
        expect(await response.text()).toContain('logbus_');
      }
      // The metrics scope opens nothing else.
      await expectRefused(await guarded.request('/stats', { headers: { authorization: `Bearer ${SCRAPER}` } }), 403);
      // The probes stay open.
      expect((await guarded.request('/health')).status).toBe(200);
    } finally {
      await guarded.close();
    }
  }, 30_000);

  test('METRICS_AUTH=true without any token is a configuration error', () => {
    expect(() => testConfig({ METRICS_AUTH: 'true' })).toThrow(/METRICS_AUTH=true needs tokens/);
  });
});

describe('without tokens', () => {
  test('every route answers without a token', async () => {
    const open = await startTestAggregator({}, agg.db);
    try {
      for (const route of ROUTES) {
        const response = await open.request(route.path, {
          method: route.method,
          headers: { 'content-type': 'application/json' },
          body: route.body?.(),
        });
        expect({ path: route.path, status: response.status }).toEqual({ path: route.path, status: route.ok });
        await response.arrayBuffer();
      }
    } finally {
      await open.close();
    }
  }, 30_000);

  test('POST /publish without a Content-Type is 415 with a JSON error, so no cross-site simple request can publish', async () => {
    const open = await startTestAggregator({}, agg.db);
    try {
      const before = await open.stats();
      const response = await open.request('/publish', { method: 'POST', body: new Blob([JSON.stringify(makeEvent({ topic: 'csrf' }))]) });
      expect(response.status).toBe(415);
      expect(((await response.json()) as { error: string }).error).toContain('missing Content-Type');
      expect((await open.stats()).received).toBe(before.received);
    } finally {
      await open.close();
    }
  }, 30_000);
});

/**
 * AUTH_TOKEN: every route but the probes, the scrape and the dashboard's static files answers 401
 * with a JSON error unless it gets `Authorization: Bearer <one of the tokens>`; two tokens are
 * valid at once (rotation); EventSource's `?access_token=` works on /subscribe only.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { OPEN_PATHS, pathOf, presentedToken, tokenMatches } from '../../src/ops/auth';
import { DASHBOARD_ASSET_PATHS } from '../../src/dashboard/routes';
import { type TestAggregator, makeEvent, startTestAggregator } from '../support/harness';
import { createHash } from 'node:crypto';

const OLD_TOKEN = 'old-token-0123456789abcdef';
const NEW_TOKEN = 'new-token-fedcba9876543210';
const WRONG_TOKEN = 'new-token-fedcba9876543211';

let agg: TestAggregator;

beforeAll(async () => {
  agg = await startTestAggregator({ AUTH_TOKEN: ` ${OLD_TOKEN} , ${NEW_TOKEN} ` });
}, 60_000);
afterAll(async () => {
  await agg.close();
}, 30_000);

interface Route {
  method: string;
  path: string;
  body?: () => string;
  /** The status with a valid token. */
  ok: number;
}

const PROTECTED: Route[] = [
  { method: 'POST', path: '/publish', body: () => JSON.stringify(makeEvent({ topic: 'auth' })), ok: 202 },
  { method: 'GET', path: '/events?topic=auth', ok: 200 },
  { method: 'GET', path: '/stats', ok: 200 },
  { method: 'GET', path: '/dashboard/overview', ok: 200 },
  { method: 'GET', path: '/openapi/json', ok: 200 },
  { method: 'GET', path: '/no-such-route', ok: 404 },
];

function send(route: Route, authorization?: string): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (authorization !== undefined) headers.authorization = authorization;
  return agg.request(route.path, { method: route.method, headers, body: route.body?.() });
}

async function expectUnauthorized(response: Response) {
  expect(response.status).toBe(401);
  expect(response.headers.get('content-type')).toContain('application/json');
  expect(response.headers.get('www-authenticate')).toBe('Bearer');
  const body = (await response.json()) as { error: string };
  expect(body.error).toMatch(/bearer token/);
}

describe('with AUTH_TOKEN set', () => {
  for (const route of PROTECTED) {
    test(`${route.method} ${route.path}: no token, a wrong one or a malformed header → 401; either rotated token → ${route.ok}`, async () => {
      await expectUnauthorized(await send(route));
      await expectUnauthorized(await send(route, `Bearer ${WRONG_TOKEN}`));
      await expectUnauthorized(await send(route, `Bearer ${OLD_TOKEN.slice(0, -1)}`));
      await expectUnauthorized(await send(route, `Basic ${btoa(`user:${OLD_TOKEN}`)}`));
      await expectUnauthorized(await send(route, `Bearer ${OLD_TOKEN} extra`));
      for (const token of [OLD_TOKEN, NEW_TOKEN]) {
        const response = await send(route, `Bearer ${token}`);
        expect(response.status).toBe(route.ok);
        await response.arrayBuffer();
      }
      // The scheme is case-insensitive (RFC 7235).
      expect((await send(route, `bearer ${NEW_TOKEN}`)).status).toBe(route.ok);
    });
  }

  test('the probes, the scrape and the dashboard page need no token', async () => {
    for (const path of [...OPEN_PATHS, ...DASHBOARD_ASSET_PATHS]) {
      const response = await agg.request(path);
      expect({ path, status: response.status }).toEqual({ path, status: 200 });
    }
    // …but only to read: another method on an open path still needs the token.
    await expectUnauthorized(await agg.request('/metrics', { method: 'POST' }));
  });

  test('a request without a token is refused before its body is read (a huge body gets 401, not 413)', async () => {
    const response = await agg.request('/publish', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: 'x'.repeat(8 * 1024 * 1024),
    });
    await expectUnauthorized(response);
  });

  test('GET /subscribe: no token or a wrong one → 401; either token as a header or as ?access_token= → the stream', async () => {
    await expectUnauthorized(await agg.request('/subscribe?topic=auth'));
    await expectUnauthorized(await agg.request(`/subscribe?topic=auth&access_token=${WRONG_TOKEN}`));
    await expectUnauthorized(await agg.request('/subscribe?topic=auth', { headers: { authorization: `Bearer ${WRONG_TOKEN}` } }));
    const opened: Response[] = [];
    for (const token of [OLD_TOKEN, NEW_TOKEN]) {
      opened.push(await agg.request(`/subscribe?topic=auth&access_token=${token}`));
      opened.push(await agg.request('/subscribe?topic=auth', { headers: { authorization: `Bearer ${token}` } }));
    }
    for (const response of opened) {
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/event-stream');
      await response.body?.cancel();
    }
  });

  test('?access_token= is accepted on /subscribe only, where EventSource cannot send a header', async () => {
    await expectUnauthorized(await agg.request(`/stats?access_token=${NEW_TOKEN}`));
    await expectUnauthorized(await agg.request(`/events?topic=auth&access_token=${NEW_TOKEN}`));
    await expectUnauthorized(await agg.request(`/dashboard/overview?access_token=${NEW_TOKEN}`));
  });
});

describe('token checks', () => {
  const digests = [OLD_TOKEN, NEW_TOKEN].map((t) => createHash('sha256').update(t).digest());

  test('every configured token matches; prefixes, extensions and other strings do not', () => {
    expect(tokenMatches(digests, OLD_TOKEN)).toBe(true);
    expect(tokenMatches(digests, NEW_TOKEN)).toBe(true);
    for (const other of ['', OLD_TOKEN.slice(0, 8), `${OLD_TOKEN}x`, WRONG_TOKEN, OLD_TOKEN.toUpperCase()]) {
      expect(tokenMatches(digests, other)).toBe(false);
    }
  });

  test('the token comes from the header, or from the query on /subscribe only', () => {
    const request = (url: string, authorization?: string) =>
      new Request(url, authorization ? { headers: { authorization } } : undefined);
    expect(presentedToken(request('http://h/stats', `Bearer ${OLD_TOKEN}`), '/stats')).toBe(OLD_TOKEN);
    expect(presentedToken(request('http://h/stats', `Bearer  ${OLD_TOKEN}  `), '/stats')).toBe(OLD_TOKEN);
    expect(presentedToken(request(`http://h/stats?access_token=${OLD_TOKEN}`), '/stats')).toBeNull();
    expect(presentedToken(request(`http://h/subscribe?topic=a&access_token=${OLD_TOKEN}`), '/subscribe')).toBe(OLD_TOKEN);
    expect(presentedToken(request('http://h/stats', 'Token abc'), '/stats')).toBeNull();
  });

  test('the path is read without the query string', () => {
    expect(pathOf('http://localhost/health')).toBe('/health');
    expect(pathOf('http://localhost:8080/metrics?x=/health')).toBe('/metrics');
    expect(pathOf('http://localhost:8080')).toBe('/');
    expect(pathOf('http://localhost:8080/?a=b')).toBe('/');
  });
});

describe('without AUTH_TOKEN', () => {
  test('every route answers without a token', async () => {
    const open = await startTestAggregator();
    try {
      for (const route of PROTECTED) {
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
});

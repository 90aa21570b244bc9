/**
 * What a person scripting logbus meets first: a wrong method says which one is right (405 with
 * Allow, JSON body), /stats and /topics print values as the docs write them, and every page the
 * server serves loads only same-origin scripts and styles (it must work without internet).
 */
import type { Stats } from '../../src/api/contract';
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestDatabase } from '../../local/postgres';
import { spawnAggregator } from '../../local/process';
import { type TestAggregator, startTestAggregator } from '../support/harness';

const TOKEN = 'first-hour-token-0123456789';
let agg: TestAggregator;
const auth = { authorization: `Bearer ${TOKEN}` };

beforeAll(async () => {
  agg = await startTestAggregator({ AUTH_TOKEN: TOKEN });
}, 60_000);
afterAll(async () => {
  await agg?.close();
}, 30_000);

describe('wrong methods', () => {
  test('a known path with another method is 405 with Allow and a JSON body; an unknown path stays 404', async () => {
    const cases: [method: string, path: string, allow: string][] = [
      ['GET', '/publish', 'POST'],
      ['PUT', '/publish', 'POST'],
      ['POST', '/stats', 'GET, HEAD'],
      ['DELETE', '/events?topic=x', 'GET, HEAD'],
      ['POST', '/topics/some-topic', 'DELETE, PUT'],
      ['GET', '/v1/logs', 'POST'],
    ];
    for (const [method, path, allow] of cases) {
      const response = await agg.request(path, { method, headers: auth });
      const what = `${method} ${path}`;
      expect({ what, status: response.status, allow: response.headers.get('allow') }).toEqual({ what, status: 405, allow });
      expect(response.headers.get('content-type')).toBe('application/json');
      expect(((await response.json()) as { error: string }).error).toBe(
        `${method} is not allowed on ${path.split('?')[0]}; use ${allow.replace(', ', ' or ')}`,
      );
    }
    // Positive controls: the right method reaches the route; no path, no 405; no token, 401 first.
    expect((await agg.request('/stats', { headers: auth })).status).toBe(200);
    expect((await agg.request('/no-such-route', { method: 'POST', headers: auth })).status).toBe(404);
    expect((await agg.request('/publish', { method: 'GET' })).status).toBe(401);
  });
});

describe('values as the docs write them', () => {
  test('/stats uptime has at most millisecond precision; /topics prints the default retention as 7d', async () => {
    const stats = (await (await agg.request('/stats', { headers: auth })).json()) as { uptime: number };
    expect(stats.uptime).toBeGreaterThan(0);
    expect(Math.round(stats.uptime * 1000) / 1000).toBe(stats.uptime);
    const topics = (await (await agg.request('/topics', { headers: auth })).json()) as { retention: string; dedup_window: string };
    expect(topics).toMatchObject({ retention: '7d', dedup_window: '7d' });
  });
});

describe('the same over a real socket', () => {
  test('a real process (Bun.serve, as npm start runs it): 405 with Allow, uptime in ms, retention as 7d', async () => {
    const db = await createTestDatabase('first-hour-process');
    const proc = await spawnAggregator({ DATABASE_URL: db.url, AUTH_TOKEN: TOKEN });
    try {
      await proc.waitReady(60_000);
      const get = (path: string) => fetch(`${proc.url}${path}`, { headers: auth });
      const wrong = await get('/publish');
      expect({ status: wrong.status, allow: wrong.headers.get('allow') }).toEqual({ status: 405, allow: 'POST' });
      expect(((await wrong.json()) as { error: string }).error).toBe('GET is not allowed on /publish; use POST');
      const { uptime } = (await (await get('/stats')).json()) as { uptime: number };
      expect(uptime).toBeGreaterThan(0);
      expect(Math.round(uptime * 1000) / 1000).toBe(uptime);
      expect(await (await get('/topics')).json()).toMatchObject({ retention: '7d', dedup_window: '7d' });
    } finally {
      proc.kill('SIGTERM');
      await proc.exited;
      await db.drop();
    }
  }, 120_000);
});

describe('pages without internet', () => {
  const PAGES = ['/', '/openapi'];

  test('every page links only same-origin scripts, styles and images', async () => {
    for (const page of PAGES) {
      const response = await agg.request(page, { headers: { accept: 'text/html' } });
      expect({ page, status: response.status }).toEqual({ page, status: 200 });
      const html = await response.text();
      const references = [...html.matchAll(/\b(?:src|href)\s*=\s*["']([^"']*)["']/gi)].map((m) => m[1]!);
      // Positive control: the page does load a script and a stylesheet of its own.
      expect(references.some((r) => r.endsWith('.js'))).toBe(true);
      for (const reference of references) {
        const url = new URL(reference, 'http://logbus.invalid/');
        const sameOrigin = url.origin === 'http://logbus.invalid' || url.protocol === 'data:';
        expect({ page, reference, sameOrigin }).toEqual({ page, reference, sameOrigin: true });
        if (url.origin === 'http://logbus.invalid') {
          const asset = await agg.request(url.pathname);
          expect({ page, reference, status: asset.status }).toEqual({ page, reference, status: 200 });
        }
      }
    }
  });

  test('/openapi is our page over /openapi/json (public, no token)', async () => {
    const html = await (await agg.request('/openapi')).text();
    expect(html).toContain('/openapi/reference.js');
    expect(html).toContain('href="/openapi/json"');
    const spec = (await (await agg.request('/openapi/json')).json()) as { paths: Record<string, Record<string, { summary?: string }>> };
    expect(spec.paths['/topics/{topic}']?.delete?.summary).toBe('Delete a topic and its stored events');
  });
});

describe('DELETE /topics/{topic}', () => {
  test('removes the stored events and the topic, keeps its dedup keys, leaves other topics and keeps /stats exact', async () => {
    const event = (topic: string, id: string) => ({ topic, event_id: id, timestamp: '2026-01-01T00:00:00Z', source: 'first-hour', payload: { id } });
    const doomed = Array.from({ length: 5 }, (_, i) => event('doomed', `d-${i}`));
    const kept = Array.from({ length: 3 }, (_, i) => event('kept', `k-${i}`));
    const publish = (events: unknown[]) =>
      agg.request('/publish', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(events) });
    const stats = async () => (await (await agg.request('/stats', { headers: auth })).json()) as Stats;
    const drained = async () => {
      for (let current = await stats(); ; current = await stats()) if (current.pending === 0) return current;
    };
    expect((await publish([...doomed, ...kept])).status).toBe(202);
    await drained();
    const page = async (topic: string) =>
      ((await (await agg.request(`/events?topic=${topic}&limit=100`, { headers: auth })).json()) as { events: unknown[] }).events;
    // The dashboard's per-topic count (kept incrementally per replica) must follow the delete.
    const counted = async (topic: string) => {
      const overview = (await (await agg.request('/dashboard/overview', { headers: auth })).json()) as {
        topics: { topic: string; events: number }[];
      };
      return overview.topics.find((t) => t.topic === topic)?.events ?? null;
    };
    const countIs = async (topic: string, want: number | null) => {
      for (let i = 0; i < 100 && (await counted(topic)) !== want; i++) await Bun.sleep(100);
      expect({ topic, events: await counted(topic) }).toEqual({ topic, events: want });
    };
    // Positive control: both are stored (and counted) before.
    expect((await page('doomed')).length).toBe(5);
    await countIs('doomed', 5);
    const before = await stats();

    const response = await agg.request('/topics/doomed', { method: 'DELETE', headers: auth });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { topic: string; deleted: number; dedup_keys: string };
    expect(body).toMatchObject({ topic: 'doomed', deleted: 5 });
    expect(body.dedup_keys).toContain('DEDUP_WINDOW=7d');

    expect(await page('doomed')).toEqual([]);
    expect((await page('kept')).length).toBe(3);
    const listed = (await (await agg.request('/topics', { headers: auth })).json()) as { topics: { topic: string }[] };
    expect(listed.topics.map((t) => t.topic)).toEqual(['kept']);
    const after = await stats();
    expect(after).toMatchObject({ deleted: before.deleted + 5, unique_processed: before.unique_processed, topics: ['kept'] });
    const stored = async () => Number((await agg.aggregator.sql`SELECT count(*)::int AS n FROM events`)[0]!.n);
    expect(await stored()).toBe(after.unique_processed - after.expired - after.deleted);

    // A copy of a deleted event is still a duplicate; a new event id starts the topic again.
    expect((await publish([doomed[0], event('doomed', 'd-new')])).status).toBe(202);
    const again = await drained();
    expect(again.duplicate_dropped).toBe(after.duplicate_dropped + 1);
    expect(((await page('doomed')) as { event_id: string }[]).map((e) => e.event_id)).toEqual(['d-new']);
    await countIs('doomed', 1);
    await countIs('kept', 3);

    expect((await agg.request('/topics/never-was', { method: 'DELETE', headers: auth })).status).toBe(404);
    expect((await agg.request('/topics/doomed', { method: 'DELETE' })).status).toBe(401);
  });
});

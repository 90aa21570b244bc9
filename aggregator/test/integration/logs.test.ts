/**
 * Logs: JSON lines, a request id on every response and in every request's line, at most one line
 * per request (none for a successful publish at the default level), errors with their cause, and
 * readable lines on a terminal.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import postgres from 'postgres';
import { type Aggregator, createAggregator } from '../../src/aggregator';
import type { LogLevel } from '../../src/config';
import { createLogger } from '../../src/log';
import { waitFor } from '../support/faults';
import { makeEvents, testConfig } from '../support/harness';
import { type TestDatabase, createTestDatabase } from '../../local/postgres';

interface Captured {
  aggregator: Aggregator;
  lines: Record<string, unknown>[];
  request(path: string, init?: RequestInit): Promise<Response>;
}

let db: TestDatabase;
const running: Aggregator[] = [];
const unstarted: Aggregator[] = [];

/** An aggregator whose log lines are captured (each must parse as one JSON object). */
async function capture(level: LogLevel, databaseUrl = db.url, start = true, env: Record<string, string> = {}): Promise<Captured> {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger(level, {
    pretty: false,
    write: (line) => {
      expect(line.endsWith('\n')).toBe(true);
      expect(line.indexOf('\n')).toBe(line.length - 1);
      lines.push(JSON.parse(line));
    },
  });
  const aggregator = createAggregator(testConfig({ LOG_LEVEL: level, ...env }), databaseUrl, log);
  if (start) {
    await aggregator.start();
    running.push(aggregator);
  } else {
    unstarted.push(aggregator);
  }
  const request = (path: string, init?: RequestInit) => aggregator.app.handle(new Request(`http://localhost${path}`, init));
  return { aggregator, lines, request };
}

const publish = (events: unknown[], headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(events),
});

const requestLines = (lines: Record<string, unknown>[]) => lines.filter((l) => l.msg === 'request' || l.msg === 'unhandled error');

/**
 * The request line is written after the response went out: wait until a line with `reqId`
 * arrived (a loaded machine may take a while), then a little longer so a second one would show.
 */
async function settled(lines: Record<string, unknown>[], reqId: string): Promise<void> {
  for (const deadline = Date.now() + 5_000; !lines.some((l) => l.reqId === reqId) && Date.now() < deadline; ) await Bun.sleep(10);
  await Bun.sleep(100);
}

beforeAll(async () => {
  db = await createTestDatabase('logs');
}, 60_000);
afterAll(async () => {
  for (const aggregator of running) {
    await aggregator.drain(2_000);
    await aggregator.close();
  }
  // Never connected: nothing to drain or wait for.
  for (const aggregator of unstarted) await aggregator.sql.end({ timeout: 0 });
  await db.drop();
}, 30_000);

describe('request ids', () => {
  test('every response carries x-request-id: a sane incoming one is kept, anything else replaced by a UUID', async () => {
    const { request } = await capture('silent');
    const kept = await request('/health', { headers: { 'x-request-id': 'trace-42.a:b_c' } });
    expect(kept.headers.get('x-request-id')).toBe('trace-42.a:b_c');
    for (const bad of ['has space', 'x'.repeat(129), 'quote"d;', '']) {
      const response = await request('/health', { headers: { 'x-request-id': bad } });
      expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
    const first = (await request('/stats')).headers.get('x-request-id');
    const second = (await request('/stats')).headers.get('x-request-id');
    expect(first).not.toBe(second);
    // Errors too.
    expect((await request('/no-such-route')).headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect((await request('/publish', publish([{}]))).headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('one line per request at most', () => {
  test('a not-ready answer to a readiness probe is a debug line: probes poll it through every start and drain', async () => {
    const quiet = await capture('info', db.url, false);
    const probed = await quiet.request('/ready');
    // Positive control: it is a 503 (not started, so not migrated), which other routes log at warn.
    expect(probed.status).toBe(503);
    const loud = await capture('debug', db.url, false);
    const seen = await loud.request('/ready');
    await settled(loud.lines, seen.headers.get('x-request-id')!);
    expect(requestLines(loud.lines).map((l) => [l.level, l.status])).toEqual([[20, 503]]);
    await settled(quiet.lines, 'none');
    expect(requestLines(quiet.lines)).toEqual([]);
  });

  test('at info, a successful publish of 500 events writes no line at all', async () => {
    const { request, lines } = await capture('info');
    const before = lines.length;
    expect((await request('/publish', publish(makeEvents(500, 5, 'quiet')))).status).toBe(202);
    // Nothing should come: give a line that would come time to arrive.
    await Bun.sleep(200);
    expect(lines.slice(before)).toEqual([]);
  });

  test('at debug, a publish of 500 events writes exactly one line, with its request id, status and duration', async () => {
    const { request, lines } = await capture('debug');
    const before = lines.length;
    const response = await request('/publish', publish(makeEvents(500, 5, 'debug'), { 'x-request-id': 'pub-1' }));
    expect(response.status).toBe(202);
    await settled(lines, 'pub-1');
    const mine = lines.slice(before).filter((l) => l.reqId === 'pub-1');
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ level: 20, msg: 'request', method: 'POST', path: '/publish', status: 202, pid: process.pid });
    expect(typeof mine[0]!.ms).toBe('number');
    expect(typeof mine[0]!.time).toBe('string');
    // Nothing mentions single events (the workers' debug output is per batch, if any).
    expect(lines.slice(before).some((l) => JSON.stringify(l).includes('debug-42'))).toBe(false);
  });

  test('a rejected request is logged at info with what was wrong; the query string is never logged', async () => {
    const { request, lines } = await capture('info');
    const before = lines.length;
    const response = await request('/events?topic=bad%20topic&access_token=secret-in-query', { headers: { 'x-request-id': 'bad-1' } });
    expect(response.status).toBe(400);
    await settled(lines, 'bad-1');
    const mine = requestLines(lines.slice(before));
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ level: 30, reqId: 'bad-1', path: '/events', status: 400, error: 'invalid query parameters' });
    expect(JSON.stringify(lines)).not.toContain('secret-in-query');
  });
});

describe('errors', () => {
  test('an unexpected error is logged once at error with the request id, which the 500 body returns', async () => {
    // A database of its own, broken in a way no error class covers: /stats loses a table.
    const broken = await createTestDatabase('logs_broken');
    try {
      const { request, lines } = await capture('info', broken.url);
      const admin = postgres(broken.url, { max: 1, onnotice: () => {} });
      await admin`ALTER TABLE topics RENAME TO topics_gone`;
      await admin.end();
      const before = lines.length;
      const response = await request('/stats', { headers: { 'x-request-id': 'boom-1' } });
      expect(response.status).toBe(500);
      expect(await response.json()).toEqual({ error: 'internal error', request_id: 'boom-1' });
      await settled(lines, 'boom-1');
      const mine = requestLines(lines.slice(before)).filter((l) => l.reqId === 'boom-1');
      expect(mine).toHaveLength(1);
      expect(mine[0]).toMatchObject({ level: 50, msg: 'unhandled error', path: '/stats', method: 'GET' });
      const err = mine[0]!.err as Record<string, unknown>;
      expect(err.message).toContain('topics');
      expect(err.code).toBe('42P01');
      expect(typeof err.stack).toBe('string');
    } finally {
      const aggregator = running.pop()!;
      await aggregator.drain(2_000);
      await aggregator.close();
      await broken.drop();
    }
  }, 30_000);

  test('a 503 of a database outage: the outage is one warn line with its cause, each request a debug line with its own', async () => {
    // Nothing listens on port 1: the pool's connect fails at once.
    const { request, lines } = await capture('debug', 'postgres://nobody@127.0.0.1:1/none', false);
    for (const id of ['down-1', 'down-2']) {
      const response = await request('/stats', { headers: { 'x-request-id': id } });
      expect(response.status).toBe(503);
      await settled(lines, id);
    }
    const outage = lines.filter((l) => l.msg === 'database unreachable, retrying');
    expect(outage).toHaveLength(1);
    expect(outage[0]).toMatchObject({ level: 40 });
    expect(outage[0]!.cause).toContain('ECONNREFUSED');
    for (const id of ['down-1', 'down-2']) {
      const mine = requestLines(lines).filter((l) => l.reqId === id);
      expect(mine).toHaveLength(1);
      expect(mine[0]).toMatchObject({ level: 20, status: 503 });
      const err = mine[0]!.err as { message: string; cause?: { code?: string } };
      expect(err.message).toBe('storage unavailable');
      expect(err.cause?.code).toBe('ECONNREFUSED');
    }
  });

  test('a request that arrived before the database was back and fails after it is an echo of the outage: no second down line, its line at debug', async () => {
    // A database of its own, so no other test's replica waits on the lock below; no workers, so
    // only /stats reads inbox_parked and only a publish's backlog sample (ingest/backpressure.ts)
    // ends the outage.
    const echoes = await createTestDatabase('logs_echo');
    const admin = postgres(echoes.url, { max: 2, onnotice: () => {} });
    let release = () => {};
    let locker: Promise<unknown> = Promise.resolve();
    try {
      const { request, lines } = await capture('debug', echoes.url, true, { WORKERS: '0' });
      // /stats counts inbox_parked: each one waits on this lock, in a session of its own, until
      // that session is ended the way a restarting server ends it (pg_terminate_backend).
      const held = new Promise<void>((resolve) => (release = resolve));
      await new Promise<void>((locked) => {
        locker = admin.begin(async (tx) => {
          await tx`LOCK TABLE inbox_parked IN ACCESS EXCLUSIVE MODE`;
          locked();
          await held;
        });
      });
      const waiting = async () =>
        (
          await admin<{ pid: number }[]>`
            SELECT pid FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = 'logbus-aggregator'
              AND wait_event_type = 'Lock' AND query LIKE '%inbox_parked%'
            ORDER BY query_start`
        ).map((row) => row.pid);
      const early = request('/stats', { headers: { 'x-request-id': 'echo-early' } });
      await waitFor('the early /stats waiting on the lock', async () => (await waiting()).length === 1);
      const late = request('/stats', { headers: { 'x-request-id': 'echo-late' } });
      await waitFor('both /stats waiting on the lock', async () => (await waiting()).length === 2);
      const [earlyPid, latePid] = await waiting();

      // The outage: the later request's session ends, and its 503 is the one down line.
      await admin`SELECT pg_terminate_backend(${latePid!})`;
      expect((await late).status).toBe(503);
      // The database is back: a backlog sample begun after the outage was seen succeeds.
      await waitFor('the back line', async () => {
        expect((await request('/publish', publish(makeEvents(1, 1, 'echo')))).status).toBe(202);
        return lines.some((l) => String(l.msg).startsWith('database back after'));
      });
      // Then the early request fails: it arrived before the database was back, so it is an echo.
      await admin`SELECT pg_terminate_backend(${earlyPid!})`;
      expect((await early).status).toBe(503);
      await settled(lines, 'echo-early');

      const outageLines = lines.filter((l) => l.msg === 'database unreachable, retrying' || String(l.msg).startsWith('database back after'));
      // Positive control: the outage was seen (down, from the late request's cause) and ended.
      expect(outageLines.map((l) => [l.level, String(l.msg).replace(/\d+/, 'N')])).toEqual([
        [40, 'database unreachable, retrying'],
        [30, 'database back after N s'],
      ]);
      // The ended session, as postgres.js reports it (the FATAL message or the closed socket).
      expect(outageLines[0]!.cause).toMatch(/57P01|CONNECTION_CLOSED/);
      // Both 503s are debug lines of that outage, not warnings.
      const statsLines = requestLines(lines).filter((l) => l.path === '/stats');
      expect(statsLines.map((l) => [l.reqId, l.level, l.status])).toEqual([
        ['echo-late', 20, 503],
        ['echo-early', 20, 503],
      ]);
    } finally {
      release();
      await locker;
      await admin.end();
      const aggregator = running.pop()!;
      await aggregator.drain(2_000);
      await aggregator.close();
      await echoes.drop();
    }
  }, 60_000);
});

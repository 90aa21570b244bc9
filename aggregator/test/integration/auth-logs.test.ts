/**
 * Logs carry secrets, so ours must not add any: the request log and every error body hold
 * neither a token (right or wrong, in the header or put in a query string by mistake) nor a
 * query string, whatever the request shape (raw sockets: odd targets included). An authorised
 * request's line names its token by its configured name.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { type Aggregator, createAggregator } from '../../src/aggregator';
import { createLogger } from '../../src/log';
import { makeEvent, testConfig } from '../support/harness';
import { type TestDatabase, createTestDatabase } from '../../local/postgres';
import { rawRequest } from '../support/raw-http';

const READER = 'reader-secret-0123456789abc';
const PUBLISHER = 'publisher-secret-0123456789';
const WRONG = 'wrong-secret-0123456789abcd';
const IN_QUERY = 'query-secret-0123456789abcd';
const SECRETS = [READER, PUBLISHER, WRONG, IN_QUERY];

let db: TestDatabase;
let aggregator: Aggregator;
let port: number;
let stop: () => void;
const lines: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase('auth_logs');
  const config = testConfig({ LOG_LEVEL: 'debug', AUTH_TOKENS: `reader:read:${READER},publisher:publish:${PUBLISHER}` });
  aggregator = createAggregator(config, db.url, createLogger('debug', { pretty: false, write: (line) => void lines.push(line) }));
  await aggregator.start();
  const server = aggregator.app.listen({ port: 0, hostname: '127.0.0.1' }).server!;
  port = server.port!;
  stop = () => void server.stop(true);
}, 60_000);

afterAll(async () => {
  stop?.();
  await aggregator?.drain(2_000);
  await aggregator?.close();
  await db?.drop();
}, 30_000);

test('no token and no query string reaches a log line or an error body, in any request shape', async () => {
  const targets = [
    `/stats?access_token=${IN_QUERY}`,
    `/events?topic=logs&access_token=${IN_QUERY}`,
    `/events?topic=bad%20topic&token=${IN_QUERY}`,
    `/subscribe?topic=logs&access_token=${IN_QUERY}`,
    `/no-such-route?access_token=${IN_QUERY}`,
    `/health?access_token=${IN_QUERY}`,
  ];
  const forms = [
    (t: string) => `GET ${t} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close`,
    (t: string) => `GET ${t} HTTP/1.0`,
    (t: string) => `GET http://127.0.0.1${t} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close`,
    (t: string) => `GET ${t} HTTP/1.1\r\nHost: a b\r\nConnection: close`,
  ];
  const statuses = new Set<number>();
  const bodies: string[] = [];
  for (const target of targets) {
    for (const form of forms) {
      for (const authorization of [null, WRONG, READER, PUBLISHER, `Basic ${READER}`]) {
        let head = form(target);
        if (authorization !== null) head += `\r\nAuthorization: ${authorization.startsWith('Basic') ? authorization : `Bearer ${authorization}`}`;
        const response = await rawRequest(port, head);
        statuses.add(response.status);
        if (!response.headers['content-type']?.startsWith('text/event-stream')) bodies.push(response.body);
      }
    }
  }
  // A publish refused for its body, with the wrong token and with the right one.
  for (const token of [WRONG, PUBLISHER, READER]) {
    const body = JSON.stringify([makeEvent({ topic: 'logs' }), { topic: 'logs' }]);
    const response = await rawRequest(
      port,
      `POST /publish?access_token=${IN_QUERY} HTTP/1.0\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}`,
      body,
    );
    statuses.add(response.status);
    bodies.push(response.body);
  }
  await Bun.sleep(50);

  // Every kind of answer was exercised: data, validation, 401, 403, 404.
  for (const status of [200, 400, 401, 403, 404]) expect({ status, seen: statuses.has(status) }).toEqual({ status, seen: true });
  const requestLines = lines.filter((line) => line.includes('"msg":"request"'));
  expect(requestLines.length).toBeGreaterThan(100);
  for (const secret of SECRETS) {
    expect({ secret, inLog: lines.some((line) => line.includes(secret)) }).toEqual({ secret, inLog: false });
    expect({ secret, inBody: bodies.some((body) => body.includes(secret)) }).toEqual({ secret, inBody: false });
  }
  expect(requestLines.some((line) => line.includes('access_token') || line.includes('?'))).toBe(false);
  // Who did it, by name.
  expect(requestLines.some((line) => line.includes('"token":"reader"') && line.includes('"status":200'))).toBe(true);
  expect(requestLines.some((line) => line.includes('"token":"publisher"') && line.includes('"status":403'))).toBe(true);
}, 60_000);

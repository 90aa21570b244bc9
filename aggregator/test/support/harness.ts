/**
 * In-process aggregators on a real database, driven through `app.handle(new Request(…))`, and
 * helpers shared by the integration tests.
 */
import type { Stats } from '../../src/api/contract';
import { type Aggregator, createAggregator } from '../../src/aggregator';
import { type Config, loadConfig } from '../../src/config';
import { partitionOf } from '../../src/db/partition';
import { createLogger } from '../../src/log';
import { type TestDatabase, createTestDatabase } from '../../local/postgres';

export interface TestAggregator {
  aggregator: Aggregator;
  db: TestDatabase;
  request(path: string, init?: RequestInit): Promise<Response>;
  publish(body: unknown, contentType?: string): Promise<Response>;
  stats(): Promise<Stats>;
  /** Waits until pending == 0 (or fails after timeoutMs). */
  drained(timeoutMs?: number): Promise<Stats>;
  close(): Promise<void>;
}

export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({ LOG_LEVEL: 'silent', ...env });
}

/** A second replica on an existing database, or the first on a fresh one. */
export async function startTestAggregator(env: Record<string, string> = {}, existing?: TestDatabase): Promise<TestAggregator> {
  const db = existing ?? (await createTestDatabase());
  const config = testConfig(env);
  const aggregator = createAggregator(config, db.url, createLogger(config.logLevel));
  await aggregator.start();
  const request = (path: string, init?: RequestInit) => aggregator.app.handle(new Request(`http://localhost${path}`, init));
  const stats = async () => (await (await request('/stats')).json()) as Stats;
  return {
    aggregator,
    db,
    request,
    publish: (body, contentType = 'application/json') =>
      request('/publish', {
        method: 'POST',
        headers: { 'content-type': contentType },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }),
    stats,
    async drained(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const current = await stats();
        if (current.pending === 0) return current;
        if (Date.now() > deadline) throw new Error(`still ${current.pending} pending after ${timeoutMs} ms`);
        await Bun.sleep(20);
      }
    },
    async close() {
      await aggregator.drain(5_000);
      await aggregator.close();
      if (!existing) await db.drop();
    },
  };
}

let sequence = 0;

/** A valid event; `overrides` replace fields (use `undefined` to delete one). */
export function makeEvent(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const event: Record<string, unknown> = {
    topic: 'orders',
    event_id: `evt-${process.pid}-${sequence++}`,
    timestamp: '2025-01-31T12:00:00Z',
    source: 'test',
    payload: { n: sequence },
    ...overrides,
  };
  for (const [key, value] of Object.entries(event)) if (value === undefined) delete event[key];
  return event;
}

/** `count` valid events over `topics` topics. */
export function makeEvents(count: number, topics = 1, prefix = 'e'): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, i) => makeEvent({ topic: `t${i % topics}`, event_id: `${prefix}-${i}` }));
}

/**
 * `count` event ids (`prefix` + a number) whose key with `topic` lands in inbox partition
 * `part`: for tests that need several events, or several topics, in one partition's rows.
 */
export function idsInPartition(part: number, topic: string, prefix: string, count: number): string[] {
  const ids: string[] = [];
  for (let i = 0; ids.length < count; i++) if (partitionOf(topic, `${prefix}${i}`) === part) ids.push(`${prefix}${i}`);
  return ids;
}

/**
 * Helpers for the shipper-protocol tests: a real listening socket (the npm clients speak HTTP,
 * not app.handle) and reading back what a topic holds.
 */
import { afterAll, beforeAll } from 'bun:test';
import { type TestAggregator, startTestAggregator } from './harness';

export interface Listening {
  url: string;
  stop(): Promise<void>;
}

/** Serves the test aggregator on an ephemeral port on 127.0.0.1, as main.ts does (body size limited by the app). */
export function listen(agg: TestAggregator): Listening {
  const app = agg.aggregator.app.listen({ port: 0, hostname: '127.0.0.1', maxRequestBodySize: Number.MAX_SAFE_INTEGER });
  const server = app.server!;
  return {
    url: `http://127.0.0.1:${server.port}`,
    stop: async () => {
      await app.stop(true);
    },
  };
}

/** The aggregator and its socket of a test file that serves real clients. */
export interface Served {
  readonly agg: TestAggregator;
  readonly server: Listening;
}

/**
 * Starts a test aggregator with `env` and serves it (listen) before the file's tests, and stops
 * both after them: the setup every shipper and query test file shares.
 */
export function servedAggregator(env: Record<string, string> = {}): Served {
  const served = {} as { agg: TestAggregator; server: Listening };
  beforeAll(async () => {
    served.agg = await startTestAggregator(env);
    served.server = listen(served.agg);
  }, 60_000);
  afterAll(async () => {
    await served.server?.stop();
    await served.agg?.close();
  }, 30_000);
  return served;
}

export interface StoredEvent {
  topic: string;
  event_id: string;
  timestamp: string;
  source: string;
  payload: Record<string, any>;
}

/** Every processed event of `topic` (after the inbox drained), in order. */
export async function storedEvents(agg: TestAggregator, topic: string): Promise<StoredEvent[]> {
  await agg.drained();
  const events: StoredEvent[] = [];
  let after = 0;
  for (;;) {
    const page = (await (await agg.request(`/events?topic=${encodeURIComponent(topic)}&after=${after}&limit=1000`)).json()) as {
      events: StoredEvent[];
      next_after: number | null;
    };
    events.push(...page.events);
    if (page.events.length === 0 || page.next_after === null) return events;
    after = page.next_after;
  }
}

/** Polls `check` until it returns true (the clients send in the background). */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await Bun.sleep(25);
  }
}

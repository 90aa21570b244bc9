/**
 * HTTP load with autocannon (its programmatic API, in this process): keep-alive connections
 * spread round-robin over the replicas' URLs, each request a distinct pre-rendered batch from the
 * pool, so the generator costs a string join per request. Latency is recorded per response here
 * (not from autocannon's summary), so 202s and 429s can be told apart and percentiles are exact.
 */
import autocannon from 'autocannon';
import type { BatchPool } from './generate';
import { type Latency, latency } from './summary';

export interface LoadOptions {
  urls: string[];
  connections: number;
  seconds: number;
  pool: BatchPool;
  /** Request index to start from; the caller keeps it across loads on the same database. */
  cursor: { next: number };
  /** Requests per second over all connections; unset = as fast as the server answers. */
  rate?: number;
}

export interface LoadResult {
  /** Wall time of the load in seconds. */
  seconds: number;
  /** performance.now() when the load stopped. */
  endedAt: number;
  /** Requests handed to connections (bodies used), answered or not. */
  sent: number;
  /** Responses with 2xx. */
  ok: number;
  /** Events in the 2xx responses' batches. */
  okEvents: number;
  /** 429 Too Many Requests (backpressure), counted apart from errors. */
  tooMany: number;
  /** Other non-2xx responses. */
  otherStatus: number;
  /** Connection errors and timeouts. */
  errors: number;
  /** Latency of every answered request, ms. */
  latency: Latency;
  /** 2xx responses per whole second of the run. */
  okPerSecond: number[];
  statuses: Record<number, number>;
}

/** Runs one load to completion. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { pool, cursor } = options;
  const firstIndex = cursor.next;
  const latencies: number[] = [];
  const okPerSecond: number[] = [];
  const statuses: Record<number, number> = {};
  let ok = 0;
  let tooMany = 0;
  let otherStatus = 0;
  const instance = autocannon({
    url: options.urls.map((url) => `${url}/publish`),
    connections: options.connections,
    duration: options.seconds,
    overallRate: options.rate,
    timeout: 30,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    requests: [
      {
        setupRequest: (request: Record<string, unknown>) => {
          request.body = pool.body(cursor.next++);
          return request;
        },
      },
    ],
  });
  const started = performance.now();
  instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    latencies.push(ms);
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (status >= 200 && status < 300) {
      ok++;
      const second = Math.floor((performance.now() - started) / 1000);
      while (okPerSecond.length <= second) okPerSecond.push(0);
      okPerSecond[second]!++;
    } else if (status === 429) tooMany++;
    else otherStatus++;
  });
  const result = await instance;
  const endedAt = performance.now();
  return {
    seconds: (endedAt - started) / 1000,
    endedAt,
    sent: cursor.next - firstIndex,
    ok,
    okEvents: ok * pool.batchSize,
    tooMany,
    otherStatus,
    errors: result.errors, // timeouts included
    latency: latency(latencies),
    okPerSecond,
    statuses,
  };
}

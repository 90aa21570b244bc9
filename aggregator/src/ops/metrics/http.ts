/** HTTP requests this replica served, observed in memory by the request log (ops/request-log.ts). */
import { Histogram, type Registry } from 'prom-client';
import { LATENCY_BUCKETS } from './buckets';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export class HttpMetrics {
  private readonly duration: Histogram;

  constructor(registry: Registry) {
    this.duration = new Histogram({
      name: 'logbus_http_request_duration_seconds',
      help: 'HTTP requests served by this replica, by method, route template and status (publish latency: route="/publish").',
      labelNames: ['method', 'route', 'status'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
  }

  /** Records one finished HTTP request. */
  readonly observeRequest = (method: string, route: string | undefined, status: number, seconds: number): void => {
    this.duration.observe({ method: METHODS.has(method) ? method : 'OTHER', route: route || '(unmatched)', status: String(status) }, seconds);
  };
}

/**
 * Calls to a LogBus's aggregator (GET /stats, PUT /topics/{topic}): straight to its Service in
 * the cluster, or through the API server's Service proxy when the operator runs outside it.
 * An admin token, when the LogBus has auth, comes from its Secret (RBAC: get on secrets).
 */
import { fullnameOf } from './desired/labels.ts';
import { endpointOf } from './desired/logbus.ts';
import type { KubeApi } from './kube-api.ts';
import { type LogBus, SECRET } from './resources.ts';

export class AggregatorError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class AggregatorClient {
  constructor(
    private readonly api: KubeApi,
    private readonly access: 'direct' | 'proxy',
    private readonly fetchFn: (url: string, init?: RequestInit) => Promise<Response>,
  ) {}

  private base(lb: LogBus): string {
    if (this.access === 'direct') return endpointOf(lb);
    const ns = encodeURIComponent(lb.metadata.namespace!);
    return `${this.api.server.replace(/\/+$/, '')}/api/v1/namespaces/${ns}/services/${fullnameOf(lb.metadata.name)}:http/proxy`;
  }

  /** The admin token from the LogBus's auth Secret, or undefined without auth. */
  private async token(lb: LogBus): Promise<string | undefined> {
    const auth = lb.spec.auth;
    if (!auth) return undefined;
    const secret = await this.api.get<{ data?: Record<string, string> }>(SECRET, lb.metadata.namespace!, auth.secretName);
    const raw = secret.data?.[auth.adminTokenKey ?? auth.tokensKey ?? 'auth-token'];
    if (!raw) throw new AggregatorError(0, `Secret ${auth.secretName} has no key ${auth.adminTokenKey ?? auth.tokensKey}`);
    // AUTH_TOKEN may list several tokens (comma or newline separated): any one is admin.
    return Buffer.from(raw, 'base64')
      .toString()
      .split(/[\s,]+/)
      .filter(Boolean)[0];
  }

  async call<T>(lb: LogBus, method: string, path: string, body?: unknown): Promise<T> {
    const token = await this.token(lb);
    // Through the Service proxy the request's Authorization header carries the operator's API
    // credentials, so an aggregator token cannot travel with it.
    if (token && this.access === 'proxy')
      throw new AggregatorError(
        0,
        'a LogBus with auth is reachable only with AGGREGATOR_ACCESS=direct (the Service proxy carries the API credentials)',
      );
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (token) headers.Authorization = `Bearer ${token}`;
    const init = { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(10_000) };
    const res = await this.fetchFn(`${this.base(lb)}${path}`, init);
    const text = await res.text();
    if (!res.ok) throw new AggregatorError(res.status, `${method} ${path}: HTTP ${res.status}: ${text.slice(0, 300)}`);
    return JSON.parse(text) as T;
  }
}

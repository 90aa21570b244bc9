/**
 * The operator's REST client: list, watch, get, server-side apply, status apply, merge patch,
 * create, update and delete on any resource, over the ops tool's transport (../transport.ts:
 * Bun's fetch with the kubeconfig's TLS material, because client-node's own undici dispatcher is
 * ignored under Bun). client-node still loads the kubeconfig (in-cluster or file) and its auth.
 *
 * Every non-2xx answer becomes an ApiError carrying the HTTP code and the Status reason, so
 * callers decide on 404 / 409 / 410 / 422 by number, never by message text.
 */
import type { K8sObject } from '../chart.ts';
import type { Transport } from '../transport.ts';
import { FIELD_MANAGER, type Resource } from './resources.ts';

/** Seconds past a watch's timeoutSeconds after which the client gives up on a silent connection. */
const WATCH_GRACE_SECONDS = 30;

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const isCode = (err: unknown, code: number) => err instanceof ApiError && err.code === code;

export interface ObjectList<T> {
  items: T[];
  metadata: { resourceVersion: string };
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/** /apis/<group>/<version>[/namespaces/<ns>]/<plural>[/<name>[/<sub>]] (or /api/v1/... for core). */
export function resourcePath(r: Resource, namespace?: string, name?: string, sub?: string): string {
  const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  const ns = r.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${ns}/${r.plural}${name ? `/${encodeURIComponent(name)}` : ''}${sub ? `/${sub}` : ''}`;
}

type Fetch = Pick<Transport, 'fetch'>['fetch'];

export class KubeApi {
  constructor(
    readonly server: string,
    private readonly fetchFn: Fetch,
  ) {}

  async request<T>(method: string, path: string, body?: unknown, contentType = 'application/json', signal?: AbortSignal): Promise<T> {
    const res = await this.fetchFn(`${this.server.replace(/\/+$/, '')}${path}`, {
      method,
      headers: { Accept: 'application/json', ...(body === undefined ? {} : { 'Content-Type': contentType }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
    const text = await res.text();
    if (!res.ok) throw toApiError(res.status, text, `${method} ${path}`);
    return (text ? JSON.parse(text) : {}) as T;
  }

  list<T>(r: Resource, namespace?: string, labelSelector?: string): Promise<ObjectList<T>> {
    const q = labelSelector ? `?labelSelector=${encodeURIComponent(labelSelector)}` : '';
    return this.request('GET', `${resourcePath(r, namespace)}${q}`);
  }

  get<T>(r: Resource, namespace: string, name: string): Promise<T> {
    return this.request('GET', resourcePath(r, namespace, name));
  }

  /** Server-side apply with the operator's field manager; `force` takes fields over from other managers. */
  apply<T>(r: Resource, obj: K8sObject, { force = true, sub }: { force?: boolean; sub?: 'status' } = {}): Promise<T> {
    const path = `${resourcePath(r, obj.metadata.namespace, obj.metadata.name, sub)}?fieldManager=${FIELD_MANAGER}&force=${force}`;
    // JSON is YAML: the apply content type takes it as is.
    return this.request('PATCH', path, obj, 'application/apply-patch+yaml');
  }

  /** Status through the status subresource (the main resource ignores status). */
  applyStatus<T>(r: Resource, obj: K8sObject): Promise<T> {
    return this.apply<T>(r, obj, { sub: 'status' });
  }

  /** JSON merge patch; put metadata.resourceVersion in it for an optimistic-concurrency (409) check. */
  mergePatch<T>(r: Resource, namespace: string, name: string, patch: unknown): Promise<T> {
    return this.request('PATCH', resourcePath(r, namespace, name), patch, 'application/merge-patch+json');
  }

  create<T>(r: Resource, obj: K8sObject): Promise<T> {
    return this.request('POST', resourcePath(r, obj.metadata.namespace), obj);
  }

  /** PUT with the object's resourceVersion: 409 when someone wrote in between. */
  update<T>(r: Resource, obj: K8sObject): Promise<T> {
    return this.request('PUT', resourcePath(r, obj.metadata.namespace, obj.metadata.name), obj);
  }

  delete(r: Resource, namespace: string, name: string): Promise<unknown> {
    return this.request('DELETE', `${resourcePath(r, namespace, name)}?propagationPolicy=Background`);
  }

  /** Text of a pod's log (the tail), for a finished run's summary. */
  async podLog(namespace: string, pod: string, container: string, tailLines = 200): Promise<string> {
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/log?container=${encodeURIComponent(container)}&tailLines=${tailLines}`;
    const res = await this.fetchFn(`${this.server.replace(/\/+$/, '')}${path}`);
    const text = await res.text();
    if (!res.ok) throw toApiError(res.status, text, `GET ${path}`);
    return text;
  }

  /**
   * One watch request from `resourceVersion`: calls `onEvent` per line until the server ends the
   * stream (timeoutSeconds), `signal` aborts it, or the connection fails (thrown). The body is read
   * as a web stream with Bun's fetch: no Node stream adapter in between.
   */
  async watch<T>(
    r: Resource,
    namespace: string | undefined,
    resourceVersion: string,
    onEvent: (e: WatchEvent<T>) => void,
    signal: AbortSignal,
    { timeoutSeconds = 300, labelSelector }: { timeoutSeconds?: number; labelSelector?: string } = {},
  ): Promise<void> {
    const q = new URLSearchParams({ watch: 'true', resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds: String(timeoutSeconds) });
    if (labelSelector) q.set('labelSelector', labelSelector);
    const path = `${resourcePath(r, namespace)}?${q}`;
    // Bun's fetch aborts a response that stays quiet for 300 s (BUN_CONFIG_HTTP_IDLE_TIMEOUT),
    // and a watch on a quiet resource sends nothing for minutes: `timeout: false` lifts that
    // timer, and our own deadline (the server's timeoutSeconds plus a grace) still ends a watch
    // whose connection died silently, as client-go's does.
    const deadline = AbortSignal.timeout((timeoutSeconds + WATCH_GRACE_SECONDS) * 1000);
    const init = { signal: AbortSignal.any([signal, deadline]), timeout: false } as RequestInit;
    const res = await this.fetchFn(`${this.server.replace(/\/+$/, '')}${path}`, init);
    if (!res.ok || !res.body) throw toApiError(res.status, await res.text(), `GET ${path}`);
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const chunk of res.body) {
      buffered += decoder.decode(chunk as Uint8Array, { stream: true });
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line) onEvent(JSON.parse(line) as WatchEvent<T>);
      }
    }
  }
}

/** A Status body (or any text) -> ApiError. */
export function toApiError(code: number, text: string, what: string): ApiError {
  let reason = '';
  let message = text.slice(0, 300);
  try {
    const status = JSON.parse(text) as { reason?: string; message?: string };
    reason = status.reason ?? '';
    message = status.message ?? message;
  } catch {}
  return new ApiError(code, reason, `${what}: HTTP ${code}${reason ? ` ${reason}` : ''}: ${message}`);
}

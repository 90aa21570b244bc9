/**
 * An informer: list, then watch from the list's resourceVersion, keeping a cache of the objects
 * and calling `onChange(obj)` for every add, update and delete (client-go's reflector + store).
 * - A watch that ends (the server's timeoutSeconds) is resumed from the last resourceVersion seen
 *   (bookmarks included), so nothing is listed again.
 * - A watch error (connection refused, 5xx) retries with jittered exponential backoff. So does a
 *   watch that ends within a second having delivered nothing (client-go's "very short watch"): a
 *   proxy or load balancer that cuts streams at once would otherwise get a watch request in a
 *   tight loop.
 * - 410 Gone (the resourceVersion was compacted away; as an HTTP status or as an ERROR event in
 *   the stream) relists: the cache is replaced and objects that vanished meanwhile are reported
 *   as deleted.
 * - Every `resyncMs` all cached objects are reported again, so a missed side effect (an admin API
 *   call that failed silently, a status that drifted) is retried without any event.
 */
import type { K8sObject } from '../chart.ts';
import { retryDelay, sleep } from './backoff.ts';
import { ApiError, isCode, type KubeApi } from './kube-api.ts';
import type { Logger } from './log.ts';
import { keyOf, type Resource } from './resources.ts';

export interface InformerOptions {
  namespace?: string;
  labelSelector?: string;
  resyncMs: number;
  /** Server-side watch timeout; client-go picks 5-10 min at random. */
  watchTimeoutSeconds?: number;
  /** Called when a watch is restarted after a 410 (`expired`: a relist follows) or a failure. */
  onRestart?: (resource: string, reason: 'expired' | 'error') => void;
}

/** A watch that ends sooner than this with no event is a failure (client-go's reflector: 1 s). */
const VERY_SHORT_WATCH_MS = 1_000;

export class Informer<T extends K8sObject = K8sObject> {
  readonly cache = new Map<string, T>();
  private resourceVersion = '';
  private synced = false;
  private syncedWaiters: (() => void)[] = [];

  constructor(
    private readonly api: KubeApi,
    readonly resource: Resource,
    private readonly onChange: (obj: T, deleted: boolean) => void,
    private readonly log: Logger,
    private readonly o: InformerOptions,
  ) {}

  get hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves after the first successful list. */
  waitForSync(): Promise<void> {
    return this.synced ? Promise.resolve() : new Promise((r) => this.syncedWaiters.push(r));
  }

  /** Runs until `signal` aborts. Never throws: every failure is logged and retried. */
  async run(signal: AbortSignal): Promise<void> {
    const resync = setInterval(() => {
      for (const obj of this.cache.values()) this.onChange(obj, false);
    }, this.o.resyncMs);
    let failures = 0;
    let mustList = true;
    try {
      while (!signal.aborted) {
        try {
          if (mustList) {
            await this.list();
            mustList = false;
          }
          const started = performance.now();
          const delivered = await this.watchOnce(signal);
          if (delivered === 0 && performance.now() - started < VERY_SHORT_WATCH_MS && !signal.aborted)
            throw new Error('very short watch: it ended within a second and delivered nothing');
          failures = 0;
        } catch (err) {
          if (signal.aborted) break;
          if (isCode(err, 410)) {
            this.log.info('watch expired (410 Gone): relisting', { resource: this.resource.plural, resourceVersion: this.resourceVersion });
            mustList = true;
            this.o.onRestart?.(this.resource.plural, 'expired');
            continue;
          }
          const ms = retryDelay(failures++);
          this.o.onRestart?.(this.resource.plural, 'error');
          this.log.warn('list/watch failed: retrying', { resource: this.resource.plural, error: err as Error, retryInMs: Math.round(ms) });
          await sleep(ms, signal);
        }
      }
    } finally {
      clearInterval(resync);
    }
  }

  private async list(): Promise<void> {
    const list = await this.api.list<T>(this.resource, this.o.namespace, this.o.labelSelector);
    const fresh = new Map(list.items.map((o) => [keyOf(o), o] as const));
    for (const [key, old] of this.cache) if (!fresh.has(key)) this.onChange(old, true);
    this.cache.clear();
    for (const [key, obj] of fresh) {
      this.cache.set(key, obj);
      this.onChange(obj, false);
    }
    this.resourceVersion = list.metadata.resourceVersion;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncedWaiters.splice(0)) w();
    }
  }

  /** Watches until the stream ends; returns how many events (bookmarks included) it delivered. */
  private async watchOnce(signal: AbortSignal): Promise<number> {
    let delivered = 0;
    const timeoutSeconds = this.o.watchTimeoutSeconds ?? Math.round(300 + Math.random() * 300);
    let expired: ApiError | undefined;
    const controller = new AbortController();
    const abort = () => controller.abort();
    signal.addEventListener('abort', abort, { once: true });
    try {
      await this.api.watch<T>(
        this.resource,
        this.o.namespace,
        this.resourceVersion,
        (e) => {
          delivered++;
          if (e.type === 'ERROR') {
            const status = e.object as unknown as { code?: number; reason?: string; message?: string };
            expired = new ApiError(status.code ?? 500, status.reason ?? '', status.message ?? 'watch ERROR event');
            controller.abort();
            return;
          }
          const rv = e.object.metadata?.resourceVersion as string | undefined;
          if (rv) this.resourceVersion = rv;
          if (e.type === 'BOOKMARK') return;
          const key = keyOf(e.object);
          if (e.type === 'DELETED') this.cache.delete(key);
          else this.cache.set(key, e.object);
          this.onChange(e.object, e.type === 'DELETED');
        },
        controller.signal,
        { timeoutSeconds, labelSelector: this.o.labelSelector },
      );
    } catch (err) {
      if (!expired) throw err;
    } finally {
      signal.removeEventListener('abort', abort);
    }
    if (expired) throw expired;
    return delivered;
  }
}

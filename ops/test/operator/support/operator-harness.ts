/**
 * An operator wired to the API server stand-in, in this process (the controller flow tests), and
 * a poll helper whose deadline only bounds a failure, never decides a pass.
 */
import { AggregatorClient } from '../../../src/operator/aggregator-client.ts';
import { ControllerManager } from '../../../src/operator/controller.ts';
import { KubeApi } from '../../../src/operator/kube-api.ts';
import { createLogger } from '../../../src/operator/log.ts';
import { OperatorMetrics } from '../../../src/operator/metrics.ts';

/** Polls `fn` until it returns a truthy value; throws with `what` after `timeoutMs`. */
export async function waitFor<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 30_000): Promise<Exclude<T, false | null | undefined | 0 | ''>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as Exclude<T, false | null | undefined | 0 | ''>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await Bun.sleep(25);
  }
}

export const OPERATOR_TOKEN = 'in-process-operator';

export interface InProcessOperator {
  manager: ControllerManager;
  metrics: OperatorMetrics;
  logs: string[];
  stop(): Promise<void>;
}

/** Starts informers and reconciling against `server` (as the leader), aggregator calls through its Service proxy. */
export async function startInProcessOperator(server: string, k6Script = '// k6 script'): Promise<InProcessOperator> {
  // Its own token: the stand-in's request log then tells the operator's requests from the test's.
  const api = new KubeApi(server, (url, init) =>
    fetch(url, { ...init, headers: { ...(init?.headers as Record<string, string>), Authorization: `Bearer ${OPERATOR_TOKEN}` } }),
  );
  const logs: string[] = [];
  const log = createLogger('debug', {}, (line) => {
    logs.push(line);
  });
  const metrics = new OperatorMetrics();
  const manager = new ControllerManager({
    ctx: { api, aggregator: new AggregatorClient(api, 'proxy', (u, i) => fetch(u, i)), log, now: () => new Date().toISOString(), k6Script },
    metrics,
    log,
    namespace: '',
    resyncMs: 60_000,
    workers: 2,
  });
  const signal = new AbortController();
  const { runs: informers, synced } = manager.startInformers(signal.signal);
  await synced;
  const workers = manager.startReconciling(signal.signal);
  return {
    manager,
    metrics,
    logs,
    async stop() {
      signal.abort();
      await Promise.all([...informers, ...workers]);
    },
  };
}

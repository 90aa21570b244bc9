/**
 * logbus operator: `bun ops/src/operator/main.ts` (in its image: PID 1).
 * Composition root: config -> kubeconfig (in-cluster or file) -> informers (every replica) ->
 * leader election on a Lease -> the leader reconciles. /metrics, /healthz, /readyz on
 * METRICS_PORT. SIGTERM: stop reconciling, release the Lease, exit 0.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { transportFor } from '../transport.ts';
import { AggregatorClient } from './aggregator-client.ts';
import { loadOperatorConfig } from './config.ts';
import { ControllerManager } from './controller.ts';
import { KubeApi } from './kube-api.ts';
import { LeaderElector } from './leader.ts';
import { createLogger } from './log.ts';
import { OperatorMetrics } from './metrics.ts';

export async function main(): Promise<number> {
  let config: ReturnType<typeof loadOperatorConfig>;
  try {
    config = loadOperatorConfig();
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  const log = createLogger(config.logLevel, { component: 'logbus-operator', identity: config.identity });
  // Without either, client-node silently falls back to http://localhost:8080: refuse instead.
  const kubeconfigs = (process.env.KUBECONFIG ?? join(homedir(), '.kube', 'config')).split(delimiter).filter((f) => f && existsSync(f));
  if (!process.env.KUBERNETES_SERVICE_HOST && kubeconfigs.length === 0) {
    log.error('no Kubernetes cluster: not in a pod and no kubeconfig (set KUBECONFIG or create ~/.kube/config)');
    return 3;
  }
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    log.error('no current cluster in the kubeconfig (kubectl config use-context)');
    return 3;
  }
  const transport = await transportFor(kc);
  const api = new KubeApi(cluster.server, transport.fetch);
  const metrics = new OperatorMetrics();
  const aggregator = new AggregatorClient(
    api,
    config.aggregatorAccess,
    config.aggregatorAccess === 'proxy' ? transport.fetch : (u, i) => fetch(u, i),
  );
  const manager = new ControllerManager({
    ctx: { api, aggregator, log, now: () => new Date().toISOString(), k6Script: readFileSync(config.k6ScriptPath, 'utf8') },
    metrics,
    log,
    namespace: config.watchNamespace,
    resyncMs: config.resyncMs,
    workers: config.workers,
  });
  const elector = new LeaderElector(api, { ...config, namespace: config.leaseNamespace, name: config.leaseName }, log);

  const stop = new AbortController();
  let synced = false;
  const server = Bun.serve({
    port: config.metricsPort,
    fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === '/metrics') return new Response(metrics.render(), { headers: { 'Content-Type': 'text/plain; version=0.0.4' } });
      if (path === '/healthz') return new Response('ok');
      if (path === '/readyz') return synced ? new Response('ok') : new Response('caches not synced', { status: 503 });
      return new Response('not found', { status: 404 });
    },
  });
  let exitCode = 0;
  for (const sig of ['SIGTERM', 'SIGINT'] as const)
    process.on(sig, () => {
      log.info('shutting down', { signal: sig });
      stop.abort();
    });
  log.info('starting', {
    server: cluster.server,
    watchNamespace: config.watchNamespace || '(all)',
    metricsPort: server.port,
    aggregatorAccess: config.aggregatorAccess,
  });

  const { runs: informerRuns, synced: cachesSynced } = manager.startInformers(stop.signal);
  await cachesSynced;
  synced = !stop.signal.aborted;
  let workers: Promise<void>[] = [];
  await elector.run(
    stop.signal,
    () => {
      metrics.leader.set({}, 1);
      workers = manager.startReconciling(stop.signal);
    },
    () => {
      // Reconciles may be in flight: exit and let a fresh process campaign (client-go's advice).
      metrics.leader.set({}, 0);
      exitCode = 1;
      stop.abort();
    },
  );
  stop.abort();
  manager.stop();
  // In-flight reconciles end before the Lease is released: then no two leaders ever act at once.
  await Promise.all([...workers, ...informerRuns]);
  await elector.release();
  server.stop(true);
  log.info('stopped', { exitCode });
  return exitCode;
}

if (import.meta.main) process.exit(await main());

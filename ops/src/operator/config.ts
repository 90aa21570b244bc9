/**
 * The operator's configuration: `loadOperatorConfig(env)` is the only reader of the environment,
 * pure, reports every problem at once and returns a frozen object.
 */
import { hostname } from 'node:os';

export interface OperatorConfig {
  /** Namespace to watch; empty: all namespaces (needs the ClusterRole). */
  watchNamespace: string;
  leaseNamespace: string;
  leaseName: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /** Periodic relist of every informer's cache into the queue (client-go's resync). */
  resyncMs: number;
  workers: number;
  metricsPort: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /**
   * How to reach each LogBus's aggregator: `direct` (its Service DNS name; in-cluster) or `proxy`
   * (the API server's Service proxy; for an operator running outside the cluster, as in Tilt's
   * local mode or the tests).
   */
  aggregatorAccess: 'direct' | 'proxy';
  /** k6/load.js, the LoadTest script. */
  k6ScriptPath: string;
}

/** Defaults: client-go's leader election timings (15 s / 10 s / 2 s); resync 5 min. */
const DEFAULTS = {
  LEASE_DURATION_SECONDS: '15',
  RENEW_DEADLINE_SECONDS: '10',
  RETRY_PERIOD_SECONDS: '2',
  RESYNC_SECONDS: '300',
  WORKERS: '2',
  METRICS_PORT: '8081',
  LOG_LEVEL: 'info',
  AGGREGATOR_ACCESS: 'direct',
  LEASE_NAME: 'logbus-operator',
};

export function loadOperatorConfig(env: Record<string, string | undefined> = process.env): Readonly<OperatorConfig> {
  const problems: string[] = [];
  const get = (k: keyof typeof DEFAULTS) => env[k] ?? DEFAULTS[k];
  const seconds = (k: keyof typeof DEFAULTS) => {
    const v = Number(get(k));
    if (!(v > 0)) problems.push(`${k}=${get(k)}: expected a positive number of seconds`);
    return v * 1000;
  };
  const int = (k: keyof typeof DEFAULTS, min: number, max: number) => {
    const v = Number(get(k));
    if (!Number.isInteger(v) || v < min || v > max) problems.push(`${k}=${get(k)}: expected an integer in ${min}..${max}`);
    return v;
  };
  const c: OperatorConfig = {
    watchNamespace: env.WATCH_NAMESPACE ?? '',
    leaseNamespace: env.LEASE_NAMESPACE ?? env.POD_NAMESPACE ?? 'default',
    leaseName: get('LEASE_NAME'),
    identity: env.POD_NAME ?? `${hostname()}-${process.pid}`,
    leaseDurationMs: seconds('LEASE_DURATION_SECONDS'),
    renewDeadlineMs: seconds('RENEW_DEADLINE_SECONDS'),
    retryPeriodMs: seconds('RETRY_PERIOD_SECONDS'),
    resyncMs: seconds('RESYNC_SECONDS'),
    workers: int('WORKERS', 1, 64),
    metricsPort: int('METRICS_PORT', 0, 65535),
    logLevel: get('LOG_LEVEL') as OperatorConfig['logLevel'],
    aggregatorAccess: get('AGGREGATOR_ACCESS') as OperatorConfig['aggregatorAccess'],
    k6ScriptPath: env.K6_SCRIPT ?? new URL('../../../k6/load.js', import.meta.url).pathname,
  };
  if (!['debug', 'info', 'warn', 'error'].includes(c.logLevel)) problems.push(`LOG_LEVEL=${c.logLevel}: expected debug, info, warn or error`);
  if (!['direct', 'proxy'].includes(c.aggregatorAccess)) problems.push(`AGGREGATOR_ACCESS=${c.aggregatorAccess}: expected direct or proxy`);
  if (!(c.renewDeadlineMs < c.leaseDurationMs)) problems.push('RENEW_DEADLINE_SECONDS must be shorter than LEASE_DURATION_SECONDS');
  if (!(c.retryPeriodMs < c.renewDeadlineMs)) problems.push('RETRY_PERIOD_SECONDS must be shorter than RENEW_DEADLINE_SECONDS');
  if (problems.length) throw new Error(`invalid operator configuration:\n  ${problems.join('\n  ')}`);
  return Object.freeze(c);
}

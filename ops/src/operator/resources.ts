/**
 * logbus's own resources (group logbus.dev, v1alpha1): their TypeScript shapes and the one table
 * of defaults. The CRDs (./crds.ts) publish these defaults in their structural schemas, so the API
 * server fills them in; `withDefaults` fills the same ones in again so a reconcile never depends on
 * the server having done it (an object written before a default was added has no value for it).
 */
import type { K8sObject } from '../chart.ts';

export const GROUP = 'logbus.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
/** The one server-side-apply field manager for everything the operator writes. */
export const FIELD_MANAGER = 'logbus-operator';
/** `app.kubernetes.io/managed-by` on every object the operator creates. */
export const MANAGED_BY = 'logbus-operator';
/** Removed only after the topic's retention went back to the default (LogTopic deletion). */
export const TOPIC_FINALIZER = 'logbus.dev/topic-retention';

/** A resource's REST coordinates. */
export interface Resource {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

const ours = (kind: string, plural: string): Resource => ({ group: GROUP, version: VERSION, kind, plural, namespaced: true });
export const LOGBUS = ours('LogBus', 'logbuses');
export const LOGTOPIC = ours('LogTopic', 'logtopics');
export const PUBLISHRUN = ours('PublishRun', 'publishruns');
export const LOADTEST = ours('LoadTest', 'loadtests');

const core = (group: string, version: string, kind: string, plural: string): Resource => ({ group, version, kind, plural, namespaced: true });
export const DEPLOYMENT = core('apps', 'v1', 'Deployment', 'deployments');
export const STATEFULSET = core('apps', 'v1', 'StatefulSet', 'statefulsets');
export const JOB = core('batch', 'v1', 'Job', 'jobs');
export const SERVICE = core('', 'v1', 'Service', 'services');
export const SECRET = core('', 'v1', 'Secret', 'secrets');
export const CONFIGMAP = core('', 'v1', 'ConfigMap', 'configmaps');
export const SERVICEACCOUNT = core('', 'v1', 'ServiceAccount', 'serviceaccounts');
export const POD = core('', 'v1', 'Pod', 'pods');
export const NETWORKPOLICY = core('networking.k8s.io', 'v1', 'NetworkPolicy', 'networkpolicies');
export const PDB = core('policy', 'v1', 'PodDisruptionBudget', 'poddisruptionbudgets');
export const LEASE = core('coordination.k8s.io', 'v1', 'Lease', 'leases');

/** apiVersion/kind -> Resource, for every kind the operator applies. */
export const BY_KIND: Record<string, Resource> = Object.fromEntries(
  [DEPLOYMENT, STATEFULSET, JOB, SERVICE, SECRET, CONFIGMAP, SERVICEACCOUNT, NETWORKPOLICY, PDB, LEASE, LOGBUS, LOGTOPIC, PUBLISHRUN, LOADTEST].map(
    (r) => [`${r.group ? `${r.group}/` : ''}${r.version}/${r.kind}`, r],
  ),
);

export interface ResourceRequirements {
  requests?: Record<string, string>;
  limits?: Record<string, string>;
}

/** The aggregator settings the chart exposes under `config.*` (same names, same meaning). */
export interface AggregatorConfig {
  workers: number;
  batchSize: number;
  maxBodyBytes: number;
  maxBatch: number;
  maxPending: number;
  ingestMaxItems: number;
  ingestMaxPayloadBytes: number;
  maxJsonDepth: number;
  bodyReadTimeoutMs: number;
  ingestBytesInFlight: number;
  drainTimeoutMs: number;
  dbPoolSize: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  subscribeMax: number;
  subscribeMaxPerToken: number;
  retention: string;
  dedupWindow: string;
  storageInterval: string;
  maxStorageBytes: number;
}

export interface LogBusSpec {
  replicas: number;
  image: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  config: AggregatorConfig;
  database: {
    /** A PostgreSQL StatefulSet owned by the LogBus (the default). */
    managed?: { image: string; storageSize: string; storageClassName?: string; resources: ResourceRequirements };
    /** An existing database: a Secret holding its URL. */
    external?: { secretName: string; key: string; port: number };
  };
  auth?: {
    secretName: string;
    tokensKey: string;
    scopedTokensKey?: string;
    metricsAuth?: boolean;
    /** Key of a token with the admin scope, used for PUT /topics (LogTopic). */
    adminTokenKey?: string;
    /** Key of a token the publisher and k6 Jobs send. */
    clientTokenKey?: string;
  };
  networkPolicy: { enabled: boolean };
  resources: ResourceRequirements;
  topologySpread: boolean;
  /** How often /stats is copied into status (seconds). */
  statsIntervalSeconds: number;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface LogBusStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  replicas?: number;
  readyReplicas?: number;
  endpoint?: string;
  version?: string;
  stats?: { received: number; uniqueProcessed: number; duplicateDropped: number; pending: number; refreshedAt: string };
}

export interface LogTopicSpec {
  logBus: string;
  topic: string;
  /** A duration (30s, 12h, 3d, 2w); unset: the LogBus's default retention. */
  retention?: string;
}

export interface LogTopicStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  retention?: string;
  stored?: number;
  bytes?: number;
  expired?: number;
}

export interface PublishRunSpec {
  logBus: string;
  image: string;
  events: number;
  dupRate: string;
  topics: number;
  batch: number;
  concurrency: number;
  rate: number;
  seed?: string;
  verify: boolean;
  deadlineSeconds: number;
}

export interface LoadTestSpec {
  logBus: string;
  image: string;
  vus: number;
  duration: string;
  batch: number;
  dupRate: string;
  p95Ms: number;
}

/** Like k6-operator's TestRun stages; a run only ever moves to a later stage. */
export const STAGES = ['', 'Created', 'Started', 'Finished', 'Error'] as const;
export type Stage = (typeof STAGES)[number];

export interface RunResult {
  accepted?: number;
  duplicates?: number;
  failures?: number;
  throughput?: string;
  latencyMs?: { p50?: string; p95?: string; p99?: string };
  /** PublishRun with verify: /stats moved exactly as expected. */
  verified?: boolean;
  message?: string;
}

export interface RunStatus {
  observedGeneration?: number;
  stage?: Stage;
  jobName?: string;
  startTime?: string;
  completionTime?: string;
  result?: RunResult;
  conditions?: Condition[];
}

export interface Custom<S, T> extends K8sObject {
  spec: S;
  status?: T;
}
export type LogBus = Custom<LogBusSpec, LogBusStatus>;
export type LogTopic = Custom<LogTopicSpec, LogTopicStatus>;
export type PublishRun = Custom<PublishRunSpec, RunStatus>;
export type LoadTest = Custom<LoadTestSpec, RunStatus>;

/** The chart's defaults (charts/aggregator/values.yaml), the one table both CRD and reconcile use. */
export const LOGBUS_DEFAULTS: LogBusSpec = {
  replicas: 2,
  image: 'logbus-aggregator:0.1.0',
  imagePullPolicy: 'IfNotPresent',
  config: {
    workers: 4,
    batchSize: 2000,
    maxBodyBytes: 5242880,
    maxBatch: 5000,
    maxPending: 1000000,
    ingestMaxItems: 200000,
    ingestMaxPayloadBytes: 16777216,
    maxJsonDepth: 64,
    bodyReadTimeoutMs: 30000,
    ingestBytesInFlight: 67108864,
    drainTimeoutMs: 10000,
    dbPoolSize: 12,
    logLevel: 'info',
    subscribeMax: 1000,
    subscribeMaxPerToken: 100,
    retention: '7d',
    dedupWindow: '7d',
    storageInterval: '6h',
    maxStorageBytes: 0,
  },
  database: {},
  networkPolicy: { enabled: true },
  resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } },
  topologySpread: true,
  statsIntervalSeconds: 30,
};

export const MANAGED_DB_DEFAULTS = {
  image: 'postgres:16.6-bookworm',
  storageSize: '2Gi',
  resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '2', memory: '1Gi' } },
};

export const PUBLISHRUN_DEFAULTS: Omit<PublishRunSpec, 'logBus'> = {
  image: 'logbus-publisher:0.1.0',
  events: 20000,
  dupRate: '0.3',
  topics: 4,
  batch: 500,
  concurrency: 4,
  rate: 0,
  verify: true,
  deadlineSeconds: 300,
};

export const LOADTEST_DEFAULTS: Omit<LoadTestSpec, 'logBus'> = {
  image: 'grafana/k6:1.0.0',
  vus: 50,
  duration: '20s',
  batch: 50,
  dupRate: '0.37',
  p95Ms: 1500,
};

/** The spec with every default filled in (pure). Managed database unless an external one is named. */
export function withDefaults(spec: Partial<LogBusSpec> | undefined): LogBusSpec {
  const s = spec ?? {};
  const external = s.database?.external;
  return {
    ...LOGBUS_DEFAULTS,
    ...s,
    config: { ...LOGBUS_DEFAULTS.config, ...s.config },
    database: external
      ? { external: { ...external, key: external.key ?? 'database-url', port: external.port ?? 5432 } }
      : { managed: { ...MANAGED_DB_DEFAULTS, ...s.database?.managed } },
    networkPolicy: { ...LOGBUS_DEFAULTS.networkPolicy, ...s.networkPolicy },
    resources: s.resources ?? LOGBUS_DEFAULTS.resources,
    auth: s.auth ? { ...s.auth, tokensKey: s.auth.tokensKey ?? 'auth-token' } : undefined,
  };
}

/** "namespace/name": the work queue key of an object. */
export function keyOf(o: { metadata: { namespace?: string; name: string } }): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

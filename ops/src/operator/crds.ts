/**
 * The CustomResourceDefinitions, built from the same defaults table the reconcilers use
 * (./resources.ts), so the API server's defaulting and the operator's agree. Structural schemas
 * (every field typed, no unknown fields kept), defaults, printer columns, the status subresource.
 * `ops/scripts/operator-crds.ts` writes them into charts/logbus-operator/crds/.
 */
import type { K8sObject } from '../chart.ts';
import {
  GROUP,
  LOADTEST,
  LOADTEST_DEFAULTS,
  LOGBUS,
  LOGBUS_DEFAULTS,
  LOGTOPIC,
  MANAGED_DB_DEFAULTS,
  PUBLISHRUN,
  PUBLISHRUN_DEFAULTS,
  type Resource,
  STAGES,
  VERSION,
} from './resources.ts';

type Schema = Record<string, unknown>;
const str = (extra: Schema = {}): Schema => ({ type: 'string', ...extra });
const int = (extra: Schema = {}): Schema => ({ type: 'integer', ...extra });
const bool = (extra: Schema = {}): Schema => ({ type: 'boolean', ...extra });
const obj = (properties: Record<string, Schema>, extra: Schema = {}): Schema => ({ type: 'object', properties, ...extra });
const DURATION = '^[0-9]+(ms|s|m|h|d|w)$';
const NAME = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
/** A resource.Quantity, as controller-gen writes it. */
const quantity: Schema = {
  anyOf: [{ type: 'integer' }, { type: 'string' }],
  pattern: '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$',
  'x-kubernetes-int-or-string': true,
};
const quantityMap: Schema = { type: 'object', additionalProperties: quantity };
const resources = (def: unknown): Schema => obj({ requests: quantityMap, limits: quantityMap }, { default: def });

const condition = obj(
  {
    type: str(),
    status: str({ enum: ['True', 'False', 'Unknown'] }),
    reason: str(),
    message: str(),
    lastTransitionTime: str({ format: 'date-time' }),
    observedGeneration: int({ format: 'int64' }),
  },
  { required: ['type', 'status', 'lastTransitionTime'] },
);
const conditions: Schema = { type: 'array', items: condition, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] };

const d = LOGBUS_DEFAULTS;
const c = d.config;
const logBusSpec = obj(
  {
    replicas: int({ minimum: 1, default: d.replicas }),
    image: str({ minLength: 1, default: d.image }),
    imagePullPolicy: str({ enum: ['Always', 'IfNotPresent', 'Never'], default: d.imagePullPolicy }),
    config: obj(
      {
        workers: int({ minimum: 1, default: c.workers }),
        batchSize: int({ minimum: 1, default: c.batchSize }),
        maxBodyBytes: int({ minimum: 1024, format: 'int64', default: c.maxBodyBytes }),
        maxBatch: int({ minimum: 1, default: c.maxBatch }),
        maxPending: int({ minimum: 0, format: 'int64', default: c.maxPending }),
        ingestMaxItems: int({ minimum: 1, maximum: 10000000, default: c.ingestMaxItems }),
        ingestMaxPayloadBytes: int({ minimum: 1024, maximum: 1073741824, format: 'int64', default: c.ingestMaxPayloadBytes }),
        maxJsonDepth: int({ minimum: 2, maximum: 1000, default: c.maxJsonDepth }),
        bodyReadTimeoutMs: int({ minimum: 100, maximum: 3600000, default: c.bodyReadTimeoutMs }),
        ingestBytesInFlight: int({ minimum: 1048576, maximum: 17179869184, format: 'int64', default: c.ingestBytesInFlight }),
        drainTimeoutMs: int({ minimum: 0, default: c.drainTimeoutMs }),
        dbPoolSize: int({ minimum: 1, default: c.dbPoolSize }),
        logLevel: str({ enum: ['debug', 'info', 'warn', 'error'], default: c.logLevel }),
        subscribeMax: int({ minimum: 0, default: c.subscribeMax }),
        subscribeMaxPerToken: int({ minimum: 0, default: c.subscribeMaxPerToken }),
        retention: str({ pattern: DURATION, default: c.retention }),
        dedupWindow: str({ pattern: DURATION, default: c.dedupWindow }),
        storageInterval: str({ pattern: DURATION, default: c.storageInterval }),
        maxStorageBytes: int({ minimum: 0, format: 'int64', default: c.maxStorageBytes }),
      },
      { default: {} },
    ),
    database: obj(
      {
        managed: obj({
          image: str({ default: MANAGED_DB_DEFAULTS.image }),
          storageSize: str({ pattern: '^[0-9]+(Ki|Mi|Gi|Ti)$', default: MANAGED_DB_DEFAULTS.storageSize }),
          storageClassName: str(),
          resources: resources(MANAGED_DB_DEFAULTS.resources),
        }),
        external: obj(
          { secretName: str({ pattern: NAME }), key: str({ default: 'database-url' }), port: int({ minimum: 1, maximum: 65535, default: 5432 }) },
          { required: ['secretName'] },
        ),
      },
      {
        default: {},
        description: 'managed (a PostgreSQL StatefulSet; the default) or external (a Secret with DATABASE_URL), not both.',
        'x-kubernetes-validations': [{ rule: '!(has(self.managed) && has(self.external))', message: 'database: managed or external, not both' }],
      },
    ),
    auth: obj(
      {
        secretName: str({ pattern: NAME }),
        tokensKey: str({ default: 'auth-token' }),
        scopedTokensKey: str(),
        metricsAuth: bool({ default: false }),
        adminTokenKey: str({ description: 'Key of a token with the admin scope (LogTopic: PUT /topics).' }),
        clientTokenKey: str({ description: 'Key of the token PublishRun and LoadTest Jobs send.' }),
      },
      { required: ['secretName'] },
    ),
    networkPolicy: obj({ enabled: bool({ default: true }) }, { default: {} }),
    resources: resources(d.resources),
    topologySpread: bool({ default: d.topologySpread }),
    statsIntervalSeconds: int({ minimum: 5, default: d.statsIntervalSeconds }),
  },
  { default: {} },
);

const logBusStatus = obj({
  observedGeneration: int({ format: 'int64' }),
  conditions,
  replicas: int(),
  readyReplicas: int(),
  endpoint: str(),
  version: str(),
  stats: obj({ received: int(), uniqueProcessed: int(), duplicateDropped: int(), pending: int(), refreshedAt: str({ format: 'date-time' }) }),
});

const logTopicSpec = obj(
  {
    logBus: str({ pattern: NAME, description: 'The LogBus (same namespace) the topic lives in.' }),
    topic: str({
      pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$',
      'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: 'topic is immutable' }],
    }),
    retention: str({ pattern: '^[0-9]+(s|m|h|d|w)$', description: 'Unset: the LogBus default retention.' }),
  },
  { required: ['logBus', 'topic'] },
);
const logTopicStatus = obj({
  observedGeneration: int({ format: 'int64' }),
  conditions,
  retention: str(),
  stored: int(),
  bytes: int(),
  expired: int(),
});

const p = PUBLISHRUN_DEFAULTS;
const publishRunSpec = obj(
  {
    logBus: str({ pattern: NAME }),
    image: str({ default: p.image }),
    events: int({ minimum: 1, default: p.events }),
    dupRate: str({ pattern: '^(0(\\.[0-9]+)?|1(\\.0+)?)$', default: p.dupRate }),
    topics: int({ minimum: 1, default: p.topics }),
    batch: int({ minimum: 1, default: p.batch }),
    concurrency: int({ minimum: 1, default: p.concurrency }),
    rate: int({ minimum: 0, default: p.rate }),
    seed: str({ pattern: '^[0-9]+$' }),
    verify: bool({ default: p.verify }),
    deadlineSeconds: int({ minimum: 1, default: p.deadlineSeconds }),
  },
  { required: ['logBus'], 'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: 'a run is immutable: create a new one' }] },
);
const l = LOADTEST_DEFAULTS;
const loadTestSpec = obj(
  {
    logBus: str({ pattern: NAME }),
    image: str({ default: l.image }),
    vus: int({ minimum: 1, default: l.vus }),
    duration: str({ pattern: '^([0-9]+(ms|s|m|h))+$', default: l.duration }),
    batch: int({ minimum: 1, default: l.batch }),
    dupRate: str({ pattern: '^(0(\\.[0-9]+)?|1(\\.0+)?)$', default: l.dupRate }),
    p95Ms: int({ minimum: 1, default: l.p95Ms }),
  },
  { required: ['logBus'], 'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: 'a run is immutable: create a new one' }] },
);
const runStatus = obj({
  observedGeneration: int({ format: 'int64' }),
  stage: str({ enum: STAGES.filter(Boolean) }),
  jobName: str(),
  startTime: str({ format: 'date-time' }),
  completionTime: str({ format: 'date-time' }),
  result: obj({
    accepted: int(),
    duplicates: int(),
    failures: int(),
    throughput: str({ description: 'Events per second (PublishRun) or requests per second (LoadTest).' }),
    latencyMs: obj({ p50: str(), p95: str(), p99: str() }),
    verified: bool(),
    message: str(),
  }),
  conditions,
});

type Column = { name: string; type: string; jsonPath: string; priority?: number };
const READY: Column = { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' };
const AGE: Column = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

function crd(r: Resource, shortNames: string[], spec: Schema, status: Schema, columns: Column[]): K8sObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${r.plural}.${GROUP}`, labels: { 'app.kubernetes.io/name': 'logbus-operator', 'app.kubernetes.io/part-of': 'logbus' } },
    spec: {
      group: GROUP,
      names: { kind: r.kind, listKind: `${r.kind}List`, plural: r.plural, singular: r.kind.toLowerCase(), shortNames, categories: ['logbus'] },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: columns,
          schema: { openAPIV3Schema: obj({ apiVersion: str(), kind: str(), metadata: { type: 'object' }, spec, status }, { required: ['spec'] }) },
        },
      ],
    },
  };
}

/** The four CRDs. */
export function customResourceDefinitions(): K8sObject[] {
  return [
    crd(LOGBUS, ['lb'], logBusSpec, logBusStatus, [
      { name: 'Replicas', type: 'integer', jsonPath: '.spec.replicas' },
      { name: 'Ready-Replicas', type: 'integer', jsonPath: '.status.readyReplicas' },
      READY,
      { name: 'Endpoint', type: 'string', jsonPath: '.status.endpoint', priority: 1 },
      { name: 'Version', type: 'string', jsonPath: '.status.version' },
      AGE,
    ]),
    crd(LOGTOPIC, ['lt'], logTopicSpec, logTopicStatus, [
      { name: 'LogBus', type: 'string', jsonPath: '.spec.logBus' },
      { name: 'Topic', type: 'string', jsonPath: '.spec.topic' },
      { name: 'Retention', type: 'string', jsonPath: '.status.retention' },
      { name: 'Stored', type: 'integer', jsonPath: '.status.stored' },
      READY,
      AGE,
    ]),
    ...[
      [PUBLISHRUN, ['pr'], publishRunSpec],
      [LOADTEST, ['lt6'], loadTestSpec],
    ].map(([r, short, spec]) =>
      crd(r as Resource, short as string[], spec as Schema, runStatus, [
        { name: 'LogBus', type: 'string', jsonPath: '.spec.logBus' },
        { name: 'Stage', type: 'string', jsonPath: '.status.stage' },
        { name: 'Accepted', type: 'integer', jsonPath: '.status.result.accepted' },
        { name: 'Verified', type: 'boolean', jsonPath: '.status.result.verified', priority: 1 },
        { name: 'Job', type: 'string', jsonPath: '.status.jobName', priority: 1 },
        AGE,
      ]),
    ),
  ];
}

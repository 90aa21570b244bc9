/**
 * The objects a LogBus stands for, built by pure functions: the chart's objects for the same
 * settings (ops/test/operator/desired.test.ts renders the chart with equivalent values and compares
 * kinds, names, specs, security contexts, probes, env and policies), plus one NetworkPolicy the
 * chart has no need for: the operator, in its own namespace, must reach /stats and /topics.
 *
 * Not here: the managed database's Secret. Its password is generated once and must never be
 * re-applied (`databaseSecret` builds it; the reconciler creates it only when absent).
 */
import type { K8sObject } from '../../chart.ts';
import { type LogBus, withDefaults } from '../resources.ts';
import { clientLabel, fullnameOf, labels, ownedMeta, releaseSelectorLabels, selectorLabels } from './labels.ts';
import { hardened, podSecurity } from './security.ts';

const HTTP_PORT = 8080;
const PG_PORT = 5432;
const PG_USER = 'logbus';
const PG_DB = 'logbus';
/** Where DATABASE_URL comes from. */
function databaseRef(lb: LogBus): { name: string; key: string } {
  const ext = lb.spec.database.external;
  return ext ? { name: ext.secretName, key: ext.key } : { name: `${fullnameOf(lb.metadata.name)}-postgresql`, key: 'database-url' };
}

function aggregatorEnv(lb: LogBus): unknown[] {
  const { config: c, auth } = lb.spec;
  const env: unknown[] = [
    { name: 'PORT', value: String(HTTP_PORT) },
    { name: 'DATABASE_URL', valueFrom: { secretKeyRef: databaseRef(lb) } },
  ];
  if (auth) {
    env.push({
      name: 'AUTH_TOKEN',
      valueFrom: { secretKeyRef: { name: auth.secretName, key: auth.tokensKey, ...(auth.scopedTokensKey ? { optional: true } : {}) } },
    });
    if (auth.scopedTokensKey) env.push({ name: 'AUTH_TOKENS_FILE', value: '/etc/logbus/auth/tokens' });
    env.push({ name: 'AUTH_REQUIRED', value: 'true' });
    if (auth.metricsAuth) env.push({ name: 'METRICS_AUTH', value: 'true' });
  }
  const settings: [string, string | number][] = [
    ['WORKERS', c.workers],
    ['BATCH_SIZE', c.batchSize],
    ['MAX_BODY_BYTES', c.maxBodyBytes],
    ['MAX_BATCH', c.maxBatch],
    ['INGEST_MAX_ITEMS', c.ingestMaxItems],
    ['INGEST_MAX_PAYLOAD_BYTES', c.ingestMaxPayloadBytes],
    ['MAX_JSON_DEPTH', c.maxJsonDepth],
    ['BODY_READ_TIMEOUT_MS', c.bodyReadTimeoutMs],
    ['INGEST_BYTES_IN_FLIGHT', c.ingestBytesInFlight],
    ['MAX_PENDING', c.maxPending],
    ['DRAIN_TIMEOUT_MS', c.drainTimeoutMs],
    ['DB_POOL_SIZE', c.dbPoolSize],
    ['LOG_LEVEL', c.logLevel],
    ['SUBSCRIBE_MAX', c.subscribeMax],
    ['SUBSCRIBE_MAX_PER_TOKEN', c.subscribeMaxPerToken],
    ['RETENTION', c.retention],
    ['DEDUP_WINDOW', c.dedupWindow],
    ['STORAGE_INTERVAL', c.storageInterval],
    ['MAX_STORAGE_BYTES', c.maxStorageBytes],
  ];
  return [...env, ...settings.map(([name, value]) => ({ name, value: String(value) }))];
}

const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
  httpGet: { path, port: 'http' },
  periodSeconds,
  timeoutSeconds: 2,
  failureThreshold,
});

function deployment(lb: LogBus): K8sObject {
  const name = fullnameOf(lb.metadata.name);
  const auth = lb.spec.auth;
  const scoped = auth?.scopedTokensKey;
  // The chart's rule: the grace period outlasts preStop (5 s) + the drain.
  const grace = Math.max(30, Math.ceil(5 + lb.spec.config.drainTimeoutMs / 1000) + 5);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: ownedMeta(lb, name, labels(lb, 'aggregator')),
    spec: {
      replicas: lb.spec.replicas,
      revisionHistoryLimit: 5,
      strategy: { rollingUpdate: { maxSurge: 1, maxUnavailable: 0 }, type: 'RollingUpdate' },
      selector: { matchLabels: selectorLabels(lb, 'aggregator') },
      template: {
        metadata: {
          labels: labels(lb, 'aggregator'),
          annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(HTTP_PORT), 'prometheus.io/path': '/metrics' },
        },
        spec: {
          serviceAccountName: name,
          automountServiceAccountToken: false,
          securityContext: podSecurity(1000),
          terminationGracePeriodSeconds: grace,
          containers: [
            {
              name: 'aggregator',
              image: lb.spec.image,
              imagePullPolicy: lb.spec.imagePullPolicy,
              ports: [{ name: 'http', containerPort: HTTP_PORT, protocol: 'TCP' }],
              env: aggregatorEnv(lb),
              startupProbe: probe('/ready', 3, 60),
              readinessProbe: probe('/ready', 5, 2),
              livenessProbe: probe('/health', 10, 3),
              lifecycle: { preStop: { sleep: { seconds: 5 } } },
              resources: lb.spec.resources,
              securityContext: hardened(1000),
              volumeMounts: [
                { name: 'tmp', mountPath: '/tmp' },
                ...(auth && scoped ? [{ name: 'auth-tokens', mountPath: '/etc/logbus/auth', readOnly: true }] : []),
              ],
            },
          ],
          volumes: [
            { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
            ...(auth && scoped
              ? [{ name: 'auth-tokens', secret: { secretName: auth.secretName, defaultMode: 0o440, items: [{ key: scoped, path: 'tokens' }] } }]
              : []),
          ],
          ...(lb.spec.topologySpread
            ? {
                topologySpreadConstraints: [
                  {
                    maxSkew: 1,
                    topologyKey: 'kubernetes.io/hostname',
                    whenUnsatisfiable: 'ScheduleAnyway',
                    labelSelector: { matchLabels: selectorLabels(lb, 'aggregator') },
                  },
                ],
              }
            : {}),
        },
      },
    },
  };
}

function pgProbe(periodSeconds: number, timeoutSeconds: number, failureThreshold: number) {
  return { exec: { command: ['pg_isready', '-h', '127.0.0.1', '-U', PG_USER, '-d', PG_DB] }, periodSeconds, timeoutSeconds, failureThreshold };
}

function database(lb: LogBus): K8sObject[] {
  const m = lb.spec.database.managed;
  if (!m) return [];
  const name = `${fullnameOf(lb.metadata.name)}-postgresql`;
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: ownedMeta(lb, name, labels(lb, 'database')),
    spec: {
      type: 'ClusterIP',
      clusterIP: 'None',
      selector: selectorLabels(lb, 'database'),
      ports: [{ name: 'postgresql', port: PG_PORT, targetPort: 'postgresql', protocol: 'TCP' }],
    },
  };
  const statefulSet = {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: ownedMeta(lb, name, labels(lb, 'database')),
    spec: {
      replicas: 1,
      serviceName: name,
      podManagementPolicy: 'OrderedReady',
      updateStrategy: { type: 'RollingUpdate' },
      selector: { matchLabels: selectorLabels(lb, 'database') },
      template: {
        metadata: { labels: labels(lb, 'database') },
        spec: {
          serviceAccountName: fullnameOf(lb.metadata.name),
          automountServiceAccountToken: false,
          securityContext: podSecurity(999, { fsGroupChangePolicy: 'OnRootMismatch' }),
          terminationGracePeriodSeconds: 60,
          containers: [
            {
              name: 'postgresql',
              image: m.image,
              imagePullPolicy: 'IfNotPresent',
              args: ['-c', 'autovacuum_naptime=10s'],
              ports: [{ name: 'postgresql', containerPort: PG_PORT, protocol: 'TCP' }],
              env: [
                { name: 'POSTGRES_USER', value: PG_USER },
                { name: 'POSTGRES_DB', value: PG_DB },
                { name: 'POSTGRES_PASSWORD', valueFrom: { secretKeyRef: { name, key: 'password' } } },
                { name: 'PGDATA', value: '/var/lib/postgresql/data/pgdata' },
              ],
              startupProbe: pgProbe(3, 3, 60),
              readinessProbe: pgProbe(5, 3, 3),
              livenessProbe: pgProbe(15, 5, 6),
              resources: m.resources,
              securityContext: hardened(999),
              volumeMounts: [
                { name: 'data', mountPath: '/var/lib/postgresql/data' },
                { name: 'run', mountPath: '/var/run/postgresql' },
                { name: 'tmp', mountPath: '/tmp' },
                { name: 'shm', mountPath: '/dev/shm' },
              ],
            },
          ],
          volumes: [
            { name: 'run', emptyDir: {} },
            { name: 'tmp', emptyDir: {} },
            { name: 'shm', emptyDir: { medium: 'Memory', sizeLimit: '256Mi' } },
          ],
        },
      },
      volumeClaimTemplates: [
        {
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          metadata: { name: 'data', labels: selectorLabels(lb, 'database') },
          spec: {
            accessModes: ['ReadWriteOnce'],
            ...(m.storageClassName ? { storageClassName: m.storageClassName } : {}),
            resources: { requests: { storage: m.storageSize } },
          },
        },
      ],
    },
  };
  return [service, statefulSet];
}

const tcp = (port: number) => ({ port, protocol: 'TCP' });

function networkPolicies(lb: LogBus): K8sObject[] {
  if (!lb.spec.networkPolicy.enabled) return [];
  const full = fullnameOf(lb.metadata.name);
  const policy = (suffix: string, component: 'aggregator' | 'database', spec: Record<string, unknown>) => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: ownedMeta(lb, `${full}-${suffix}`, labels(lb, component)),
    spec,
  });
  const aggregatorPods = { podSelector: { matchLabels: selectorLabels(lb, 'aggregator') } };
  const databasePods = { podSelector: { matchLabels: selectorLabels(lb, 'database') } };
  const managed = !!lb.spec.database.managed;
  return [
    policy('default-deny', 'aggregator', { podSelector: { matchLabels: releaseSelectorLabels(lb) }, policyTypes: ['Ingress', 'Egress'] }),
    policy('dns', 'aggregator', {
      podSelector: { matchLabels: releaseSelectorLabels(lb) },
      policyTypes: ['Egress'],
      egress: [
        {
          ports: [
            { port: 53, protocol: 'UDP' },
            { port: 53, protocol: 'TCP' },
          ],
          to: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
              podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
            },
          ],
        },
      ],
    }),
    policy('aggregator', 'aggregator', {
      ...aggregatorPods,
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ ports: [tcp(HTTP_PORT)], from: [{ podSelector: { matchLabels: { [clientLabel(lb)]: 'true' } } }] }],
      egress: managed ? [{ to: [databasePods], ports: [tcp(PG_PORT)] }] : [{ ports: [tcp(lb.spec.database.external!.port)] }],
    }),
    ...(managed
      ? [
          policy('postgresql', 'database', {
            ...databasePods,
            policyTypes: ['Ingress'],
            ingress: [{ from: [aggregatorPods], ports: [tcp(PG_PORT)] }],
          }),
        ]
      : []),
    policy('clients', 'aggregator', {
      podSelector: { matchLabels: { ...releaseSelectorLabels(lb), [clientLabel(lb)]: 'true' } },
      policyTypes: ['Egress'],
      egress: [{ to: [aggregatorPods], ports: [tcp(HTTP_PORT)] }],
    }),
    // Operator only: its pods (any namespace) call /stats and PUT /topics.
    policy('operator', 'aggregator', {
      ...aggregatorPods,
      policyTypes: ['Ingress'],
      ingress: [
        { ports: [tcp(HTTP_PORT)], from: [{ namespaceSelector: {}, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'logbus-operator' } } }] },
      ],
    }),
  ];
}

/** Every object the operator applies for `input` (defaults filled in), in apply order. */
export function desiredObjects(input: LogBus): K8sObject[] {
  const lb: LogBus = { ...input, spec: withDefaults(input.spec) };
  const name = fullnameOf(lb.metadata.name);
  return [
    ...networkPolicies(lb),
    {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: ownedMeta(lb, name, labels(lb, 'aggregator')),
      spec: { minAvailable: 1, selector: { matchLabels: selectorLabels(lb, 'aggregator') } },
    },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: ownedMeta(lb, name, labels(lb, 'aggregator')), automountServiceAccountToken: false },
    ...database(lb),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: ownedMeta(lb, name, labels(lb, 'aggregator')),
      spec: {
        type: 'ClusterIP',
        selector: selectorLabels(lb, 'aggregator'),
        ports: [{ name: 'http', port: HTTP_PORT, targetPort: 'http', protocol: 'TCP' }],
      },
    },
    deployment(lb),
  ];
}

/** The managed database's Secret with `password` (generated once by the reconciler, never re-applied). */
export function databaseSecret(input: LogBus, password: string): K8sObject {
  const lb: LogBus = { ...input, spec: withDefaults(input.spec) };
  const name = `${fullnameOf(lb.metadata.name)}-postgresql`;
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: ownedMeta(lb, name, labels(lb, 'database')),
    type: 'Opaque',
    data: { password: b64(password), 'database-url': b64(`postgres://${PG_USER}:${password}@${name}:${PG_PORT}/${PG_DB}`) },
  };
}

/** The in-cluster URL of the LogBus's aggregator Service. */
export function endpointOf(lb: LogBus): string {
  return `http://${fullnameOf(lb.metadata.name)}.${lb.metadata.namespace}.svc:${HTTP_PORT}`;
}

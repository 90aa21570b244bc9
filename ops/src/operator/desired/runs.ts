/**
 * The Jobs behind PublishRun and LoadTest, built like the chart's publisher and k6 Jobs
 * (templates/publisher-job.yaml, k6-job.yaml: same hardening, client label, env contract), owned
 * by the run, named after it. A LoadTest's k6 script goes in a ConfigMap owned by the run too.
 */
import type { K8sObject } from '../../chart.ts';
import { type LoadTest, LOADTEST_DEFAULTS, type LogBus, type PublishRun, PUBLISHRUN_DEFAULTS, withDefaults } from '../resources.ts';
import { clientLabel, fullnameOf, labels, ownedMeta } from './labels.ts';
import { hardened, podSecurity } from './security.ts';

const TMP = { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } };

/** The Job's name for a run: the run's name with the component, at most 63 characters. */
export const jobNameOf = (run: K8sObject, component: 'publisher' | 'k6') => `${run.metadata.name}-${component}`.slice(0, 63).replace(/-+$/, '');

function job(
  run: K8sObject,
  lbIn: LogBus,
  component: 'publisher' | 'k6',
  o: { backoffLimit: number; deadline: number; uid: number; container: Record<string, unknown>; volumes: unknown[] },
): K8sObject {
  const lb: LogBus = { ...lbIn, spec: withDefaults(lbIn.spec) };
  const l = { ...labels(lb, component), 'app.kubernetes.io/version': labels(lb, 'aggregator')['app.kubernetes.io/version'] };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: ownedMeta(run, jobNameOf(run, component), l),
    spec: {
      backoffLimit: o.backoffLimit,
      ttlSecondsAfterFinished: 3600,
      activeDeadlineSeconds: o.deadline,
      template: {
        metadata: { labels: { ...l, [clientLabel(lb)]: 'true' } },
        spec: {
          restartPolicy: 'Never',
          serviceAccountName: fullnameOf(lb.metadata.name),
          automountServiceAccountToken: false,
          securityContext: podSecurity(o.uid),
          containers: [{ ...o.container, securityContext: hardened(o.uid) }],
          volumes: o.volumes,
        },
      },
    },
  };
}

const tokenEnv = (lb: LogBus, name: string) =>
  lb.spec.auth
    ? [
        {
          name,
          valueFrom: { secretKeyRef: { name: lb.spec.auth.secretName, key: lb.spec.auth.clientTokenKey ?? lb.spec.auth.tokensKey ?? 'auth-token' } },
        },
      ]
    : [];
const url = (lb: LogBus) => `http://${fullnameOf(lb.metadata.name)}:8080`;

/** The publisher Job for a PublishRun (pure). */
export function publishJob(run: PublishRun, lb: LogBus): K8sObject {
  const s = { ...PUBLISHRUN_DEFAULTS, ...run.spec };
  const env = [
    ['PUBLISHER_URL', url(lb)],
    ['PUBLISHER_EVENTS', s.events],
    ['PUBLISHER_DUP_RATE', s.dupRate],
    ['PUBLISHER_TOPICS', s.topics],
    ['PUBLISHER_BATCH', s.batch],
    ['PUBLISHER_CONCURRENCY', s.concurrency],
    ...(s.rate > 0 ? [['PUBLISHER_RATE', s.rate]] : []),
    ...(s.seed ? [['PUBLISHER_SEED', s.seed]] : []),
    ['PUBLISHER_VERIFY', s.verify],
    ['PUBLISHER_DEADLINE_S', s.deadlineSeconds],
    // The Job may start before the aggregator listens (as the chart's publisher Job does).
    ['PUBLISHER_WAIT_S', 60],
    ['PUBLISHER_JSON', true],
  ].map(([name, value]) => ({ name, value: String(value) }));
  return job(run, lb, 'publisher', {
    backoffLimit: 1,
    deadline: 900,
    uid: 1993,
    container: {
      name: 'publisher',
      image: s.image,
      imagePullPolicy: 'IfNotPresent',
      env: [...env, ...tokenEnv(lb, 'PUBLISHER_TOKEN')],
      resources: { limits: { cpu: '1', memory: '256Mi' }, requests: { cpu: '200m', memory: '128Mi' } },
      volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
    },
    volumes: [TMP],
  });
}

/** The k6 Job and its script ConfigMap for a LoadTest (pure; `script` is k6/load.js). */
export function loadTestObjects(run: LoadTest, lb: LogBus, script: string): K8sObject[] {
  const s = { ...LOADTEST_DEFAULTS, ...run.spec };
  const name = `${jobNameOf(run, 'k6')}-script`.slice(0, 63);
  const configMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: ownedMeta(run, name, labels({ ...lb, spec: withDefaults(lb.spec) }, 'k6')),
    data: { 'load.js': script },
  };
  const env = [
    ['BASE_URL', url(lb)],
    ['VUS', s.vus],
    ['DURATION', s.duration],
    ['BATCH', s.batch],
    ['DUP_RATE', s.dupRate],
    ['P95_MS', s.p95Ms],
    ['MAX_ERROR_RATE', '0.01'],
  ].map(([n, value]) => ({ name: n, value: String(value) }));
  const k6 = job(run, lb, 'k6', {
    backoffLimit: 0,
    deadline: 600,
    uid: 12345,
    container: {
      name: 'k6',
      image: s.image,
      imagePullPolicy: 'IfNotPresent',
      args: ['run', '--no-usage-report', '/scripts/load.js'],
      env: [...env, ...tokenEnv(lb, 'AUTH_TOKEN')],
      resources: { limits: { cpu: '1', memory: '512Mi' }, requests: { cpu: '500m', memory: '256Mi' } },
      volumeMounts: [
        { name: 'script', mountPath: '/scripts', readOnly: true },
        { name: 'tmp', mountPath: '/tmp' },
      ],
    },
    volumes: [{ name: 'script', configMap: { name } }, TMP],
  });
  return [configMap, k6];
}

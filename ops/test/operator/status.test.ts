/** Every status transition, as pure functions (no server). */
import { describe, expect, test } from 'bun:test';
import type { K8sObject } from '../../src/chart.ts';
import type { LogBus, RunStatus } from '../../src/operator/resources.ts';
import { advanceRun, type JobObservation, logBusStatus, setCondition, withRefusedSpec } from '../../src/operator/status.ts';

const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-01T00:01:00.000Z';

describe('conditions', () => {
  test('lastTransitionTime moves only when the status changes', () => {
    const a = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'X', message: '' }, T0);
    const same = setCondition(a, { type: 'Ready', status: 'False', reason: 'Y', message: 'other' }, T1);
    expect(same[0]).toMatchObject({ lastTransitionTime: T0, reason: 'Y' });
    const flipped = setCondition(same, { type: 'Ready', status: 'True', reason: 'Z', message: '' }, T1);
    expect(flipped[0]!.lastTransitionTime).toBe(T1);
    expect(flipped).toHaveLength(1);
  });
});

describe('LogBus status when the API server refused one of its objects', () => {
  test('Ready False and Degraded True with the message; the other conditions and fields stay', () => {
    const before = {
      observedGeneration: 2,
      readyReplicas: 2,
      conditions: setCondition(undefined, { type: 'Ready', status: 'True', reason: 'Ready', message: '' }, T0),
    };
    const s = withRefusedSpec(before, 'HTTP 422 Invalid: storageClassName', 2, T1);
    expect(s.readyReplicas).toBe(2);
    expect(s.conditions!.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Degraded', 'True', 'InvalidSpec'],
      ['Ready', 'False', 'InvalidSpec'],
    ]);
    expect(s.conditions!.every((c) => c.message.includes('storageClassName') && c.lastTransitionTime === T1 && c.observedGeneration === 2)).toBe(
      true,
    );
  });
});

describe('LogBus status', () => {
  const lb = (extra: Partial<LogBus['spec']> = {}, generation = 3): LogBus => ({
    apiVersion: 'logbus.dev/v1alpha1',
    kind: 'LogBus',
    metadata: { name: 'x', namespace: 'n', generation },
    spec: { replicas: 2, ...extra } as LogBus['spec'],
  });
  const deployment = (s: Record<string, unknown>, generation = 5): K8sObject => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'x-aggregator', generation },
    spec: { template: { spec: { containers: [{ image: 'logbus-aggregator:1.4.0' }] } } },
    status: s,
  });
  const sts = (ready: number): K8sObject => ({
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'db' },
    status: { readyReplicas: ready },
  });
  const get = (s: ReturnType<typeof logBusStatus>, type: string) => s.conditions!.find((c) => c.type === type)!;
  const base = { endpoint: 'http://x', now: T0 };

  test('nothing created yet: not Ready, Progressing, database not ready', () => {
    const s = logBusStatus(lb(), base);
    expect([get(s, 'Ready').status, get(s, 'Progressing').status, get(s, 'DatabaseReady').status]).toEqual(['False', 'True', 'False']);
    expect(s.observedGeneration).toBe(3);
  });

  test('rolled out, all ready, database ready: Ready, not Progressing, not Degraded; version from the image', () => {
    const s = logBusStatus(lb(), {
      ...base,
      deployment: deployment({ observedGeneration: 5, replicas: 2, updatedReplicas: 2, readyReplicas: 2 }),
      statefulSet: sts(1),
    });
    expect([get(s, 'Ready').status, get(s, 'Progressing').status, get(s, 'Degraded').status, get(s, 'DatabaseReady').status]).toEqual([
      'True',
      'False',
      'False',
      'True',
    ]);
    expect(s.version).toBe('1.4.0');
    expect(get(s, 'Ready').observedGeneration).toBe(3);
  });

  test('the Deployment controller has not seen the new generation: still Progressing', () => {
    const s = logBusStatus(lb(), {
      ...base,
      deployment: deployment({ observedGeneration: 4, replicas: 2, updatedReplicas: 2, readyReplicas: 2 }),
      statefulSet: sts(1),
    });
    expect([get(s, 'Ready').status, get(s, 'Progressing').status]).toEqual(['False', 'True']);
  });

  test('rolled out but a replica lost: Degraded, not Ready', () => {
    const s = logBusStatus(lb(), {
      ...base,
      deployment: deployment({ observedGeneration: 5, replicas: 2, updatedReplicas: 2, readyReplicas: 1 }),
      statefulSet: sts(1),
    });
    expect([get(s, 'Ready').status, get(s, 'Degraded').status, get(s, 'Degraded').reason]).toEqual(['False', 'True', 'ReplicasUnavailable']);
  });

  test('ProgressDeadlineExceeded: Degraded and no longer Progressing', () => {
    const d = deployment({
      observedGeneration: 5,
      replicas: 3,
      updatedReplicas: 1,
      readyReplicas: 2,
      conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }],
    });
    const s = logBusStatus(lb(), { ...base, deployment: d, statefulSet: sts(1) });
    expect([get(s, 'Progressing').status, get(s, 'Degraded').reason]).toEqual(['False', 'ProgressDeadlineExceeded']);
  });

  test('database down: not Ready (DatabaseNotReady) though every replica is', () => {
    const s = logBusStatus(lb(), {
      ...base,
      deployment: deployment({ observedGeneration: 5, replicas: 2, updatedReplicas: 2, readyReplicas: 2 }),
      statefulSet: sts(0),
    });
    expect([get(s, 'Ready').reason, get(s, 'DatabaseReady').status]).toEqual(['DatabaseNotReady', 'False']);
  });

  test('an external database is ready by definition (its health shows in the aggregator readiness)', () => {
    const s = logBusStatus(lb({ database: { external: { secretName: 'db', key: 'url', port: 5432 } } }), base);
    expect(get(s, 'DatabaseReady')).toMatchObject({ status: 'True', reason: 'External' });
  });

  test('/stats copied in; a failed read keeps the last counters and marks Degraded', () => {
    const d = deployment({ observedGeneration: 5, replicas: 2, updatedReplicas: 2, readyReplicas: 2 });
    const ok = logBusStatus(lb(), {
      ...base,
      deployment: d,
      statefulSet: sts(1),
      stats: { ok: true, body: { received: 10, unique_processed: 7, duplicate_dropped: 3, pending: 0 } },
    });
    expect(ok.stats).toEqual({ received: 10, uniqueProcessed: 7, duplicateDropped: 3, pending: 0, refreshedAt: T0 });
    const failed = logBusStatus(
      { ...lb(), status: ok },
      { ...base, now: T1, deployment: d, statefulSet: sts(1), stats: { ok: false, error: 'HTTP 503' } },
    );
    expect(failed.stats).toEqual(ok.stats);
    expect(get(failed, 'Degraded')).toMatchObject({ status: 'True', reason: 'StatsUnavailable', message: 'HTTP 503', lastTransitionTime: T1 });
  });
});

describe('run stages', () => {
  const step = (cur: RunStatus | undefined, o: JobObservation) => advanceRun(cur, 1, 'r-publisher', o, T0);
  const done: JobObservation = { kind: 'complete', result: { accepted: 5, verified: true } };

  test('absent -> Created -> Started -> Finished, each with the Job name', () => {
    expect(step(undefined, { kind: 'absent' })).toEqual({});
    const created = step(undefined, { kind: 'created' });
    expect(created).toMatchObject({ stage: 'Created', jobName: 'r-publisher', observedGeneration: 1 });
    const started = step(created, { kind: 'running', startTime: T0 });
    expect(started).toMatchObject({ stage: 'Started', startTime: T0 });
    const finished = step(started, done);
    expect(finished).toMatchObject({ stage: 'Finished', result: { accepted: 5, verified: true } });
    expect(finished.conditions![0]).toMatchObject({ type: 'Succeeded', status: 'True' });
  });

  test('never backwards: a Started run seeing the Job as only created stays Started', () => {
    const started = step(step(undefined, { kind: 'created' }), { kind: 'running' });
    expect(step(started, { kind: 'created' }).stage).toBe('Started');
  });

  test('terminal stages are final', () => {
    const finished = step(undefined, done);
    expect(step(finished, { kind: 'failed', reason: 'x' })).toBe(finished);
    const error = step(undefined, { kind: 'failed', reason: 'BackoffLimitExceeded' });
    expect(error).toMatchObject({ stage: 'Error', conditions: [{ reason: 'JobFailed', message: 'BackoffLimitExceeded' }] });
    expect(step(error, done)).toBe(error);
  });

  test('a failed verification ends in Error with the result kept', () => {
    const s = step(undefined, { kind: 'complete', result: { accepted: 5, verified: false, message: 'received +4, expected +5' } });
    expect(s).toMatchObject({
      stage: 'Error',
      result: { verified: false },
      conditions: [{ reason: 'VerificationFailed', message: 'received +4, expected +5' }],
    });
  });

  test('a Job deleted while the run was under way ends it in Error', () => {
    expect(step(step(undefined, { kind: 'created' }), { kind: 'vanished' })).toMatchObject({
      stage: 'Error',
      conditions: [{ reason: 'JobDeleted' }],
    });
  });
});

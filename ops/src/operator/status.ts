/**
 * Status as pure functions of what was observed, so every transition is unit-tested:
 * conditions keep their lastTransitionTime while their status holds; a LogBus's conditions come
 * from its Deployment, its database and the last /stats read; a run's stage only moves forward.
 */
import type { K8sObject } from '../chart.ts';
import type { Condition, LogBus, LogBusStatus, RunResult, RunStatus, Stage } from './resources.ts';
import { STAGES } from './resources.ts';

/** `conditions` with `next` set; lastTransitionTime moves only when the status changes. */
export function setCondition(conditions: Condition[] | undefined, next: Omit<Condition, 'lastTransitionTime'>, now: string): Condition[] {
  const list = conditions ?? [];
  const old = list.find((c) => c.type === next.type);
  const merged: Condition = { ...next, lastTransitionTime: old && old.status === next.status ? old.lastTransitionTime : now };
  return [...list.filter((c) => c.type !== next.type), merged].sort((a, b) => a.type.localeCompare(b.type));
}

export interface LogBusObservation {
  deployment?: K8sObject;
  /** Managed database only. */
  statefulSet?: K8sObject;
  /** The last /stats read: the body, or why it failed. */
  stats?:
    | { ok: true; body: { received: number; unique_processed: number; duplicate_dropped: number; pending: number } }
    | { ok: false; error: string };
  endpoint: string;
  now: string;
}

const cond = (type: string, ok: boolean, reason: string, message: string, generation: number) => ({
  type,
  status: ok ? ('True' as const) : ('False' as const),
  reason,
  message,
  observedGeneration: generation,
});

/** The LogBus status for what was observed (pure). */
export function logBusStatus(lb: LogBus, o: LogBusObservation): LogBusStatus {
  const generation = (lb.metadata.generation as number | undefined) ?? 0;
  const want = lb.spec.replicas ?? 2;
  const ds = o.deployment?.status ?? {};
  const ready = ds.readyReplicas ?? 0;
  const updated = ds.updatedReplicas ?? 0;
  const rolledOut =
    !!o.deployment && (ds.observedGeneration ?? 0) >= (o.deployment.metadata.generation ?? 0) && updated >= want && (ds.replicas ?? 0) <= want;
  const external = !!lb.spec.database?.external;
  const dbReady = external || (o.statefulSet?.status?.readyReplicas ?? 0) >= 1;
  const statsOk = !o.stats || o.stats.ok;
  const failed = (o.deployment?.status?.conditions ?? []).find((c: Condition) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded');
  let c = lb.status?.conditions;
  c = setCondition(
    c,
    cond(
      'DatabaseReady',
      dbReady,
      external ? 'External' : dbReady ? 'StatefulSetReady' : 'StatefulSetNotReady',
      external ? 'an external database (Secret reference)' : `PostgreSQL ready replicas: ${o.statefulSet?.status?.readyReplicas ?? 0}/1`,
      generation,
    ),
    o.now,
  );
  c = setCondition(
    c,
    cond(
      'Progressing',
      !rolledOut && !failed,
      rolledOut ? 'RolloutComplete' : failed ? 'ProgressDeadlineExceeded' : 'RollingOut',
      `updated ${updated}/${want} replicas`,
      generation,
    ),
    o.now,
  );
  const degraded = !!failed || (rolledOut && ready < want) || !statsOk;
  c = setCondition(
    c,
    cond(
      'Degraded',
      degraded,
      failed ? 'ProgressDeadlineExceeded' : !statsOk ? 'StatsUnavailable' : degraded ? 'ReplicasUnavailable' : 'AsExpected',
      !statsOk && o.stats && !o.stats.ok ? o.stats.error : `ready ${ready}/${want}`,
      generation,
    ),
    o.now,
  );
  const isReady = rolledOut && ready >= want && dbReady;
  c = setCondition(
    c,
    cond('Ready', isReady, isReady ? 'Ready' : !dbReady ? 'DatabaseNotReady' : 'ReplicasNotReady', `ready ${ready}/${want}`, generation),
    o.now,
  );
  const image: string | undefined = o.deployment?.spec?.template?.spec?.containers?.[0]?.image;
  return {
    observedGeneration: generation,
    conditions: c,
    replicas: ds.replicas ?? 0,
    readyReplicas: ready,
    endpoint: o.endpoint,
    ...(image ? { version: image.split('@')[0]!.split(':').pop() } : {}),
    ...(o.stats?.ok
      ? {
          stats: {
            received: o.stats.body.received,
            uniqueProcessed: o.stats.body.unique_processed,
            duplicateDropped: o.stats.body.duplicate_dropped,
            pending: o.stats.body.pending,
            refreshedAt: o.now,
          },
        }
      : lb.status?.stats
        ? { stats: lb.status.stats }
        : {}),
  };
}

/**
 * The LogBus status when the API server refused one of its objects (422 Invalid: a spec value
 * its CRD schema allows but the workload's own validation does not, e.g. a storage class name):
 * Ready False and Degraded True with the server's message, so `kubectl get logbus` says why.
 */
export function withRefusedSpec(status: LogBusStatus, message: string, generation: number, now: string): LogBusStatus {
  let c = setCondition(status.conditions, cond('Degraded', true, 'InvalidSpec', message, generation), now);
  c = setCondition(c, cond('Ready', false, 'InvalidSpec', message, generation), now);
  return { ...status, conditions: c };
}

const rank = (s: Stage | undefined) => STAGES.indexOf(s ?? '');
export const isTerminal = (s: Stage | undefined) => s === 'Finished' || s === 'Error';

/** What the run's Job shows (pure input to `advanceRun`). */
export type JobObservation =
  | { kind: 'absent' }
  | { kind: 'created' }
  | { kind: 'running'; startTime?: string }
  | { kind: 'complete'; completionTime?: string; result: RunResult }
  | { kind: 'failed'; reason: string; completionTime?: string; result?: RunResult }
  | { kind: 'vanished' };

/**
 * The next run status: the stage only ever moves forward (Created -> Started -> Finished | Error),
 * a terminal stage is final, and a PublishRun whose verification failed ends in Error.
 */
export function advanceRun(current: RunStatus | undefined, generation: number, jobName: string, o: JobObservation, now: string): RunStatus {
  const cur: RunStatus = current ?? {};
  if (isTerminal(cur.stage)) return cur;
  const to = (stage: Stage, extra: Partial<RunStatus> = {}, condition?: { ok: boolean; reason: string; message: string }): RunStatus => {
    if (rank(stage) < rank(cur.stage)) return cur;
    const next: RunStatus = { ...cur, ...extra, stage, jobName, observedGeneration: generation };
    if (condition)
      next.conditions = setCondition(
        cur.conditions,
        {
          type: 'Succeeded',
          status: condition.ok ? 'True' : 'False',
          reason: condition.reason,
          message: condition.message,
          observedGeneration: generation,
        },
        now,
      );
    return next;
  };
  switch (o.kind) {
    case 'absent':
      return cur;
    case 'created':
      return to('Created');
    case 'running':
      return to('Started', { startTime: cur.startTime ?? o.startTime ?? now });
    case 'complete': {
      const verifyFailed = o.result.verified === false;
      return to(
        verifyFailed ? 'Error' : 'Finished',
        { startTime: cur.startTime ?? now, completionTime: o.completionTime ?? now, result: o.result },
        verifyFailed
          ? { ok: false, reason: 'VerificationFailed', message: o.result.message ?? '/stats did not move as expected' }
          : { ok: true, reason: 'Completed', message: 'the Job completed' },
      );
    }
    case 'failed':
      return to(
        'Error',
        { completionTime: o.completionTime ?? now, ...(o.result ? { result: o.result } : {}) },
        { ok: false, reason: 'JobFailed', message: o.reason },
      );
    case 'vanished':
      return to('Error', { completionTime: now }, { ok: false, reason: 'JobDeleted', message: `Job ${jobName} was deleted before it finished` });
  }
}

/**
 * PublishRun and LoadTest: create the run's Job (and a LoadTest's script ConfigMap), owned by the
 * run; follow the Job; when it ends, read the result from its pod's log. The stage only moves
 * forward (status.ts advanceRun) and a finished run is never touched again: its Job may be
 * removed by ttlSecondsAfterFinished, its result stays in the run's status.
 */
import type { K8sObject } from '../../chart.ts';
import { jobNameOf, loadTestObjects, publishJob } from '../desired/runs.ts';
import { isCode } from '../kube-api.ts';
import {
  JOB,
  LOADTEST,
  type LoadTest,
  LOGBUS,
  type LogBus,
  POD,
  PUBLISHRUN,
  type PublishRun,
  type Resource,
  type RunResult,
  type RunStatus,
} from '../resources.ts';
import { k6Result, publisherResult } from '../results.ts';
import { advanceRun, isTerminal, type JobObservation } from '../status.ts';
import { getOrUndefined, type Outcome, type ReconcileContext, splitKey, writeStatus } from './context.ts';
import { resourceOf } from './logbus.ts';

interface RunKind {
  resource: Resource;
  component: 'publisher' | 'k6';
  objects(run: K8sObject, lb: LogBus, ctx: ReconcileContext): K8sObject[];
  result(log: string, run: K8sObject): RunResult | null;
}

const PUBLISH: RunKind = {
  resource: PUBLISHRUN,
  component: 'publisher',
  objects: (run, lb) => [publishJob(run as PublishRun, lb)],
  result: (log, run) => publisherResult(log, (run as PublishRun).spec.verify !== false),
};
const LOAD: RunKind = {
  resource: LOADTEST,
  component: 'k6',
  objects: (run, lb, ctx) => loadTestObjects(run as LoadTest, lb, ctx.k6Script),
  result: (log) => k6Result(log),
};

/** The log of the Job's last pod, or '' when none can be read (the result then stays unknown). */
async function jobLog(ctx: ReconcileContext, ns: string, job: string, container: string): Promise<string> {
  const pods = await ctx.api.list<K8sObject>(POD, ns, `batch.kubernetes.io/job-name=${job}`);
  const last = pods.items.sort((a, b) => String(a.metadata.creationTimestamp).localeCompare(String(b.metadata.creationTimestamp))).pop();
  if (!last) return '';
  try {
    return await ctx.api.podLog(ns, last.metadata.name, container);
  } catch (err) {
    ctx.log.warn('reading the run log failed', { job, error: err as Error });
    return '';
  }
}

const jobCondition = (job: K8sObject, type: string) =>
  (job.status?.conditions ?? []).find((c: { type: string; status: string }) => c.type === type && c.status === 'True');

async function observe(ctx: ReconcileContext, kind: RunKind, run: K8sObject, lb: LogBus | undefined): Promise<JobObservation> {
  const ns = run.metadata.namespace!;
  const name = jobNameOf(run, kind.component);
  const job = await getOrUndefined<K8sObject>(ctx.api, JOB, ns, name);
  const stage = (run.status as RunStatus | undefined)?.stage;
  if (!job) {
    if (stage === 'Created' || stage === 'Started') return { kind: 'vanished' };
    if (!lb) return { kind: 'failed', reason: `LogBus ${ns}/${run.spec.logBus} does not exist` };
    try {
      for (const o of kind.objects(run, lb, ctx)) await ctx.api.apply(resourceOf(o), o);
    } catch (err) {
      // 422: the API server refused the Job built from this spec; the run cannot start.
      if (!isCode(err, 422)) throw err;
      return { kind: 'failed', reason: `the API server refused the run's objects: ${(err as Error).message}` };
    }
    ctx.log.info('created the run Job', { run: `${ns}/${run.metadata.name}`, job: name });
    return { kind: 'created' };
  }
  const complete = jobCondition(job, 'Complete');
  const failed = jobCondition(job, 'Failed');
  if (complete || failed) {
    const result = kind.result(await jobLog(ctx, ns, name, kind.component), run);
    if (failed)
      return {
        kind: 'failed',
        reason: [failed.reason, failed.message].filter(Boolean).join(': ') || 'Failed',
        completionTime: job.status?.completionTime,
        result: result ?? undefined,
      };
    return {
      kind: 'complete',
      completionTime: job.status?.completionTime,
      result: result ?? { message: 'the Job completed; its log held no summary' },
    };
  }
  if ((job.status?.active ?? 0) > 0 || job.status?.startTime) return { kind: 'running', startTime: job.status?.startTime };
  return { kind: 'created' };
}

function reconcileRun(kind: RunKind) {
  return async (key: string, ctx: ReconcileContext): Promise<Outcome> => {
    const [ns, name] = splitKey(key);
    const run = await getOrUndefined<K8sObject>(ctx.api, kind.resource, ns, name);
    if (!run || run.metadata.deletionTimestamp) return {};
    const current = run.status as RunStatus | undefined;
    if (isTerminal(current?.stage)) return {};
    let lb: LogBus | undefined;
    try {
      lb = await ctx.api.get<LogBus>(LOGBUS, ns, run.spec.logBus);
    } catch (err) {
      if (!isCode(err, 404)) throw err;
    }
    const observation = await observe(ctx, kind, run, lb);
    const next = advanceRun(current, (run.metadata.generation as number | undefined) ?? 0, jobNameOf(run, kind.component), observation, ctx.now());
    await writeStatus(ctx.api, kind.resource, run, next);
    // Job events drive progress; the requeue is a safety net for a missed one.
    return isTerminal(next.stage) ? {} : { requeueAfterMs: 30_000 };
  };
}

export const reconcilePublishRun = reconcileRun(PUBLISH);
export const reconcileLoadTest = reconcileRun(LOAD);

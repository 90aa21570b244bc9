/**
 * LogTopic: the topic's retention kept at the resource's through the aggregator's admin API
 * (PUT /topics/{topic}); status carries the topic's storage. A finalizer makes deletion return
 * the topic to the LogBus's default retention before the resource goes.
 */
import { AggregatorError } from '../aggregator-client.ts';
import { LOGBUS, type LogBus, LOGTOPIC, type LogTopic, type LogTopicStatus, TOPIC_FINALIZER, withDefaults } from '../resources.ts';
import { setCondition } from '../status.ts';
import { getOrUndefined, type Outcome, type ReconcileContext, splitKey, writeStatus } from './context.ts';

interface TopicInfo {
  retention: string;
  stored: number;
  bytes: number;
  expired: number;
}

export async function reconcileLogTopic(key: string, ctx: ReconcileContext): Promise<Outcome> {
  const [ns, name] = splitKey(key);
  const topic = await getOrUndefined<LogTopic>(ctx.api, LOGTOPIC, ns, name);
  if (!topic) return {};
  const finalizers = (topic.metadata.finalizers as string[] | undefined) ?? [];
  const lb = await getOrUndefined<LogBus>(ctx.api, LOGBUS, ns, topic.spec.logBus);
  const setFinalizers = (list: string[]) =>
    ctx.api.mergePatch(LOGTOPIC, ns, name, { metadata: { finalizers: list, resourceVersion: topic.metadata.resourceVersion } });

  if (topic.metadata.deletionTimestamp) {
    if (!finalizers.includes(TOPIC_FINALIZER)) return {};
    // Without its LogBus there is no retention left to restore.
    if (lb && !lb.metadata.deletionTimestamp) {
      await ctx.aggregator.call(lb, 'PUT', `/topics/${encodeURIComponent(topic.spec.topic)}`, { retention: null });
      ctx.log.info('topic back to the default retention', { logtopic: key, topic: topic.spec.topic });
    }
    await setFinalizers(finalizers.filter((f) => f !== TOPIC_FINALIZER));
    return {};
  }
  const now = ctx.now();
  const generation = (topic.metadata.generation as number | undefined) ?? 0;
  const ready = (ok: boolean, reason: string, message: string, extra: Partial<LogTopicStatus> = {}): LogTopicStatus => ({
    ...topic.status,
    ...extra,
    observedGeneration: generation,
    conditions: setCondition(
      topic.status?.conditions,
      { type: 'Ready', status: ok ? 'True' : 'False', reason, message, observedGeneration: generation },
      now,
    ),
  });
  if (!lb) {
    await writeStatus(ctx.api, LOGTOPIC, topic, ready(false, 'LogBusNotFound', `LogBus ${ns}/${topic.spec.logBus} does not exist`));
    return { requeueAfterMs: 30_000 };
  }
  if (!finalizers.includes(TOPIC_FINALIZER)) {
    // The update event brings the topic back with its finalizer; the PUT happens then.
    await setFinalizers([...finalizers, TOPIC_FINALIZER]);
    return {};
  }
  const refresh = withDefaults(lb.spec).statsIntervalSeconds * 1000;
  let info: TopicInfo;
  try {
    info = await ctx.aggregator.call<TopicInfo>(lb, 'PUT', `/topics/${encodeURIComponent(topic.spec.topic)}`, {
      retention: topic.spec.retention ?? null,
    });
  } catch (err) {
    // 400: the aggregator refused the setting (e.g. retention beyond DEDUP_WINDOW): say so, no hot retry.
    if (err instanceof AggregatorError && err.status === 400) {
      await writeStatus(ctx.api, LOGTOPIC, topic, ready(false, 'Rejected', err.message));
      return { requeueAfterMs: refresh };
    }
    throw err;
  }
  const status = ready(true, 'Applied', `retention ${info.retention}`, {
    retention: info.retention,
    stored: info.stored,
    bytes: info.bytes,
    expired: info.expired,
  });
  await writeStatus(ctx.api, LOGTOPIC, topic, status);
  return { requeueAfterMs: refresh };
}

/**
 * LogBus: apply the desired objects (server-side apply, one field manager, force: the operator
 * owns these fields), create the database Secret once, prune the optional objects a spec change
 * turned off, then write status from the Deployment, the database and /stats. Requeued every
 * statsIntervalSeconds to refresh the /stats counters.
 */
import { randomBytes } from 'node:crypto';
import type { K8sObject } from '../../chart.ts';
import { databaseSecret, desiredObjects, endpointOf } from '../desired/logbus.ts';
import { type ApiError, isCode } from '../kube-api.ts';
import { BY_KIND, DEPLOYMENT, LOGBUS, type LogBus, MANAGED_BY, NETWORKPOLICY, PDB, SECRET, STATEFULSET, withDefaults } from '../resources.ts';
import { type LogBusObservation, logBusStatus, withRefusedSpec } from '../status.ts';
import { getOrUndefined, type Outcome, type ReconcileContext, splitKey, writeStatus } from './context.ts';

export const resourceOf = (o: K8sObject) => {
  const r = BY_KIND[`${o.apiVersion}/${o.kind}`];
  if (!r) throw new Error(`no resource registered for ${o.apiVersion} ${o.kind}`);
  return r;
};

/** 32 alphanumerics, like the chart's randAlphaNum 32. */
const password = () => Array.from(randomBytes(32), (b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'[b % 62]).join('');

export async function reconcileLogBus(key: string, ctx: ReconcileContext): Promise<Outcome> {
  const [ns, name] = splitKey(key);
  const lb = await getOrUndefined<LogBus>(ctx.api, LOGBUS, ns, name);
  // Gone or going: ownerReferences let the garbage collector remove the rest.
  if (!lb || lb.metadata.deletionTimestamp) return {};
  const spec = withDefaults(lb.spec);
  if (spec.database.managed) {
    try {
      await ctx.api.create(SECRET, databaseSecret(lb, password()));
      ctx.log.info('created the database Secret', { logbus: key });
    } catch (err) {
      if (!isCode(err, 409)) throw err;
    }
  }
  const desired = desiredObjects(lb);
  // 422: the API server refused an object built from this spec. Retrying cannot help until the
  // spec changes (which reconciles at once): say so in the status and refresh at the interval.
  let refused: ApiError | undefined;
  try {
    for (const o of desired) await ctx.api.apply(resourceOf(o), o);
  } catch (err) {
    if (!isCode(err, 422)) throw err;
    refused = err as ApiError;
    ctx.log.warn('the API server refused an object of this LogBus', { logbus: key, error: refused });
  }
  if (!refused) await prune(ctx, lb, desired);

  const deployment = desired.find((o) => o.kind === 'Deployment')!;
  const observed: LogBusObservation = {
    deployment: await getOrUndefined(ctx.api, DEPLOYMENT, ns, deployment.metadata.name),
    statefulSet: spec.database.managed ? await getOrUndefined(ctx.api, STATEFULSET, ns, `${deployment.metadata.name}-postgresql`) : undefined,
    endpoint: endpointOf(lb),
    now: ctx.now(),
  };
  if ((observed.deployment?.status?.readyReplicas ?? 0) > 0) {
    try {
      observed.stats = { ok: true, body: await ctx.aggregator.call(lb, 'GET', '/stats') };
    } catch (err) {
      observed.stats = { ok: false, error: (err as Error).message };
    }
  }
  const observedStatus = logBusStatus(lb, observed);
  const generation = (lb.metadata.generation as number | undefined) ?? 0;
  const status = refused ? withRefusedSpec(observedStatus, refused.message, generation, observed.now) : observedStatus;
  // The refresh time alone does not warrant a write between two intervals.
  const unchanged =
    JSON.stringify({ ...status, stats: { ...status.stats, refreshedAt: '' } }) ===
    JSON.stringify({ ...lb.status, stats: { ...lb.status?.stats, refreshedAt: '' } });
  const fresh =
    lb.status?.stats?.refreshedAt && Date.parse(observed.now) - Date.parse(lb.status.stats.refreshedAt) < spec.statsIntervalSeconds * 1000;
  if (!(unchanged && fresh)) await writeStatus(ctx.api, LOGBUS, lb, status);
  return { requeueAfterMs: spec.statsIntervalSeconds * 1000 };
}

/**
 * Deletes objects this LogBus owns that its spec no longer asks for (network policies turned off,
 * the operator's own policy list changed). Workloads and Services are never pruned: a database
 * switched to external keeps its StatefulSet until the user deletes it, its data being at stake.
 */
async function prune(ctx: ReconcileContext, lb: LogBus, desired: K8sObject[]): Promise<void> {
  const keep = new Set(desired.map((o) => `${o.kind}/${o.metadata.name}`));
  const selector = `app.kubernetes.io/instance=${lb.metadata.name},app.kubernetes.io/managed-by=${MANAGED_BY}`;
  for (const r of [NETWORKPOLICY, PDB]) {
    const list = await ctx.api.list<K8sObject>(r, lb.metadata.namespace, selector);
    for (const o of list.items) {
      const owned = (o.metadata.ownerReferences as { uid: string }[] | undefined)?.some((ref) => ref.uid === lb.metadata.uid);
      if (!owned || keep.has(`${r.kind}/${o.metadata.name}`)) continue;
      try {
        await ctx.api.delete(r, lb.metadata.namespace!, o.metadata.name);
        ctx.log.info('pruned', { logbus: `${lb.metadata.namespace}/${lb.metadata.name}`, object: `${r.kind}/${o.metadata.name}` });
      } catch (err) {
        if (!isCode(err, 404)) throw err;
      }
    }
  }
}

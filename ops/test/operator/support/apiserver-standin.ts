/**
 * A stand-in for the Kubernetes API server: a real HTTP server (Bun.serve on 127.0.0.1, a free
 * port) that keeps objects in memory with the API server's semantics for the calls the operator
 * makes, so the controller's list/watch/apply/status flow runs here as it would on a cluster:
 * - one resourceVersion sequence; list returns it, watch streams every change after it (with
 *   label selectors), ends at timeoutSeconds; a resourceVersion older than the compaction point
 *   gets an ERROR event with 410 Gone (what etcd compaction does to a real watch);
 * - 404 NotFound, 409 AlreadyExists on create, 409 Conflict on a stale resourceVersion (PUT and
 *   merge patch that carry one; without one they overwrite, as on the real server), 422 Invalid when an object breaks its CRD's structural schema (after defaulting
 *   and pruning unknown fields, as the API server does);
 * - server-side apply (application/apply-patch+yaml) with field ownership per manager: a field
 *   another manager owns with a different value is a 409 conflict unless force=true; fields a
 *   manager stops applying are removed. Lists are atomic here (the real server merges some lists
 *   by key: a simplification that can only make conflicts more likely, never hide one);
 * - status is ignored on the main resource and only status is taken on /status; generation
 *   moves when the spec changes;
 * - DELETE honours finalizers (deletionTimestamp, removal when the last one goes) and cascades
 *   to dependents through ownerReferences (the garbage collector, in the foreground here);
 * - the Service proxy (/api/v1/namespaces/N/services/S:port/proxy/...) forwards to a backend
 *   registered by the test.
 * Every request is recorded with its bearer token, so a test can tell which process wrote.
 */
import { writeFileSync } from 'node:fs';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import type { K8sObject } from '../../../src/chart.ts';
import { customResourceDefinitions } from '../../../src/operator/crds.ts';

type Obj = Record<string, any>;
interface Stored {
  obj: K8sObject;
  /** leaf path -> manager. */
  owners: Map<string, string>;
  /** manager -> paths it applied last (SSA), for removal of dropped fields. */
  applied: Map<string, Set<string>>;
}
interface Change {
  rv: number;
  collection: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  obj: K8sObject;
}
export interface RecordedRequest {
  method: string;
  path: string;
  token: string;
  contentType: string;
}

/** The reason the real API server's Status carries with each code. */
const REASONS: Record<number, string> = { 403: 'Forbidden', 404: 'NotFound', 409: 'Conflict', 410: 'Expired', 422: 'Invalid', 500: 'InternalError' };

const NO_STATUS_SUBRESOURCE = new Set(['Lease', 'Secret', 'ConfigMap', 'ServiceAccount', 'NetworkPolicy']);

const status = (code: number, reason: string, message: string, details?: unknown) =>
  Response.json({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message, details }, { status: code });

/** Leaf paths of a JSON value (objects walked, lists and scalars are leaves). */
function leaves(v: unknown, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length) {
    for (const [k, x] of Object.entries(v)) for (const [p, y] of leaves(x, `${prefix}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`)) out.set(p, y);
  } else if (prefix) out.set(prefix, v);
  return out;
}
const segs = (path: string) =>
  path
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
function setPath(o: Obj, path: string, v: unknown): void {
  const s = segs(path);
  let cur = o;
  for (const k of s.slice(0, -1)) cur = cur[k] && typeof cur[k] === 'object' && !Array.isArray(cur[k]) ? cur[k] : (cur[k] = {});
  cur[s[s.length - 1]!] = structuredClone(v);
}
function deletePath(o: Obj, path: string): void {
  const s = segs(path);
  const stack: Obj[] = [o];
  for (const k of s.slice(0, -1)) {
    const next = stack[stack.length - 1]?.[k];
    if (!next || typeof next !== 'object') return;
    stack.push(next);
  }
  delete stack[stack.length - 1]![s[s.length - 1]!];
  for (let i = stack.length - 1; i > 0; i--) if (!Object.keys(stack[i]!).length) delete stack[i - 1]![s[i - 1]!];
}
const equal = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
function mergePatch(target: any, patch: any): any {
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) return structuredClone(patch);
  const out = target && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** The API server's defaulting and pruning for a structural schema. */
function defaultAndPrune(schema: Obj | undefined, v: any): any {
  if (!schema || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => defaultAndPrune(schema.items, x));
  if (schema.type === 'object' && schema.properties) {
    for (const k of Object.keys(v)) if (!(k in schema.properties) && k !== 'metadata') delete v[k];
    for (const [k, s] of Object.entries<Obj>(schema.properties)) {
      if (v[k] === undefined && s.default !== undefined) v[k] = structuredClone(s.default);
      if (v[k] !== undefined) v[k] = defaultAndPrune(s, v[k]);
    }
  } else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
    for (const k of Object.keys(v)) v[k] = defaultAndPrune(schema.additionalProperties, v[k]);
  }
  return v;
}

export interface ApiServerStandIn {
  url: string;
  requests: RecordedRequest[];
  /** Objects of a collection ("group/version/plural", core: "v1/plural"). */
  objects(collection: string): K8sObject[];
  get(collection: string, namespace: string, name: string): K8sObject | undefined;
  /** Writes an object as another client would (no SSA ownership for the operator). */
  put(collection: string, obj: K8sObject, manager?: string): K8sObject;
  /** Sets status as the owning controller would (the Deployment or Job controller). */
  setStatus(collection: string, namespace: string, name: string, statusValue: unknown): K8sObject;
  remove(collection: string, namespace: string, name: string): void;
  /**
   * Drops the watch history: a watch from a resourceVersion older than `keepFrom` (default: the
   * current one, as etcd compacted up to now) gets 410; a list then returns the current one, from
   * which a watch succeeds.
   */
  compact(keepFrom?: number): void;
  /** The current resourceVersion (the last change's). */
  readonly resourceVersion: number;
  /**
   * Sends a BOOKMARK with the current resourceVersion on every open watch that asked for
   * bookmarks (allowWatchBookmarks=true), as the real API server does about once a minute.
   */
  bookmark(): void;
  /** Ends every open watch stream (as an API server restart would). */
  closeWatches(): void;
  /** The next `count` requests matching method and path fail with `code`. */
  failNext(method: string, path: RegExp, code: number, count?: number): void;
  /** Drops the failures failNext set up that have not happened yet. */
  clearFailures(): void;
  /** The text GET .../pods/NAME/log answers (the kubelet's part). */
  setPodLog(namespace: string, pod: string, text: string): void;
  /** Service proxy target for `namespace/service`. */
  proxyTo(namespace: string, service: string, url: string): void;
  stop(): void;
  kubeconfig(token: string, dir: string): string;
}

export function startApiServerStandIn(): ApiServerStandIn {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  const schemas = new Map<string, { validate: ReturnType<typeof ajv.compile>; schema: Obj }>();
  for (const crd of customResourceDefinitions()) {
    const schema = crd.spec.versions[0].schema.openAPIV3Schema;
    schemas.set(`${crd.spec.group}/${crd.spec.versions[0].name}/${crd.spec.names.plural}`, { validate: ajv.compile(schema), schema });
  }
  const store = new Map<string, Map<string, Stored>>();
  const history: Change[] = [];
  let rv = 100;
  let compactedAt = 0;
  const requests: RecordedRequest[] = [];
  const watchers = new Set<{
    collection: string;
    ns?: string;
    selector: Record<string, string>;
    send: (c: Change) => void;
    bookmark?: () => void;
    close: () => void;
  }>();
  const failures: { method: string; path: RegExp; code: number; count: number }[] = [];
  const proxies = new Map<string, string>();
  const podLogs = new Map<string, string>();

  const coll = (c: string) => {
    let m = store.get(c);
    if (!m) store.set(c, (m = new Map()));
    return m;
  };
  const matches = (o: K8sObject, selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => o.metadata.labels?.[k] === v);
  const parseSelector = (s: string | null) =>
    Object.fromEntries(
      (s ?? '')
        .split(',')
        .filter(Boolean)
        .map((kv) => kv.split('=') as [string, string]),
    );
  function emit(collection: string, type: Change['type'], obj: K8sObject) {
    const change = { rv, collection, type, obj: structuredClone(obj) };
    history.push(change);
    for (const w of watchers)
      if (w.collection === collection && (!w.ns || w.ns === obj.metadata.namespace) && matches(obj, w.selector)) w.send(change);
  }
  function commit(collection: string, s: Stored, type: 'ADDED' | 'MODIFIED') {
    rv++;
    s.obj.metadata.resourceVersion = String(rv);
    if (s.obj.metadata.deletionTimestamp && !(s.obj.metadata.finalizers as string[] | undefined)?.length) return destroy(collection, s);
    coll(collection).set(`${s.obj.metadata.namespace ?? ''}/${s.obj.metadata.name}`, s);
    emit(collection, type, s.obj);
  }
  function destroy(collection: string, s: Stored) {
    rv++;
    coll(collection).delete(`${s.obj.metadata.namespace ?? ''}/${s.obj.metadata.name}`);
    s.obj.metadata.resourceVersion = String(rv);
    emit(collection, 'DELETED', s.obj);
    // The garbage collector: dependents of a deleted owner go too.
    for (const [c, m] of store)
      for (const dep of [...m.values()])
        if ((dep.obj.metadata.ownerReferences as Obj[] | undefined)?.some((r) => r.uid === s.obj.metadata.uid)) requestDelete(c, dep);
  }
  function requestDelete(collection: string, s: Stored) {
    if ((s.obj.metadata.finalizers as string[] | undefined)?.length) {
      if (s.obj.metadata.deletionTimestamp) return;
      s.obj.metadata.deletionTimestamp = new Date().toISOString();
      commit(collection, s, 'MODIFIED');
    } else destroy(collection, s);
  }
  /** Defaulting, pruning and schema validation of a custom resource; the problems (422) or null. */
  function admit(collection: string, obj: K8sObject): string | null {
    const name = obj.metadata?.name;
    if (typeof name !== 'string' || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name) || name.length > 253)
      return `metadata.name: Invalid value: ${JSON.stringify(name)}`;
    const s = schemas.get(collection);
    if (!s) return null;
    defaultAndPrune(s.schema, obj);
    if (s.validate(obj)) return null;
    return (s.validate.errors ?? []).map((e) => `${e.instancePath || '/'}: ${e.message}`).join('; ');
  }
  const hasStatusSub = (o: K8sObject) => !NO_STATUS_SUBRESOURCE.has(o.kind);
  const specOf = (o: K8sObject) => {
    const { metadata: _m, status: _s, ...rest } = o as Obj;
    return rest;
  };
  function own(s: Stored, before: Obj, manager: string) {
    const prev = leaves(before);
    for (const [p, v] of leaves(s.obj)) if (!prev.has(p) || !equal(prev.get(p), v)) s.owners.set(p, manager);
  }

  /** Writes `next` over `s` (or creates), keeping server-owned metadata and the generation rule. */
  function write(collection: string, s: Stored | undefined, next: K8sObject, sub: string | undefined, manager: string): Response {
    const old = s?.obj;
    let obj = structuredClone(next) as K8sObject;
    if (sub === 'status') obj = { ...(structuredClone(old) as K8sObject), status: next.status };
    else if (old && hasStatusSub(old)) obj.status = old.status;
    else if (!old && hasStatusSub(obj)) delete obj.status;
    obj.metadata = {
      ...obj.metadata,
      uid: old?.metadata.uid ?? crypto.randomUUID(),
      creationTimestamp: old?.metadata.creationTimestamp ?? new Date().toISOString(),
      generation: (old?.metadata.generation as number | undefined) ?? 1,
      ...(old?.metadata.deletionTimestamp ? { deletionTimestamp: old.metadata.deletionTimestamp } : {}),
    };
    const problem = admit(collection, obj);
    if (problem) return status(422, 'Invalid', `${obj.kind} "${obj.metadata.name}" is invalid: ${problem}`);
    if (old && !equal(specOf(old), specOf(obj))) obj.metadata.generation = (old.metadata.generation as number) + 1;
    if (old && equal(old, { ...obj, metadata: { ...obj.metadata, resourceVersion: old.metadata.resourceVersion } })) return Response.json(old);
    const stored: Stored = s ?? { obj, owners: new Map(), applied: new Map() };
    const before = old ?? {};
    stored.obj = obj;
    own(stored, before, manager);
    commit(collection, stored, old ? 'MODIFIED' : 'ADDED');
    return Response.json(stored.obj, { status: old ? 200 : 201 });
  }

  function apply(collection: string, s: Stored | undefined, body: K8sObject, sub: string | undefined, manager: string, force: boolean): Response {
    if (!body?.apiVersion || !body.kind || !body.metadata?.name)
      return status(422, 'Invalid', 'apply: apiVersion, kind and metadata.name are required');
    const part = (o: Obj) => {
      const { apiVersion: _a, kind: _k, ...rest } = o;
      const pick: Obj = sub === 'status' ? { status: rest.status } : { ...rest, status: undefined };
      if (pick.metadata)
        pick.metadata = Object.fromEntries(Object.entries(pick.metadata).filter(([k]) => !['resourceVersion', 'namespace', 'name'].includes(k)));
      return pick;
    };
    const appliedLeaves = leaves(part(body));
    const current = s
      ? structuredClone(s.obj)
      : ({ apiVersion: body.apiVersion, kind: body.kind, metadata: { name: body.metadata.name, namespace: body.metadata.namespace } } as K8sObject);
    const currentLeaves = leaves(current);
    const conflicts: string[] = [];
    for (const [p, v] of appliedLeaves) {
      const owner = s?.owners.get(p);
      if (owner && owner !== manager && currentLeaves.has(p) && !equal(currentLeaves.get(p), v)) conflicts.push(`${p} (owned by ${owner})`);
    }
    if (conflicts.length && !force)
      return status(409, 'Conflict', `Apply failed with ${conflicts.length} conflict(s): ${conflicts.join(', ')}`, {
        causes: conflicts.map((c) => ({ field: c })),
      });
    const next = current;
    const scope = (p: string) => (sub === 'status' ? p.startsWith('/status') : !p.startsWith('/status'));
    for (const p of s?.applied.get(manager) ?? [])
      if (scope(p) && !appliedLeaves.has(p) && s?.owners.get(p) === manager) {
        deletePath(next, p);
        s.owners.delete(p);
      }
    for (const [p, v] of appliedLeaves) setPath(next, p, v);
    next.apiVersion = body.apiVersion;
    next.kind = body.kind;
    const res = write(collection, s, next, sub, manager);
    if (res.status < 300) {
      const stored = coll(collection).get(`${body.metadata.namespace ?? ''}/${body.metadata.name}`) ?? s;
      if (stored) {
        for (const p of appliedLeaves.keys()) stored.owners.set(p, manager);
        const kept = [...(stored.applied.get(manager) ?? [])].filter((p) => !scope(p));
        stored.applied.set(manager, new Set([...kept, ...appliedLeaves.keys()]));
      }
    }
    return res;
  }

  function watch(collection: string, ns: string | undefined, url: URL): Response {
    const from = Number(url.searchParams.get('resourceVersion') || 0);
    const selector = parseSelector(url.searchParams.get('labelSelector'));
    const timeout = Number(url.searchParams.get('timeoutSeconds') || 1800) * 1000;
    const enc = new TextEncoder();
    let w: (typeof watchers extends Set<infer W> ? W : never) | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stream = new ReadableStream({
      start(controller) {
        const line = (o: unknown) => controller.enqueue(enc.encode(`${JSON.stringify(o)}\n`));
        if (from && from < compactedAt) {
          line({
            type: 'ERROR',
            object: {
              kind: 'Status',
              apiVersion: 'v1',
              status: 'Failure',
              code: 410,
              reason: 'Expired',
              message: `too old resource version: ${from} (${compactedAt})`,
            },
          });
          controller.close();
          return;
        }
        for (const c of history)
          if (c.rv > from && c.collection === collection && (!ns || ns === c.obj.metadata.namespace) && matches(c.obj, selector))
            line({ type: c.type, object: c.obj });
        const close = () => {
          watchers.delete(w!);
          clearTimeout(timer);
          try {
            controller.close();
          } catch {}
        };
        // A bookmark carries only the kind's apiVersion and a resourceVersion.
        const apiVersion = collection.split('/').slice(0, -1).join('/');
        const bookmark =
          url.searchParams.get('allowWatchBookmarks') === 'true'
            ? () => line({ type: 'BOOKMARK', object: { apiVersion, metadata: { resourceVersion: String(rv) } } })
            : undefined;
        w = { collection, ns, selector, send: (c) => line({ type: c.type, object: c.obj }), bookmark, close };
        watchers.add(w);
        timer = setTimeout(close, timeout);
      },
      cancel() {
        if (w) watchers.delete(w);
        clearTimeout(timer);
      },
    });
    return new Response(stream, { headers: { 'Content-Type': 'application/json' } });
  }

  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    idleTimeout: 0,
    async fetch(req) {
      const url = new URL(req.url);
      const p = url.pathname;
      const token = (req.headers.get('authorization') ?? '').replace(/^Bearer /, '');
      const contentType = req.headers.get('content-type') ?? '';
      requests.push({ method: req.method, path: `${p}${url.search}`, token, contentType });
      const failure = failures.find((f) => f.method === req.method && f.path.test(`${p}${url.search}`) && f.count > 0);
      if (failure) {
        failure.count--;
        return status(failure.code, REASONS[failure.code] ?? 'InternalError', 'injected by the test');
      }
      if (p === '/version') return Response.json({ major: '1', minor: '32', gitVersion: 'v1.32.0-standin' });
      let m = /^\/api\/v1\/namespaces\/([^/]+)\/services\/([^/:]+)(?::[^/]+)?\/proxy\/(.*)$/.exec(p);
      if (m) {
        const target = proxies.get(`${m[1]}/${m[2]}`);
        if (!target) return status(503, 'ServiceUnavailable', `no endpoints available for service "${m[2]}"`);
        return fetch(`${target}/${m[3]}${url.search}`, {
          method: req.method,
          headers: req.headers,
          body: req.method === 'GET' ? undefined : await req.arrayBuffer(),
        });
      }
      m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/log$/.exec(p);
      if (m) {
        const text = podLogs.get(`${m[1]}/${m[2]}`);
        return text === undefined ? status(404, 'NotFound', `pods "${m[2]}" not found`) : new Response(text);
      }
      m = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?(?:\/(status))?$/.exec(p);
      if (!m) return status(404, 'NotFound', `the server could not find the requested resource ${p}`);
      const collection = m[1] ? `v1/${m[5]}` : `${m[2]}/${m[3]}/${m[5]}`;
      const [ns, name, sub] = [m[4], m[6], m[7]];
      const key = `${ns ?? ''}/${name}`;
      const s = name ? coll(collection).get(key) : undefined;
      const manager = url.searchParams.get('fieldManager') ?? `standin-${req.method.toLowerCase()}`;
      if (!name) {
        if (req.method === 'GET') {
          if (url.searchParams.get('watch') === 'true') return watch(collection, ns, url);
          const selector = parseSelector(url.searchParams.get('labelSelector'));
          const items = [...coll(collection).values()].map((x) => x.obj).filter((o) => (!ns || o.metadata.namespace === ns) && matches(o, selector));
          return Response.json({ kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: String(rv) }, items });
        }
        if (req.method === 'POST') {
          const body = (await req.json()) as K8sObject;
          body.metadata = { ...body.metadata, namespace: ns };
          if (coll(collection).has(`${ns ?? ''}/${body.metadata.name}`))
            return status(409, 'AlreadyExists', `${collection} "${body.metadata.name}" already exists`);
          return write(collection, undefined, body, undefined, manager);
        }
        return status(405, 'MethodNotAllowed', req.method);
      }
      if (req.method === 'GET') return s ? Response.json(s.obj) : status(404, 'NotFound', `${collection} "${name}" not found`);
      if (req.method === 'DELETE') {
        if (!s) return status(404, 'NotFound', `${collection} "${name}" not found`);
        requestDelete(collection, s);
        return Response.json(coll(collection).get(key)?.obj ?? { kind: 'Status', status: 'Success' });
      }
      if (req.method === 'PUT') {
        if (!s) return status(404, 'NotFound', `${collection} "${name}" not found`);
        const body = (await req.json()) as K8sObject;
        // As the real server: a PUT carrying a resourceVersion is conditional on it; without one
        // it overwrites unconditionally.
        if (body.metadata?.resourceVersion && body.metadata.resourceVersion !== s.obj.metadata.resourceVersion)
          return status(
            409,
            'Conflict',
            `Operation cannot be fulfilled on ${collection} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
          );
        body.metadata.namespace = ns;
        return write(collection, s, body, sub, manager);
      }
      if (req.method === 'PATCH') {
        const body = (await req.json()) as K8sObject;
        if (contentType.startsWith('application/apply-patch')) {
          if (!url.searchParams.get('fieldManager')) return status(422, 'Invalid', 'fieldManager is required for apply requests');
          if (body.metadata?.name !== name || (body.metadata?.namespace ?? ns) !== ns)
            return status(422, 'Invalid', 'the name or namespace in the body does not match the URL');
          body.metadata.namespace = ns;
          return apply(collection, s, body, sub, manager, url.searchParams.get('force') === 'true');
        }
        if (!s) return status(404, 'NotFound', `${collection} "${name}" not found`);
        if (contentType.startsWith('application/merge-patch+json')) {
          const wanted = body.metadata?.resourceVersion;
          if (wanted && wanted !== s.obj.metadata.resourceVersion)
            return status(409, 'Conflict', `Operation cannot be fulfilled on ${collection} "${name}": the object has been modified`);
          return write(collection, s, mergePatch(structuredClone(s.obj), body), sub, manager);
        }
        return status(415, 'UnsupportedMediaType', contentType);
      }
      return status(405, 'MethodNotAllowed', req.method);
    },
  });
  const url = `http://127.0.0.1:${server.port}`;
  return {
    url,
    requests,
    objects: (c) => [...coll(c).values()].map((s) => structuredClone(s.obj)),
    get: (c, ns, name) => structuredClone(coll(c).get(`${ns}/${name}`)?.obj),
    put(c, obj, mgr = 'test') {
      const s = coll(c).get(`${obj.metadata.namespace ?? ''}/${obj.metadata.name}`);
      write(c, s, { ...obj, metadata: { ...obj.metadata } }, undefined, mgr);
      return structuredClone(coll(c).get(`${obj.metadata.namespace ?? ''}/${obj.metadata.name}`)!.obj);
    },
    setStatus(c, ns, name, value) {
      const s = coll(c).get(`${ns}/${name}`);
      if (!s) throw new Error(`stand-in: no ${c} ${ns}/${name}`);
      write(c, s, { ...s.obj, status: value } as K8sObject, 'status', 'controller');
      return structuredClone(coll(c).get(`${ns}/${name}`)!.obj);
    },
    remove(c, ns, name) {
      const s = coll(c).get(`${ns}/${name}`);
      if (s) requestDelete(c, s);
    },
    compact: (keepFrom = rv) => {
      compactedAt = keepFrom;
      history.splice(0);
    },
    get resourceVersion() {
      return rv;
    },
    bookmark: () => {
      for (const w of watchers) w.bookmark?.();
    },
    closeWatches: () => {
      for (const w of [...watchers]) w.close();
    },
    failNext: (method, path, code, count = 1) => failures.push({ method, path, code, count }),
    clearFailures: () => failures.splice(0),
    setPodLog: (ns, pod, text) => podLogs.set(`${ns}/${pod}`, text),
    proxyTo: (ns, svc, target) => proxies.set(`${ns}/${svc}`, target),
    stop: () => {
      for (const w of [...watchers]) w.close();
      server.stop(true);
    },
    kubeconfig(token, dir) {
      const path = `${dir}/kubeconfig-${token}`;
      writeFileSync(
        path,
        `apiVersion: v1\nkind: Config\nclusters:\n- name: standin\n  cluster:\n    server: ${url}\ncontexts:\n- name: standin\n  context:\n    cluster: standin\n    user: u\n    namespace: logbus\ncurrent-context: standin\nusers:\n- name: u\n  user:\n    token: ${token}\n`,
      );
      return path;
    },
  };
}

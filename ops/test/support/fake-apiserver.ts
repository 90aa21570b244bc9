/**
 * A minimal fake Kubernetes API server (plain HTTP on 127.0.0.1) that implements just the calls
 * the ops tool makes, so its whole flow (create Job, follow the pod log, wait, read /stats
 * through the service proxy) runs here without a cluster. It records what it received.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export interface FakeOptions {
  /** /stats bodies served in order (the last one repeats). */
  stats?: unknown[];
  jobOutcome?: 'Complete' | 'Failed';
  /**
   * Which label the Job's pods carry: "current" (`batch.kubernetes.io/controller-uid`, 1.27+, and
   * the legacy one), "legacy" (`controller-uid` only, before 1.27), "none" (no pod is ever listed).
   */
  podLabels?: 'current' | 'legacy' | 'none';
  /** The k6 script ConfigMap does not exist yet (created with 201, not replaced). */
  configMapAbsent?: boolean;
  logLines?: string[];
  /**
   * The Job's pods, instead of the one default pod: a retry is a newer pod that appears once
   * `visibleAfterLogs` log streams have been served; `holdLog` keeps its log stream open (a
   * container that keeps running) until the server stops.
   */
  pods?: { name: string; created: string; phase: string; log: string[]; holdLog?: boolean; visibleAfterLogs?: number }[];
  /** A deployed Helm release (its user-supplied values), served as Helm's release Secret. */
  helmRelease?: { version: number; config: Record<string, unknown> };
  /** The Job's status has no Complete/Failed condition until this many log streams were served. */
  outcomeAfterLogs?: number;
  /** TLS material; when given the server speaks HTTPS and demands this client certificate. */
  tls?: { cert: string; key: string; ca: string; clientCert: string; clientKey: string };
}

export interface FakeApiServer {
  url: string;
  kubeconfig: string;
  created: { jobs: any[]; configMaps: any[]; replaced: any[] };
  /** DELETE requests, as "kind/name?query". */
  deleted: string[];
  requests: string[];
  stop(): void;
}

export function startFakeApiServer(o: FakeOptions = {}): FakeApiServer {
  const created = { jobs: [] as any[], configMaps: [] as any[], replaced: [] as any[] };
  const requests: string[] = [];
  const deleted: string[] = [];
  let statsServed = 0;
  let logsServed = 0;
  const json = (body: unknown, status = 200) => Response.json(body, { status });
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    ...(o.tls ? { tls: { cert: o.tls.cert, key: o.tls.key, ca: o.tls.ca, requestCert: true, rejectUnauthorized: true } } : {}),
    async fetch(req) {
      const url = new URL(req.url);
      const p = url.pathname;
      requests.push(`${req.method} ${p}${url.search}`);
      let m: RegExpExecArray | null;
      if (p === '/version') return json({ major: '1', minor: '32', gitVersion: 'v1.32.0-fake' });
      if (req.method === 'POST' && (m = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs$/.exec(p))) {
        const job = await req.json();
        created.jobs.push(job);
        return json({ ...job, metadata: { ...job.metadata, uid: 'uid-1' } }, 201);
      }
      if ((m = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs\/([^/]+)\/status$/.exec(p))) {
        const outcome = o.jobOutcome ?? 'Complete';
        if (logsServed < (o.outcomeAfterLogs ?? 0))
          return json({ kind: 'Job', apiVersion: 'batch/v1', metadata: { name: m[2] }, status: { active: 1 } });
        return json({
          kind: 'Job',
          apiVersion: 'batch/v1',
          metadata: { name: m[2] },
          status: { conditions: [{ type: outcome, status: 'True', reason: outcome === 'Failed' ? 'BackoffLimitExceeded' : undefined }] },
        });
      }
      if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(p))) {
        const labels = o.podLabels ?? 'current';
        const selectors =
          labels === 'current'
            ? ['batch.kubernetes.io/controller-uid=uid-1', 'controller-uid=uid-1']
            : labels === 'legacy'
              ? ['controller-uid=uid-1']
              : [];
        if (!selectors.includes(url.searchParams.get('labelSelector') ?? '')) return json({ items: [] });
        if (o.pods) {
          const items = o.pods
            .filter((pod) => (pod.visibleAfterLogs ?? 0) <= logsServed)
            .map((pod) => ({ metadata: { name: pod.name, creationTimestamp: pod.created }, status: { phase: pod.phase } }));
          return json({ kind: 'PodList', apiVersion: 'v1', metadata: {}, items });
        }
        return json({ kind: 'PodList', apiVersion: 'v1', metadata: {}, items: [{ metadata: { name: 'job-pod-1' }, status: { phase: 'Running' } }] });
      }
      if (req.method === 'GET' && /^\/api\/v1\/namespaces\/([^/]+)\/secrets$/.test(p)) {
        const selector = url.searchParams.get('labelSelector') ?? '';
        if (!o.helmRelease || selector !== 'owner=helm,name=logbus,status=deployed')
          return json({ kind: 'SecretList', apiVersion: 'v1', metadata: {}, items: [] });
        // As Helm 3 stores it: base64(gzip(JSON)), which the API then base64-encodes once more.
        const helm = gzipSync(JSON.stringify({ name: 'logbus', version: o.helmRelease.version, config: o.helmRelease.config })).toString('base64');
        const secret = {
          metadata: {
            name: `sh.helm.release.v1.logbus.v${o.helmRelease.version}`,
            labels: { owner: 'helm', name: 'logbus', status: 'deployed', version: String(o.helmRelease.version) },
          },
          type: 'helm.sh/release.v1',
          data: { release: Buffer.from(helm).toString('base64') },
        };
        return json({ kind: 'SecretList', apiVersion: 'v1', metadata: {}, items: [secret] });
      }
      if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/log$/.exec(p))) {
        const pod = o.pods?.find((x) => x.name === m![2]);
        if (pod?.holdLog) {
          const text = `${pod.log.join('\n')}\n`;
          return new Response(new ReadableStream({ start: (controller) => controller.enqueue(new TextEncoder().encode(text)) }));
        }
        logsServed++;
        if (pod) return new Response(`${pod.log.join('\n')}\n`);
        return new Response(`${(o.logLines ?? ['publisher started', '{"ok": true}']).join('\n')}\n`);
      }
      if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/services\/([^/]+)\/proxy\/(.*)$/.exec(p))) {
        if (m[3] !== 'stats') return json({ error: 'not found' }, 404);
        const seq = o.stats ?? [{ received: 10, unique_processed: 7, duplicate_dropped: 3, pending: 0, topics: [], uptime: 5 }];
        return json(seq[Math.min(statsServed++, seq.length - 1)]);
      }
      if (req.method === 'DELETE' && (m = /^\/(?:apis\/batch\/v1|api\/v1)\/namespaces\/[^/]+\/(jobs|configmaps)\/([^/]+)$/.exec(p))) {
        deleted.push(`${m[1]}/${m[2]}${url.search}`);
        return json({ kind: 'Status', apiVersion: 'v1', status: 'Success', code: 200 });
      }
      if (req.method === 'POST' && /^\/api\/v1\/namespaces\/([^/]+)\/configmaps$/.test(p)) {
        const cm = await req.json();
        created.configMaps.push(cm);
        if (o.configMapAbsent) return json(cm, 201);
        // Already there from an earlier run: the tool must replace it.
        return json({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'AlreadyExists', code: 409, message: 'exists' }, 409);
      }
      if (req.method === 'PUT' && /^\/api\/v1\/namespaces\/([^/]+)\/configmaps\/[^/]+$/.test(p)) {
        const cm = await req.json();
        created.replaced.push(cm);
        return json(cm);
      }
      return json({ kind: 'Status', code: 404, message: `fake apiserver: no route ${req.method} ${p}` }, 404);
    },
  });
  const url = `${o.tls ? 'https' : 'http'}://127.0.0.1:${server.port}`;
  const dir = mkdtempSync(join(tmpdir(), 'fake-kube-'));
  const kubeconfig = join(dir, 'config');
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const cluster = o.tls ? `    server: ${url}\n    certificate-authority-data: ${b64(o.tls.ca)}\n` : `    server: ${url}\n`;
  const user = o.tls
    ? `    client-certificate-data: ${b64(o.tls.clientCert)}\n    client-key-data: ${b64(o.tls.clientKey)}\n`
    : `    token: fake-token\n`;
  writeFileSync(
    kubeconfig,
    `apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n${cluster}contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: logbus\ncurrent-context: fake\nusers:\n- name: fake\n  user:\n${user}`,
  );
  return { url, kubeconfig, created, deleted, requests, stop: () => server.stop(true) };
}

/**
 * HTTP transport for @kubernetes/client-node under Bun.
 *
 * Why: client-node 2.x sends requests with `fetch` from `undici` and puts the kubeconfig's CA,
 * client certificate and key on an undici `dispatcher`. Under Bun, `undici` resolves to Bun's
 * built-in shim, whose fetch ignores `dispatcher`: the cluster CA is not trusted and no client
 * certificate is sent, so every kind cluster (self-signed CA + client-cert auth) fails with
 * SELF_SIGNED_CERT_IN_CHAIN (seen in ops/test/ops-tool.test.ts before this file existed).
 * (Pinning client-node 1.4.x, which sends through node-fetch and an https.Agent, was not tried.)
 *
 * So the generated API clients, models and kubeconfig handling stay client-node's; only the
 * request is sent with Bun's fetch and its `tls` option, filled from the same kubeconfig fields
 * client-node would use (`applyToHTTPSOptions`: CA, client cert/key, skip-verify, bearer
 * tokens and exec/auth-provider plugins).
 */
import * as k8s from '@kubernetes/client-node';

export interface Transport {
  /** Headers (Authorization, impersonation) for one request; re-read so exec tokens refresh. */
  headers(): Promise<Record<string, string>>;
  /** Bun fetch `tls` options. */
  tls: { ca?: string; cert?: string; key?: string; rejectUnauthorized: boolean };
  fetch(url: string, init?: RequestInit): Promise<Response>;
}

type HttpsOptions = { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean; headers?: Record<string, string>; auth?: string };

/**
 * The kubeconfig's TLS material and auth headers. `applyOptions` is the step of the public
 * `applyToHTTPSOptions` that fills exactly these fields; the public method goes on to build an
 * undici agent, which we do not use and which refuses plain-HTTP servers (`kubectl proxy`).
 * It is private in the typings, hence the guarded call with the public method as fallback.
 */
async function kubeconfigOptions(kc: k8s.KubeConfig): Promise<HttpsOptions> {
  const o: HttpsOptions = {};
  const inner = (kc as unknown as { applyOptions?: (o: HttpsOptions) => Promise<void> }).applyOptions;
  if (typeof inner === 'function') await inner.call(kc, o);
  else await kc.applyToHTTPSOptions(o as never);
  return o;
}

/** Builds the transport for the kubeconfig's current context. */
export async function transportFor(kc: k8s.KubeConfig): Promise<Transport> {
  const first = await kubeconfigOptions(kc);
  const tls = {
    ca: first.ca?.toString(),
    cert: first.cert?.toString(),
    key: first.key?.toString(),
    rejectUnauthorized: first.rejectUnauthorized ?? true,
  };
  const headers = async () => {
    const o = await kubeconfigOptions(kc);
    const h = { ...(o.headers ?? {}) };
    if (o.auth) h.Authorization = `Basic ${Buffer.from(o.auth).toString('base64')}`;
    return h;
  };
  return {
    headers,
    tls,
    fetch: async (url, init = {}) =>
      fetch(url, { ...init, headers: { ...(await headers()), ...(init.headers as Record<string, string>) }, tls } as RequestInit),
  };
}

/** A client-node Configuration whose requests go through `t` (see the file comment). */
export function configurationFor(server: string, t: Transport): k8s.Configuration {
  const http: k8s.PromiseHttpLibrary = {
    async send(req) {
      const res = await fetch(req.getUrl(), {
        method: req.getHttpMethod(),
        headers: req.getHeaders(),
        body: req.getBody() as BodyInit | undefined,
        signal: req.getSignal() as AbortSignal | undefined,
        tls: t.tls,
      } as RequestInit);
      const headers: Record<string, string> = {};
      res.headers.forEach((v, k) => {
        headers[k] = v;
      });
      const data = res.arrayBuffer().then((b) => Buffer.from(b));
      return new k8s.ResponseContext(res.status, headers, new k8s.SelfDecodingBody(data));
    },
  };
  const auth: k8s.SecurityAuthentication = {
    getName: () => 'kubeconfig (Bun transport)',
    async applySecurityAuthentication(ctx) {
      for (const [k, v] of Object.entries(await t.headers())) ctx.setHeaderParam(k, v);
    },
  };
  return k8s.createConfiguration({
    baseServer: new k8s.ServerConfiguration(server, {}),
    authMethods: { default: auth },
    httpApi: k8s.wrapHttpLibrary(http),
  });
}

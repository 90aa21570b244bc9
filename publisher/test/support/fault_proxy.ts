/**
 * A fault-injecting HTTP/1.1 proxy on 127.0.0.1, at the TCP level so it can do what an HTTP
 * framework will not: drop a connection mid-request or after the upstream committed. Only
 * POST /publish requests get faults; /stats passes through so --verify reads the truth.
 *
 * Faults, per request, chosen by `faultFor(n)` for the n-th /publish request:
 *   reset        read the request, close the socket, forward nothing (nothing stored)
 *   unavailable  answer 503 + Retry-After: 1 without forwarding (nothing stored)
 *   stall        forward (stored), then hold the response past the client's timeout and close
 *   lost-ack     forward (stored), then close without answering
 * stall and lost-ack commit upstream before the client gives up, so its retry must show up as
 * extra duplicates; `unacknowledgedEvents` counts those copies exactly.
 */

export type Fault = "pass" | "reset" | "unavailable" | "stall" | "lost-ack";

/** A running proxy. */
export interface FaultProxy {
  url: URL;
  injected: Record<Fault, number>;
  /** Events the upstream accepted (202) whose acknowledgement the proxy swallowed. */
  readonly unacknowledgedEvents: number;
  close(): Promise<void>;
}

interface ParsedRequest {
  method: string;
  path: string;
  headers: Headers;
  body: Uint8Array<ArrayBuffer>;
}

const CRLF = new TextEncoder().encode("\r\n");
const CRLF2 = new TextEncoder().encode("\r\n\r\n");

/** Start the proxy in front of `upstream`. */
export function startFaultProxy(
  upstream: URL,
  { faultFor, stallMs }: { faultFor: (n: number) => Fault; stallMs: number },
): FaultProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closing = new AbortController();
  const conns = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  const injected: Record<Fault, number> = { pass: 0, reset: 0, unavailable: 0, stall: 0, "lost-ack": 0 };
  let publishRequests = 0;
  let unacknowledgedEvents = 0;

  const serve = async (conn: Deno.Conn) => {
    const reader = new RequestReader(conn);
    for (;;) {
      const req = await reader.next();
      if (!req) return;
      const isPublish = req.method === "POST" && req.path.split("?")[0].endsWith("/publish");
      const fault = isPublish ? faultFor(publishRequests++) : "pass";
      injected[fault]++;
      if (fault === "reset") return;
      if (fault === "unavailable") {
        await writeAll(
          conn,
          rawResponse(
            503,
            { "content-type": "application/json", "retry-after": "1" },
            new TextEncoder().encode(JSON.stringify({ error: "injected fault: unavailable" })),
          ),
        );
        continue;
      }
      const res = await forward(upstream, req);
      if (fault === "pass") {
        await writeAll(conn, rawResponse(res.status, res.headers, res.body));
        continue;
      }
      if (res.status === 202) unacknowledgedEvents += JSON.parse(new TextDecoder().decode(req.body)).length;
      if (fault === "stall") await sleep(stallMs, closing.signal);
      return;
    }
  };

  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        conns.add(conn);
        const task: Promise<void> = serve(conn)
          .catch(() => {/* client went away mid-request: that is the point */})
          .finally(() => {
            closeQuietly(conn);
            conns.delete(conn);
            tasks.delete(task);
          });
        tasks.add(task);
      }
    } catch { /* listener closed */ }
  })();

  return {
    url: new URL(`http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`),
    injected,
    get unacknowledgedEvents() {
      return unacknowledgedEvents;
    },
    async close() {
      closing.abort();
      closeQuietly(listener);
      for (const conn of conns) closeQuietly(conn);
      await Promise.all([...tasks]);
      await accepting;
    },
  };
}

/** Reads HTTP/1.1 requests with Content-Length or chunked bodies. */
class RequestReader {
  #buffer: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  constructor(readonly conn: Deno.Conn) {}

  async next(): Promise<ParsedRequest | null> {
    let headEnd: number;
    while ((headEnd = indexOf(this.#buffer, CRLF2)) < 0) {
      if (!(await this.#fill())) return null;
    }
    const head = new TextDecoder().decode(this.#buffer.subarray(0, headEnd)).split("\r\n");
    const [method, path] = head[0].split(" ");
    const headers = new Headers();
    for (const line of head.slice(1)) {
      const colon = line.indexOf(":");
      headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }

    this.#buffer = this.#buffer.slice(headEnd + CRLF2.length);
    const chunked = /chunked/i.test(headers.get("transfer-encoding") ?? "");
    const body = chunked
      ? await this.#readChunked()
      : await this.#read(Number(headers.get("content-length") ?? 0));
    if (body === null) return null;
    return { method, path, headers, body };
  }

  /** Exactly `n` bytes, or null at EOF. */
  async #read(n: number): Promise<Uint8Array<ArrayBuffer> | null> {
    while (this.#buffer.length < n) {
      if (!(await this.#fill())) return null;
    }
    const out = this.#buffer.slice(0, n);
    this.#buffer = this.#buffer.slice(n);
    return out;
  }

  /** A chunked body (RFC 9112 §7.1), without trailers: what fetch sends for a stream body. */
  async #readChunked(): Promise<Uint8Array<ArrayBuffer> | null> {
    const parts: Uint8Array[] = [];
    for (;;) {
      let lineEnd: number;
      while ((lineEnd = indexOf(this.#buffer, CRLF)) < 0) {
        if (!(await this.#fill())) return null;
      }
      const size = parseInt(new TextDecoder().decode(this.#buffer.subarray(0, lineEnd)), 16);
      this.#buffer = this.#buffer.slice(lineEnd + CRLF.length);
      const chunk = await this.#read(size + CRLF.length);
      if (chunk === null) return null;
      if (size === 0) break;
      parts.push(chunk.subarray(0, size));
    }
    const body = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const p of parts) {
      body.set(p, offset);
      offset += p.length;
    }
    return body;
  }

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(64 * 1024);
    const n = await this.conn.read(chunk);
    if (n === null) return false;
    const merged = new Uint8Array(this.#buffer.length + n);
    merged.set(this.#buffer);
    merged.set(chunk.subarray(0, n), this.#buffer.length);
    this.#buffer = merged;
    return true;
  }
}

async function forward(upstream: URL, req: ParsedRequest) {
  const headers = new Headers();
  for (const name of ["content-type", "authorization", "accept"]) {
    const value = req.headers.get(name);
    if (value) headers.set(name, value);
  }
  const res = await fetch(new URL(req.path, upstream), {
    method: req.method,
    headers,
    body: req.method === "GET" || req.method === "HEAD" ? undefined : req.body,
  });
  const keep: Record<string, string> = {};
  for (const name of ["content-type", "retry-after"]) {
    const value = res.headers.get(name);
    if (value) keep[name] = value;
  }
  return { status: res.status, headers: keep, body: new Uint8Array(await res.arrayBuffer()) };
}

function rawResponse(status: number, headers: Record<string, string>, body: Uint8Array): Uint8Array {
  const head = [
    `HTTP/1.1 ${status} X`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    `content-length: ${body.length}`,
    "connection: keep-alive",
    "",
    "",
  ].join("\r\n");
  const headBytes = new TextEncoder().encode(head);
  const out = new Uint8Array(headBytes.length + body.length);
  out.set(headBytes);
  out.set(body, headBytes.length);
  return out;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array) {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i <= haystack.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

function closeQuietly(resource: { close(): void }) {
  try {
    resource.close();
  } catch { /* already closed */ }
}

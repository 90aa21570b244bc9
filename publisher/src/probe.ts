/**
 * Before the first batch: one GET /health, so a URL with nothing behind it is said in a second
 * instead of after every batch has spent its attempts (8 attempts × backoff ≈ a minute).
 * Only a failed connection stops the run; any HTTP answer, or a slow one, leaves it to the
 * sender's retries, since a busy or starting aggregator may still take the events.
 */
import { endpoint } from "./send.ts";

const NOTHING_THERE = /refused|dns error|failed to lookup|not known|no route to host|unreachable/i;

/**
 * The reason nothing can be sent to `url`, or undefined when something answered (or may yet).
 * With `waitMs` (--wait: a Job started together with the aggregator) it asks again every second
 * until then, saying once what it waits for.
 */
export async function probeAggregator(
  url: URL,
  timeoutMs: number,
  waitMs = 0,
  say: (line: string) => void = () => {},
): Promise<string | undefined> {
  const until = Date.now() + waitMs;
  let problem = await probeOnce(url, timeoutMs);
  if (problem && waitMs > 0) say(`waiting up to ${waitMs / 1000} s for ${url.origin} to listen\n`);
  while (problem && Date.now() < until) {
    await new Promise((r) => setTimeout(r, Math.min(1000, Math.max(0, until - Date.now()))));
    problem = await probeOnce(url, timeoutMs);
  }
  return problem;
}

async function probeOnce(url: URL, timeoutMs: number): Promise<string | undefined> {
  const health = endpoint(url, "/health");
  try {
    const response = await fetch(health, { signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    return undefined;
  } catch (e) {
    const err = e as Error & { cause?: { message?: string } };
    const text = `${err.message} ${err.cause?.message ?? ""}`;
    // TLS failures and timeouts are something answering: the sender reports those in full.
    if (err.name === "TimeoutError" || !NOTHING_THERE.test(text)) return undefined;
    const detail = /refused/i.test(text) ? "connection refused" : "no such host";
    return `nothing is listening at ${url.origin} (${detail}): ${hint(url)}`;
  }
}

/** On this machine the aggregator is `npm start`; elsewhere it is a Service or a container. */
function hint(url: URL): string {
  const local = ["localhost", "127.0.0.1", "[::1]", "0.0.0.0"].includes(url.hostname);
  return local
    ? "is `npm start` running (and on this port)?"
    : "is the aggregator running, and is this its address (in Kubernetes: the Service name and port)?";
}

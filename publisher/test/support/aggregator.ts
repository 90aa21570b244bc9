/**
 * The real aggregator as a child process: `bun aggregator/src/main.ts` from the repo root, the
 * way `npm start` runs it, on a free port and a database of our own. Its log is kept (last 200
 * lines) and shown when start-up fails, so a broken aggregator explains itself in our output.
 */
import { createDatabase, type TestDatabase } from "./database.ts";

const REPO_ROOT = new URL("../../../", import.meta.url).pathname;
const BUN = `${REPO_ROOT}node_modules/.bin/bun`;

/** A running aggregator. */
export interface AggregatorProcess {
  url: URL;
  logs(): string;
  /** SIGTERM (the contract says it drains and exits 0), SIGKILL after `graceMs`; returns the exit code. */
  stop(graceMs?: number): Promise<number>;
}

/** A free TCP port on 127.0.0.1 (bind 0, read, release). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Start the aggregator and resolve once GET /ready answers 200. */
export async function startAggregator(
  databaseUrl: string,
  env: Record<string, string> = {},
): Promise<AggregatorProcess> {
  const port = freePort();
  const url = new URL(`http://127.0.0.1:${port}`);
  const lines: string[] = [];
  const child = new Deno.Command(BUN, {
    args: ["aggregator/src/main.ts"],
    cwd: REPO_ROOT,
    env: { DATABASE_URL: databaseUrl, PORT: String(port), LOG_LEVEL: "warn", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const keep = (stream: ReadableStream<Uint8Array>) =>
    stream.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({
        write(chunk) {
          lines.push(...chunk.split("\n").filter((l) => l.length > 0));
          if (lines.length > 200) lines.splice(0, lines.length - 200);
        },
      }),
    );
  const pumps = Promise.all([keep(child.stdout), keep(child.stderr)]);
  const logs = () => lines.join("\n");
  let exited: Deno.CommandStatus | undefined;
  const status = child.status.then((s) => (exited = s));

  const stop = async (graceMs = 15_000): Promise<number> => {
    if (!exited) {
      child.kill("SIGTERM");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          if (!exited) child.kill("SIGKILL");
          resolve();
        }, graceMs);
      });
      await Promise.race([status, killed]);
      clearTimeout(timer);
    }
    const final = await status;
    await pumps;
    return final.code;
  };

  const readyBy = Date.now() + 60_000;
  while (Date.now() < readyBy) {
    if (exited) break;
    try {
      const res = await fetch(new URL("/ready", url), { signal: AbortSignal.timeout(1_000) });
      await res.body?.cancel();
      if (res.status === 200) return { url, logs, stop };
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  const code = await stop(2_000);
  throw new Error(`aggregator did not become ready (exit code ${code}); its log:\n${logs()}`);
}

/**
 * Runs `fn` against an aggregator on a fresh database of the server at `adminUrl`; afterwards
 * stops the aggregator (saying so when it breaks the exit-0 contract) and drops the database.
 */
export async function withAggregator(
  adminUrl: string,
  env: Record<string, string>,
  fn: (aggregator: AggregatorProcess) => Promise<void>,
): Promise<void> {
  let db: TestDatabase | undefined;
  let aggregator: AggregatorProcess | undefined;
  try {
    db = await createDatabase(adminUrl);
    aggregator = await startAggregator(db.url, env);
    await fn(aggregator);
  } finally {
    const code = await aggregator?.stop();
    if (code !== undefined && code !== 0) {
      console.log(`aggregator exited ${code} after SIGTERM (contract: 0)`);
    }
    await db?.drop();
  }
}

/**
 * A running `deno run main.ts` whose stderr is read as it comes, so a test can act on a line
 * (send Ctrl-C once progress shows, start a server once it says it waits) and still get the
 * whole output and the exit code at the end.
 */
import assert from "node:assert/strict";

export interface WatchedCli {
  /** Resolves once a stderr line matches, failing if the process exits first. */
  waitForStderr(pattern: RegExp | string): Promise<void>;
  /** Exit code, stdout and stderr once the process has ended. */
  finish(): Promise<{ code: number; stdout: string; stderr: string }>;
}

export function watchCli(child: Deno.ChildProcess): WatchedCli {
  const stdout = new Response(child.stdout).text();
  let stderr = "";
  const stderrDone = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => void (stderr += chunk) }),
  );
  let exited = false;
  const status = child.status.finally(() => (exited = true));
  const seen = (p: RegExp | string) => (typeof p === "string" ? stderr.includes(p) : p.test(stderr));
  return {
    async waitForStderr(pattern) {
      while (!seen(pattern)) {
        assert.ok(!exited, `exited before stderr showed ${pattern}:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async finish() {
      const [{ code }, out] = await Promise.all([status, stdout, stderrDone]);
      return { code, stdout: out, stderr };
    },
  };
}

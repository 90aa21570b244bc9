/** The CLI as users run it: exit codes and output of `deno run main.ts`. */
import assert from "node:assert/strict";
import { watchCli } from "./test/support/cli_process.ts";

const deno = Deno.execPath();
const main = new URL("./main.ts", import.meta.url).pathname;

async function run(args: string[], env: Record<string, string> = {}, stdin?: string) {
  const child = new Deno.Command(deno, {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", main, ...args],
    env: { NO_COLOR: "1", ...env },
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await child.output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

/** A port with nothing listening: bind one, note it, close it. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

Deno.test("CLI exit codes", async (t) => {
  await t.step("--help prints usage and exits 0", async () => {
    const r = await run(["--help"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /--dup-rate <v>/);
    // The command a user types from the repository, not deno's command line.
    assert.match(r.stdout, /^usage: npm run publish -- \[flags\]$/m);
    assert.doesNotMatch(r.stdout, /^usage: deno/m);
  });

  await t.step("bad arguments exit 2 and list every problem", async () => {
    const r = await run(["--events", "many", "--url", "nope"], { PUBLISHER_DUP_RATE: "2" });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--url must be/);
    assert.match(r.stderr, /--events must be/);
    assert.match(r.stderr, /PUBLISHER_DUP_RATE must be/);
  });

  await t.step("nothing listening: says so from the /health probe, with no retries, exit 1", async () => {
    const port = closedPort();
    const r = await run(["--url", `http://127.0.0.1:${port}`, "--events", "10", "--batch", "5", "--json"]);
    assert.equal(r.code, 1, r.stderr);
    const summary = JSON.parse(r.stdout);
    // No POST was attempted, so no batch spent its 8 attempts (about a minute of backoff)...
    assert.deepEqual(
      [summary.ok, summary.sent, summary.accepted, summary.failed, summary.requests, summary.retries],
      [false, 0, 0, 10, 0, 0],
    );
    // ...and the one line says what to do.
    assert.match(
      r.stderr,
      new RegExp(
        `error: nothing is listening at http://127\\.0\\.0\\.1:${port} \\(connection refused\\): is \`npm start\` running`,
      ),
    );
  });

  await t.step("--wait: a Job started with the aggregator waits for it to listen, then sends", async () => {
    const port = closedPort();
    const child = new Deno.Command(deno, {
      args: ["run", "--allow-net", "--allow-env", "--allow-read", main, "--url", `http://127.0.0.1:${port}`],
      env: {
        NO_COLOR: "1",
        PUBLISHER_EVENTS: "10",
        PUBLISHER_BATCH: "5",
        PUBLISHER_WAIT_S: "120",
        PUBLISHER_JSON: "1",
      },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const cli = watchCli(child);
    // Positive control: nothing listens yet, and the CLI says it waits instead of failing.
    await cli.waitForStderr(`waiting up to 120 s for http://127.0.0.1:${port} to listen`);
    // A stand-in aggregator (health + publish only) comes up on that port.
    const server = Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, async (request) => {
      if (new URL(request.url).pathname === "/health") return Response.json({ status: "ok" });
      const events = await request.json();
      return Response.json({ accepted: events.length }, { status: 202 });
    });
    try {
      const { code, stdout, stderr } = await cli.finish();
      assert.equal(code, 0, stderr);
      const summary = JSON.parse(stdout);
      assert.deepEqual([summary.ok, summary.sent, summary.accepted], [true, 10, 10]);
    } finally {
      await server.shutdown();
    }
  });

  await t.step("--ndjson input that is not events exits 2 naming the lines, sending nothing", async () => {
    const input = '{"topic":"t","event_id":"a","source":"s","payload":{}}\nnot json\n\n{"topic":"t"}\n';
    const r = await run(["--url", `http://127.0.0.1:${closedPort()}`, "--ndjson", "-"], {}, input);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /stdin: 2 lines are not events:\nline 2: not JSON .*\nline 4: "event_id" must be a non-empty string/,
    );
    assert.match(r.stderr, /nothing was sent/);
  });
});

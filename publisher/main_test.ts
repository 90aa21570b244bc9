/** The CLI as users run it: exit codes and output of `deno run main.ts`. */
import assert from "node:assert/strict";

const deno = Deno.execPath();
const main = new URL("./main.ts", import.meta.url).pathname;

async function run(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(deno, {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", main, ...args],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
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
  });

  await t.step("bad arguments exit 2 and list every problem", async () => {
    const r = await run(["--events", "many", "--url", "nope"], { PUBLISHER_DUP_RATE: "2" });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--url must be/);
    assert.match(r.stderr, /--events must be/);
    assert.match(r.stderr, /PUBLISHER_DUP_RATE must be/);
  });

  await t.step("an unreachable aggregator exits 1 after bounded retries, with the JSON summary", async () => {
    const r = await run([
      "--url",
      `http://127.0.0.1:${closedPort()}`,
      "--events",
      "10",
      "--batch",
      "5",
      "--attempts",
      "3",
      "--json",
    ]);
    assert.equal(r.code, 1, r.stderr);
    const summary = JSON.parse(r.stdout);
    assert.deepEqual([summary.ok, summary.accepted, summary.failed, summary.retries], [false, 0, 10, 4]);
    assert.match(r.stderr, /error: 10 of 10 events were not accepted/);
  });
});

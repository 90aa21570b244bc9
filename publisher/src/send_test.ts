import assert from "node:assert/strict";
import { generateBatches, planRun } from "./generate.ts";
import { Deadline } from "./retry.ts";
import { endpoint, newCounters, sendBatches, type SendContext } from "./send.ts";
import { startFaultProxy } from "../test/support/fault_proxy.ts";

/** A stand-in aggregator: `respond` decides each POST /publish; records what it saw. */
async function withFakeServer(
  respond: (events: unknown[], request: Request) => Response | Promise<Response>,
  fn: (url: URL, seen: { inFlight: number; maxInFlight: number; auth: Set<string> }) => Promise<void>,
) {
  const seen = { inFlight: 0, maxInFlight: 0, auth: new Set<string>() };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    seen.inFlight++;
    seen.maxInFlight = Math.max(seen.maxInFlight, seen.inFlight);
    seen.auth.add(request.headers.get("authorization") ?? "");
    try {
      const events = await request.json();
      await new Promise((r) => setTimeout(r, 2));
      return await respond(events, request);
    } finally {
      seen.inFlight--;
    }
  });
  try {
    await fn(new URL(`http://127.0.0.1:${server.addr.port}`), seen);
  } finally {
    await server.shutdown();
  }
}

const plan = planRun({ events: 1_000, dupRate: 0.3, topics: 3, seed: 11, epochMs: 0 });
const accepted = (events: unknown[]) => Response.json({ accepted: events.length }, { status: 202 });

async function send(url: URL, over: Partial<SendContext> = {}) {
  const deadline = new Deadline(10_000);
  try {
    return await sendBatches(generateBatches(plan, 100), {
      url,
      concurrency: 3,
      attempts: 3,
      timeoutMs: 2_000,
      deadline,
      counters: newCounters(),
      random: () => 0,
      ...over,
    });
  } finally {
    deadline.dispose();
  }
}

Deno.test("sender", async (t) => {
  await t.step("endpoints keep a base path prefix", () => {
    assert.equal(endpoint(new URL("http://h:1"), "/publish").href, "http://h:1/publish");
    assert.equal(endpoint(new URL("http://h/api"), "/stats").href, "http://h/api/stats");
    assert.equal(endpoint(new URL("http://h/api/"), "/stats").href, "http://h/api/stats");
  });

  await t.step("a refused connection counts as not sent: `sent` is what the server answered", async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const { port } = listener.addr as Deno.NetAddr;
    listener.close();
    const c = await send(new URL(`http://127.0.0.1:${port}`), { attempts: 2 });
    // Positive control: requests were attempted and every event failed.
    assert.ok(c.requests >= 2);
    assert.deepEqual([c.sent, c.accepted, c.failed], [0, 0, 1_000]);
  });

  await t.step("every batch is delivered with at most `concurrency` requests in flight", async () => {
    await withFakeServer(accepted, async (url, seen) => {
      const c = await send(url, { token: "tok" });
      assert.deepEqual([c.sent, c.accepted, c.failed, c.requests, c.retries], [1_000, 1_000, 0, 10, 0]);
      assert.equal(c.latenciesMs.length, 10);
      assert.ok(seen.maxInFlight <= 3 && seen.maxInFlight >= 2, String(seen.maxInFlight));
      assert.deepEqual([...seen.auth], ["Bearer tok"]);
    });
  });

  await t.step("a 400 is not retried and its error body is reported; other batches still go", async () => {
    let calls = 0;
    const body = { error: "invalid event", details: [{ index: 0, field: "topic", message: "bad" }] };
    await withFakeServer(
      (events) => (++calls === 1 ? Response.json(body, { status: 400 }) : accepted(events)),
      async (url) => {
        const c = await send(url);
        assert.equal(calls, 10);
        assert.deepEqual([c.accepted, c.failed, c.retries], [900, 100, 0]);
        assert.equal(c.rejections.length, 1);
        assert.equal(c.rejections[0].status, 400);
        assert.deepEqual(JSON.parse(c.rejections[0].body!), body);
      },
    );
  });

  for (const status of [401, 403]) {
    await t.step(`a ${status} stops the run: no point sending more with the same token`, async () => {
      let calls = 0;
      await withFakeServer(
        () => (calls++, Response.json({ error: "refused" }, { status })),
        async (url) => {
          const c = await send(url, { concurrency: 1 });
          assert.equal(calls, 1);
          assert.deepEqual([c.accepted, c.failed], [0, 1_000]);
          assert.deepEqual(c.rejections.map((r) => [r.why, r.events]), [["rejected", 100], [
            "not sent",
            900,
          ]]);
        },
      );
    });
  }

  await t.step("a 500 then 202 is retried and counted as a possible re-delivery", async () => {
    let calls = 0;
    await withFakeServer(
      (events) => (++calls === 1 ? new Response("boom", { status: 500 }) : accepted(events)),
      async (url) => {
        const c = await send(url, { concurrency: 1 });
        assert.deepEqual([c.accepted, c.failed, c.retries, c.requests, c.maybeRedelivered], [
          1_000,
          0,
          1,
          11,
          100,
        ]);
        assert.deepEqual(c.retryReasons, { "HTTP 500": 1 });
      },
    );
  });

  await t.step("a 202 accepting fewer events than sent counts the rest as failed", async () => {
    await withFakeServer(
      (events) => Response.json({ accepted: events.length - 1 }, { status: 202 }),
      async (url) => {
        const c = await send(url);
        assert.deepEqual([c.accepted, c.failed], [990, 10]);
        assert.equal(c.rejections[0].why, "partial");
      },
    );
  });

  await t.step(
    "a connection dropped after the request is a visible retry, never a silent re-send by fetch",
    async () => {
      let received = 0;
      await withFakeServer((events) => (received++, accepted(events)), async (url) => {
        // Batch 2 is stored upstream but its answer is lost; batch 4's connection drops unanswered.
        const faults = ["pass", "lost-ack", "pass", "reset"] as const;
        const proxy = startFaultProxy(url, { faultFor: (n) => faults[n] ?? "pass", stallMs: 0 });
        try {
          const c = await send(proxy.url, { concurrency: 1 });
          assert.deepEqual([c.accepted, c.retries, c.requests, received], [1_000, 2, 12, 11]);
          assert.deepEqual(c.retryReasons, { "network error": 2 });
          assert.equal(c.maybeRedelivered, 200);
        } finally {
          await proxy.close();
        }
      });
    },
  );
});

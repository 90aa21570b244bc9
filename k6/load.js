// logbus load test: the seed report's run (50 VUs for 20 s, 50 events per request, ~37 %
// duplicates), parametrised by environment variables, with thresholds on p95 latency and the
// failed-request rate, and an end-of-run check that /stats satisfies
// received == unique_processed + duplicate_dropped + pending.
//
//   k6 run k6/load.js                                  # against http://127.0.0.1:8080
//   BASE_URL=http://aggregator:8080 VUS=100 DURATION=1m k6 run k6/load.js
//
// Environment: BASE_URL, VUS (50), DURATION (20s), BATCH (50), DUP_RATE (0.37), TOPICS (4),
// P95_MS (1500), MAX_ERROR_RATE (0.01), AUTH_TOKEN (optional bearer token),
// READY_TIMEOUT_S (60: setup waits this long for /ready), DRAIN_TIMEOUT_S (30: teardown waits
// this long for pending to reach 0 before the final /stats check), SUMMARY_JSON (optional path
// for the full JSON summary).
//
// One file on purpose: the Helm chart ships it in a ConfigMap (charts/aggregator/files/load.js)
// and kustomize in another (k8s/jobs/load.js); both are synced copies checked by ops/test.
// The pure parts (settings, batch generation, the invariant) are exported for unit tests.
import http from "k6/http";
import { check, sleep } from "k6";
import { Counter, Rate } from "k6/metrics";
import exec from "k6/execution";

/** Parses the run's settings from the environment (pure; throws on a bad value). */
export function readSettings(env) {
  const num = (name, fallback, ok) => {
    const raw = env[name];
    if (raw === undefined || raw === "") return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || !ok(value)) throw new Error(`${name}=${JSON.stringify(raw)} is out of range`);
    return value;
  };
  const int = (n) => Number.isInteger(n) && n >= 1;
  return {
    baseUrl: (env.BASE_URL || "http://127.0.0.1:8080").replace(/\/+$/, ""),
    vus: num("VUS", 50, int),
    duration: env.DURATION || "20s",
    batch: num("BATCH", 50, int),
    dupRate: num("DUP_RATE", 0.37, (n) => n >= 0 && n < 1),
    topics: num("TOPICS", 4, int),
    p95Ms: num("P95_MS", 1500, (n) => n > 0),
    maxErrorRate: num("MAX_ERROR_RATE", 0.01, (n) => n >= 0 && n <= 1),
    token: env.AUTH_TOKEN || "",
    readyTimeoutS: num("READY_TIMEOUT_S", 60, (n) => n >= 0),
    drainTimeoutS: num("DRAIN_TIMEOUT_S", 30, (n) => n >= 0),
  };
}

const settings = readSettings(__ENV);

export const options = {
  vus: settings.vus,
  duration: settings.duration,
  setupTimeout: `${settings.readyTimeoutS + 30}s`,
  teardownTimeout: `${settings.drainTimeoutS + 30}s`,
  thresholds: {
    http_req_duration: [`p(95)<${settings.p95Ms}`],
    http_req_failed: [`rate<${settings.maxErrorRate}`],
    // Recorded once, in teardown: 1 when /stats satisfied the invariant.
    stats_invariant: ["rate==1"],
  },
  summaryTrendStats: ["avg", "min", "med", "p(90)", "p(95)", "max"],
};

const eventsSent = new Counter("events_sent");
const duplicatesSent = new Counter("duplicates_sent");
const eventsAccepted = new Counter("events_accepted");
const statsInvariant = new Rate("stats_invariant");
const receivedDelta = new Counter("stats_received_delta");

/**
 * Builds one batch. Each event is, with probability dupRate, an exact copy of an event this VU
 * sent before (same topic and event_id, so the aggregator must count it as a duplicate), else a
 * new event. `state` carries the VU's counter and a bounded ring of earlier events.
 */
export function makeBatch(state, { size, dupRate, topics, runId, vu }, random = Math.random) {
  const events = [];
  let duplicates = 0;
  for (let i = 0; i < size; i++) {
    if (state.ring.length > 0 && random() < dupRate) {
      events.push(state.ring[Math.floor(random() * state.ring.length)]);
      duplicates++;
      continue;
    }
    state.seq++;
    const event = {
      topic: `load-${state.seq % topics}`,
      event_id: `${runId}-${vu}-${state.seq}`,
      timestamp: new Date().toISOString(),
      source: `k6-vu-${vu}`,
      payload: { seq: state.seq, vu },
    };
    events.push(event);
    if (state.ring.length < 1000) state.ring.push(event);
    else state.ring[state.seq % 1000] = event;
  }
  return { events, duplicates };
}

/** Returns a list of problems with a /stats body; empty when the counters are consistent. */
export function invariantProblems(stats) {
  const keys = ["received", "unique_processed", "duplicate_dropped", "pending"];
  const bad = keys.filter((k) => !Number.isInteger(stats?.[k]) || stats[k] < 0);
  if (bad.length) return [`/stats lacks non-negative integers for ${bad.join(", ")}`];
  const sum = stats.unique_processed + stats.duplicate_dropped + stats.pending;
  return stats.received === sum
    ? []
    : [`received ${stats.received} != unique_processed ${stats.unique_processed} + duplicate_dropped ${stats.duplicate_dropped} + pending ${stats.pending} (= ${sum})`];
}

function headers() {
  const h = { "Content-Type": "application/json" };
  if (settings.token) h.Authorization = `Bearer ${settings.token}`;
  return h;
}

function getStats() {
  // With auth on, /stats needs a token with the read scope (the client token then needs publish+read).
  const res = http.get(`${settings.baseUrl}/stats`, { headers: headers(), tags: { name: "stats" }, responseCallback: http.expectedStatuses(200) });
  return res.status === 200 ? res.json() : null;
}

// Waits for /ready (a Job may start before the replicas are migrated), then records /stats.
export function setup() {
  const deadline = Date.now() + settings.readyTimeoutS * 1000;
  for (;;) {
    const res = http.get(`${settings.baseUrl}/ready`, { tags: { name: "ready" }, responseCallback: http.expectedStatuses(200, 503) });
    if (res.status === 200) break;
    if (Date.now() > deadline) exec.test.abort(`${settings.baseUrl}/ready did not answer 200 within ${settings.readyTimeoutS}s (last: ${res.status})`);
    sleep(1);
  }
  const before = getStats();
  return { runId: `${Date.now().toString(36)}`, receivedBefore: before ? before.received : null };
}

const vuState = { seq: 0, ring: [] };

export default function (data) {
  const { events, duplicates } = makeBatch(vuState, {
    size: settings.batch,
    dupRate: settings.dupRate,
    topics: settings.topics,
    runId: data.runId,
    vu: exec.vu.idInTest,
  });
  const res = http.post(`${settings.baseUrl}/publish`, JSON.stringify(events), {
    headers: headers(),
    tags: { name: "publish" },
    responseCallback: http.expectedStatuses(202),
  });
  eventsSent.add(events.length);
  duplicatesSent.add(duplicates);
  const ok = check(res, { "publish answered 202": (r) => r.status === 202 });
  if (ok) eventsAccepted.add(events.length);
}

// Waits for the inbox to drain (pending == 0), then checks the invariant once.
export function teardown(data) {
  const deadline = Date.now() + settings.drainTimeoutS * 1000;
  let stats = getStats();
  while (stats && stats.pending > 0 && Date.now() < deadline) {
    sleep(1);
    stats = getStats();
  }
  const problems = stats ? invariantProblems(stats) : [`GET ${settings.baseUrl}/stats failed`];
  statsInvariant.add(problems.length === 0);
  if (stats && data.receivedBefore !== null) receivedDelta.add(stats.received - data.receivedBefore);
  if (problems.length) {
    console.error(`stats invariant violated: ${problems.join("; ")}`);
  } else {
    console.log(`stats ok: ${JSON.stringify(stats)}`);
  }
}

/** A compact text summary (no remote jslib import: the Job's NetworkPolicy allows no internet). */
export function handleSummary(data) {
  const m = data.metrics;
  const val = (name, key) => (m[name] && m[name].values[key] !== undefined ? m[name].values[key] : 0);
  const lines = [
    "logbus k6 summary",
    `  requests        ${val("http_reqs", "count")} (${val("http_reqs", "rate").toFixed(1)}/s)`,
    `  failed rate     ${(val("http_req_failed", "rate") * 100).toFixed(2)} %`,
    `  latency         avg ${val("http_req_duration", "avg").toFixed(1)} ms, p95 ${val("http_req_duration", "p(95)").toFixed(1)} ms, max ${val("http_req_duration", "max").toFixed(1)} ms`,
    `  events sent     ${val("events_sent", "count")} (duplicates ${val("duplicates_sent", "count")}), accepted ${val("events_accepted", "count")}`,
    `  /stats received +${val("stats_received_delta", "count")} during the run`,
    `  invariant       ${val("stats_invariant", "rate") === 1 ? "ok" : "VIOLATED"}`,
  ];
  for (const [name, metric] of Object.entries(m)) {
    for (const [expr, res] of Object.entries(metric.thresholds || {})) {
      lines.push(`  threshold ${name} ${expr}: ${res.ok ? "ok" : "FAILED"}`);
    }
  }
  const out = { stdout: `${lines.join("\n")}\n` };
  if (__ENV.SUMMARY_JSON) out[__ENV.SUMMARY_JSON] = JSON.stringify(data);
  return out;
}

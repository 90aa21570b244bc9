/**
 * The memory bound of issue 22: a real replica with the defaults survives 16 concurrent
 * worst-case requests on every ingest route (bodies at MAX_BODY_BYTES that pass the decode
 * budget, and the expansion bombs it refuses) within the chart's 512 MiB limit, and /health
 * keeps answering meanwhile. RSS is read from /proc while the requests run.
 *
 * In `npm test` the accepted bodies hold 1000 records (about 1 MiB; storing 16 x 5 x 5000
 * events takes minutes on a loaded machine); HOSTILE_RECORDS=5000 puts each at MAX_BODY_BYTES
 * (`npm run bench -- --only hostile` runs that). The refused bombs are full size either way.
 */
import { expect, test } from 'bun:test';
import * as snappy from 'snappyjs';
import { useReplicaProcess } from '../support/process-replica';
import { errorLines, residentMiB } from '../support/faults';
import { sendCopies, worstCaseBodies } from '../support/worst-case';

const CHART_MEMORY_LIMIT_MIB = 512;
const CONCURRENT = 16;
const RECORDS = Number(process.env.HOSTILE_RECORDS ?? 1000);
const replica = useReplicaProcess('hostile_memory');

test(`${CONCURRENT} concurrent worst-case requests per route stay under ${CHART_MEMORY_LIMIT_MIB} MiB RSS; /health answers meanwhile`, async () => {
  const bodies = worstCaseBodies(snappy.compress as (input: Uint8Array) => Uint8Array, RECORDS);
  const baseline = residentMiB(replica.agg.pid);
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, residentMiB(replica.agg.pid));
  }, 20);
  const healthMs: number[] = [];
  let running = true;
  const prober = (async () => {
    while (running) {
      const started = performance.now();
      // 30 s: the chart's liveness probe restarts a pod only after about that long without an
      // answer (3 failures, 10 s apart); a 10 s deadline timed out once at load 19-27.
      const response = await fetch(`${replica.agg.url}/health`, { signal: AbortSignal.timeout(30_000) });
      expect(response.status).toBe(200);
      healthMs.push(performance.now() - started);
      await Bun.sleep(50);
    }
  })();
  const statuses: Record<string, number[]> = {};
  try {
    for (const body of bodies) {
      const answers = await sendCopies(replica.agg.url, body, CONCURRENT, 120_000);
      statuses[body.name] = answers;
    }
  } finally {
    running = false;
    clearInterval(sampler);
    await prober;
  }
  const sorted = [...healthMs].sort((a, b) => a - b);
  console.log(
    `peak RSS ${peak.toFixed(0)} MiB (baseline ${baseline.toFixed(0)}); /health p50 ${sorted[Math.floor(sorted.length / 2)]?.toFixed(1)} ms, ` +
      `max ${sorted[sorted.length - 1]?.toFixed(1)} ms over ${sorted.length} probes`,
  );
  // Any 500 is a defect: its cause is in the replica's error log (printed, so a failure says why).
  const unhandled = errorLines(replica.agg.output());
  if (unhandled.length > 0) console.log(`replica errors:\n${unhandled.join('\n').slice(0, 4000)}`);
  for (const body of bodies) {
    // The precondition: each body is answered as intended (bombs refused, the rest accepted). An
    // accepted body may also meet the retryable answers of an overloaded PostgreSQL (429, 503 with
    // Retry-After: seen once on a machine at load average 37); never a 500.
    const allowed = new Set(body.expect < 300 ? [body.expect, 429, 503] : [body.expect]);
    const unexpected = (statuses[body.name] ?? []).filter((status) => !allowed.has(status));
    expect({ name: body.name, unexpected, answered: statuses[body.name]?.includes(body.expect) }).toEqual({
      name: body.name,
      unexpected: [],
      answered: true,
    });
  }
  expect(peak).toBeLessThan(CHART_MEMORY_LIMIT_MIB);
  // Every probe answered (each within its own 30 s deadline, asserted above); the 100 ms target
  // is measured in bench/, not asserted on a machine shared with other work.
  expect(healthMs.length).toBeGreaterThan(0);
}, 600_000);

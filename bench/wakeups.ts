/**
 * `bun bench/wakeups.ts [--replicas 6] [--seconds 10] [--rate 50]`: worker wake-ups with
 * several replicas of which only one receives publishes (idle-but-one). A steady stream of
 * requests (20 events over --topics topics each, default 8) goes to replica 0; every replica's
 * logbus_worker_empty_leases_total and committed batches are read before and after, and the
 * empty-lease rate is printed next to the floor the 2 s idle poll alone causes. Before the
 * change every commit woke every idle worker of every replica (about replicas x WORKERS empty
 * leases per commit window).
 */
import { parseArgs } from 'node:util';
import { startAggregators, startServer } from './lib/server';

const { values } = parseArgs({
  options: {
    replicas: { type: 'string', default: '6' },
    seconds: { type: 'string', default: '10' },
    rate: { type: 'string', default: '50' },
    topics: { type: 'string', default: '8' },
  },
});
const topics = Number(values.topics);
const replicas = Number(values.replicas);
const seconds = Number(values.seconds);
const rate = Number(values.rate);
const WORKERS = 4;
const IDLE_POLL_S = 2;
const log = (line: string) => process.stderr.write(`[wakeups] ${line}\n`);

const server = await startServer(log);
const url = await server.createDatabase('wakeups', true);
const aggregators = await startAggregators(server, url, replicas, { WORKERS: String(WORKERS), LOG_LEVEL: 'warn' });

async function scrape(base: string): Promise<{ empty: number; batches: number }> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return { empty: value('logbus_worker_empty_leases_total'), batches: value('logbus_worker_batch_events_count') };
}

try {
  await Bun.sleep(1_000); // past startup's first leases
  const before = await Promise.all(aggregators.urls.map(scrape));
  const started = performance.now();
  let sent = 0;
  while (performance.now() - started < seconds * 1000) {
    const events = Array.from({ length: 20 }, (_, i) => ({
      topic: `wake-${(sent * 20 + i) % topics}`,
      event_id: `w-${sent}-${i}`,
      timestamp: '2025-01-01T00:00:00Z',
      source: 'bench',
      payload: { i },
    }));
    const response = await fetch(`${aggregators.urls[0]}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    if (response.status !== 202) throw new Error(`publish: ${response.status}`);
    sent++;
    const due = started + (sent * 1000) / rate;
    if (due > performance.now()) await Bun.sleep(due - performance.now());
  }
  const elapsed = (performance.now() - started) / 1000;
  await Bun.sleep(500);
  const after = await Promise.all(aggregators.urls.map(scrape));
  const rows = after.map((a, i) => ({ empty: a.empty - before[i]!.empty, batches: a.batches - before[i]!.batches }));
  const empty = rows.reduce((s, r) => s + r.empty, 0);
  const batches = rows.reduce((s, r) => s + r.batches, 0);
  const floor = (replicas * WORKERS) / IDLE_POLL_S;
  console.log(
    `${replicas} replicas x WORKERS=${WORKERS}, publishes to replica 0 only (20 events over ${topics} topics each): ${sent} requests in ${elapsed.toFixed(1)} s (${(sent / elapsed).toFixed(0)}/s)`,
  );
  console.log('| replica | empty leases/s | committed batches/s |');
  console.log('|---|---:|---:|');
  rows.forEach((r, i) => {
    console.log(`| ${i}${i === 0 ? ' (publishes)' : ''} | ${(r.empty / elapsed).toFixed(1)} | ${(r.batches / elapsed).toFixed(1)} |`);
  });
  console.log(`| all | ${(empty / elapsed).toFixed(1)} | ${(batches / elapsed).toFixed(1)} |`);
  console.log(
    `idle-poll floor (one lease per worker every ${IDLE_POLL_S} s): ${floor.toFixed(1)}/s; empty leases per request beyond it: ${(Math.max(0, empty / elapsed - floor) / (sent / elapsed)).toFixed(2)}`,
  );
} finally {
  await aggregators.stop();
  await server.stop();
}

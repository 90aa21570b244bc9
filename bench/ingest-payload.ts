/**
 * `bun bench/ingest-payload.ts [--rounds N] [--batch N]`: the CPU cost per publish request of
 * parse + validate + building the inbox columns, with payloads stored as re-serialised values
 * (before: JSON.parse then JSON.stringify per payload, which altered 64-bit ids and key order)
 * and as the text received (after: JSON.parse for validation plus the scan for each payload's
 * text). Both run interleaved, round by round, on the bench's own request bodies, so a
 * disturbance on a shared machine touches both alike. No database: the SQL is the same text
 * either way.
 */
import { parseArgs } from 'node:util';
import { inboxColumns } from '../aggregator/src/ingest/enqueue';
import { loadConfig } from '../aggregator/src/config';
import { DecodeBudget } from '../aggregator/src/ingest/decode-budget';
import { parseBody, parsePublishBody } from '../aggregator/src/ingest/parse';
import { validateEvents } from '../aggregator/src/ingest/validate';
import { BatchPool } from './lib/generate';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '7' }, batch: { type: 'string', default: '50' }, requests: { type: 'string', default: '2000' } },
});
const rounds = Number(values.rounds);
const requests = Number(values.requests);
const pool = new BatchPool({ batches: requests, batchSize: Number(values.batch), dupRate: 0, topics: 16, seed: 0x10605 });
const bodies = Array.from({ length: requests }, (_, i) => pool.body(i));

let sink = 0;
function before(text: string): void {
  const values = parseBody(text, 'json', new DecodeBudget(loadConfig({})));
  const events = validateEvents(
    values.map((value) => ({ value })),
    text,
  );
  // Without a payload text, each payload is JSON.stringify'd: what postgres.js did with the
  // json[] parameter of objects before.
  sink += inboxColumns(events).payloads.length;
}
function after(text: string): void {
  const candidates = parsePublishBody(text, 'json', new DecodeBudget(loadConfig({})));
  sink += inboxColumns(validateEvents(candidates, text)).payloads.length;
}

function time(run: (text: string) => void): number {
  const started = performance.now();
  for (const body of bodies) run(body);
  return ((performance.now() - started) * 1000) / bodies.length;
}

// Warm both paths up (JIT) before measuring.
time(before);
time(after);
const results = { before: [] as number[], after: [] as number[] };
for (let r = 0; r < rounds; r++) {
  results.before.push(time(before));
  results.after.push(time(after));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const b = median(results.before);
const a = median(results.after);
console.log(
  `parse + validate + inbox columns, ${values.batch} events per request (${Math.round(bodies[0]!.length / 1024)} KiB), median of ${rounds} rounds x ${requests} requests`,
);
console.log('| payload stored as | us per request | ratio |');
console.log('|---|---:|---:|');
console.log(`| re-serialised value (before) | ${b.toFixed(1)} | 1.00 |`);
console.log(`| text as received (after) | ${a.toFixed(1)} | ${(a / b).toFixed(2)} |`);
if (sink < 0) console.log(sink);

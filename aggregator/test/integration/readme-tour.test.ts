/**
 * The README's quick start and API tour, as the README writes them: after the quick start's
 * publish (its `--events` and `--dup-rate`), the tour's event is published, paged, and the
 * `after=<next_after>` line it shows gives the next page, which is empty (an example that
 * returned the same page again once stood there), with the seq and next_after the README prints.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { workload } from '../support/faults';
import { startTestAggregator, type TestAggregator } from '../support/harness';

const README = readFileSync(resolve(import.meta.dir, '../../../README.md'), 'utf8');

/** The first match of `pattern` in the README, or a failure naming what the README lacks. */
function fromReadme(pattern: RegExp, what: string): RegExpMatchArray {
  const match = README.match(pattern);
  if (!match) throw new Error(`README.md no longer shows ${what} (${pattern})`);
  return match;
}

let agg: TestAggregator;
beforeAll(async () => {
  agg = await startTestAggregator();
}, 60_000);
afterAll(async () => {
  await agg?.close();
}, 30_000);

test("the API tour's paging example is what a reader gets after the quick start", async () => {
  const quickStart = fromReadme(/npm run publish -- --events (\d+) --dup-rate ([\d.]+)/, 'the quick start publish');
  const [total, dupRate] = [Number(quickStart[1]), Number(quickStart[2])];
  const body = fromReadme(/curl -s -XPOST localhost:8080\/publish -H 'content-type: application\/json' -d '(\{[^']+\})'/, 'the tour publish');
  const firstPage = fromReadme(
    /curl -s '(localhost:8080\/events\?topic=[\w.]+&limit=\d+)'\n# (\{.*"seq" : (\d+).*"next_after":(\d+)\})\ncurl -s '(localhost:8080\/events\?[^']*after=(\d+))'/,
    'the paging example',
  );
  const [, firstUrl, , shownSeq, shownNext, nextUrl, shownAfter] = firstPage.map(String);
  // The README agrees with itself: the second request sends back the next_after it shows.
  expect(shownAfter).toBe(shownNext);
  expect(nextUrl).toBe(`${firstUrl}&after=${shownNext}`);

  // The quick start: `total` events, `dupRate` of them copies (seqs are drawn per event at ingest).
  const { events } = workload(total, dupRate, 4, 'quick');
  expect(events.length).toBe(total);
  for (let i = 0; i < events.length; i += 500) expect((await agg.publish(events.slice(i, i + 500))).status).toBe(202);
  expect((await agg.publish(body![1]!)).status).toBe(202);
  const stats = await agg.drained(60_000);
  expect(stats.received).toBe(total + 1);

  const path = (url: string) => url.replace('localhost:8080', '');
  const page = (await (await agg.request(path(firstUrl!))).json()) as { events: { seq: number; event_id: string }[]; next_after: number };
  expect(page.events.map((e) => e.event_id)).toEqual(['evt-1']);
  expect(page.events[0]!.seq).toBe(Number(shownSeq));
  expect(page.next_after).toBe(Number(shownNext));
  const next = (await (await agg.request(path(nextUrl!))).json()) as { events: unknown[] };
  expect(next.events).toEqual([]);
}, 120_000);

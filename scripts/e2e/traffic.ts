/** Traffic through the stack: publishing, the publisher image, and the counters that must add up. */
import type { Stats } from '../../aggregator/src/api/contract';
import { PROJECT, PUBLISHER_IMAGE, compose, docker, lastLines, must, run, sleep } from './shell';
import { proxyUrl } from './stack';
import { check, waitUntil } from './steps';

export async function stats(): Promise<Stats> {
  return (await (await fetch(`${proxyUrl()}/stats`, { signal: AbortSignal.timeout(10_000) })).json()) as Stats;
}

export async function settledStats(): Promise<Stats> {
  return waitUntil('pending back to 0', 120_000, async () => {
    const s = await stats();
    return s.pending === 0 ? s : null;
  });
}

export async function publishAndVerify(): Promise<string> {
  const events = Array.from({ length: 100 }, (_, i) => ({
    topic: 'e2e.proxy',
    event_id: `proxy-${Date.now()}-${i}`,
    timestamp: new Date().toISOString(),
    source: 'e2e',
    payload: { i },
  }));
  const before = await settledStats();
  const response = await fetch(`${proxyUrl()}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify([...events, events[0]]),
  });
  check(response.status === 202, `POST /publish through the proxy answered ${response.status}: ${await response.text()}`);
  const after = await settledStats();
  check(
    after.unique_processed - before.unique_processed === 100 && after.duplicate_dropped - before.duplicate_dropped === 1,
    `stats grew by ${JSON.stringify({ unique: after.unique_processed - before.unique_processed, dup: after.duplicate_dropped - before.duplicate_dropped })}, expected 100 unique + 1 duplicate`,
  );
  const r = await run(compose('run', '--rm', '--no-deps', '-e', 'PUBLISHER_EVENTS=5000', '-e', 'PUBLISHER_DUP_RATE=0.3', publisherService), {
    timeoutMs: 300_000,
  });
  check(r.code === 0, `the publisher (--verify) exited ${r.code}: ${lastLines(r.stdout + r.stderr, 6)}`);
  return `101 events through the proxy -> 202, /stats +100 unique +1 duplicate; publisher image (5,000 events, 30% duplicates, PUBLISHER_VERIFY) exit 0: ${lastLines(r.stdout, 1).slice(0, 120)}`;
}
const publisherService = 'publisher';

export async function publisherSignals(): Promise<string> {
  const out: string[] = [];
  for (const [signal, expected] of [
    ['TERM', 143],
    ['INT', 130],
  ] as const) {
    const id = (
      await must(
        docker(
          'run',
          '-d',
          '--read-only',
          '--cap-drop',
          'ALL',
          '--security-opt',
          'no-new-privileges:true',
          '--tmpfs',
          '/tmp',
          '--network',
          `${PROJECT}_internal`,
          PUBLISHER_IMAGE,
          '--url',
          'http://proxy:8080',
          '--events',
          '5000000',
          '--rate',
          '500',
          '--dup-rate',
          '0',
          '--topics',
          '1',
          '--batch',
          '50',
        ),
      )
    ).trim();
    try {
      await waitUntil('the publisher running', 30_000, async () => (await must(docker('inspect', '-f', '{{.State.Running}}', id))).trim() === 'true');
      await sleep(2_000);
      const pid1 = (await run(docker('top', id, '-o', 'pid,comm'))).stdout;
      await must(docker('kill', '-s', signal, id));
      const code = Number((await must(docker('wait', id), 30_000)).trim());
      check(code !== 139, `SIG${signal}: exit 139 (SIGSEGV)`);
      check(code === expected, `SIG${signal}: exit ${code}, expected ${expected}`);
      out.push(`SIG${signal} -> ${code}`);
      if (signal === 'TERM') check(/tini/.test(pid1), `tini is not in the container's process list: ${pid1.replace(/\s+/g, ' ')}`);
    } finally {
      await run(docker('rm', '-f', id));
    }
  }
  return `${out.join(', ')} (tini is PID 1 and forwards the signal; deno ends by it, no SIGSEGV)`;
}

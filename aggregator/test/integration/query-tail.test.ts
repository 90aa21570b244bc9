/**
 * The live tail (/loki/api/v1/tail, Grafana's Live) over a real WebSocket: a client tails while
 * events are published, and gets each matching line once, in Loki's frame shape; the history
 * it starts with; a bad query closes the socket with the reason; the read scope is required.
 */
import { describe, expect, test } from 'bun:test';
import { ReadBudget } from '../../src/events/read-budget';
import { QueryEngine } from '../../src/query/engine';
import { QUERY_LIMITS } from '../../src/query/limits';
import { eventually, servedAggregator } from '../support/shipper';

const READER = 'reader-token-0123456789abcdef';
const PUBLISHER = 'publisher-token-0123456789abcdef';
const served = servedAggregator({ AUTH_TOKENS: `r:read:${READER},p:publish:${PUBLISHER}` });

interface Frame {
  streams: { stream: Record<string, string>; values: [string, string][] }[];
}

function tail(query: string, token: string | null = READER) {
  const url = `${served.server.url.replace('http', 'ws')}/loki/api/v1/tail?${new URLSearchParams({ query, limit: '10' })}`;
  const socket = new WebSocket(url, token ? ({ headers: { authorization: `Bearer ${token}` } } as never) : undefined);
  const frames: Frame[] = [];
  let closed: { code: number; reason: string } | null = null;
  socket.addEventListener('message', (event) => frames.push(JSON.parse(String(event.data))));
  socket.addEventListener('close', (event) => {
    closed = { code: event.code, reason: event.reason };
  });
  const opened = new Promise<boolean>((resolve) => {
    socket.addEventListener('open', () => resolve(true));
    socket.addEventListener('close', () => resolve(false));
  });
  return { socket, frames, opened, closed: () => closed, lines: () => frames.flatMap((f) => f.streams.flatMap((s) => s.values.map((v) => v[1]))) };
}

const publish = (events: object[]) =>
  fetch(`${served.server.url}/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${PUBLISHER}`, 'content-type': 'application/json' },
    body: JSON.stringify(events),
  });

describe('live tail', () => {
  test('history first, then each published line that matches, once, in Loki frames', async () => {
    const now = Date.now();
    const event = (i: number, text: string, topic = 'tailed') => ({
      topic,
      event_id: `t${i}`,
      timestamp: new Date(now - 1000 + i).toISOString(),
      source: 'tail-test',
      payload: { text },
    });
    expect((await publish([event(0, 'before the tail'), event(1, 'other topic', 'elsewhere')])).status).toBe(202);
    await eventually(
      async () => (await (await fetch(`${served.server.url}/stats`, { headers: { authorization: `Bearer ${READER}` } })).json()).pending === 0,
    );

    const client = tail('{topic="tailed"} != "skip"');
    expect(await client.opened).toBe(true);
    await eventually(async () => client.lines().length === 1);
    expect(client.lines()).toEqual(['{"text":"before the tail"}']);

    for (let round = 0; round < 3; round++) {
      expect(
        (await publish([event(10 + round, `live ${round}`), event(20 + round, `skip ${round}`), event(30 + round, 'x', 'elsewhere')])).status,
      ).toBe(202);
    }
    await eventually(async () => client.lines().length >= 4);
    // a little longer: nothing more may arrive (no line twice, no filtered or foreign line)
    await Bun.sleep(2500);
    expect(client.lines()).toEqual(['{"text":"before the tail"}', '{"text":"live 0"}', '{"text":"live 1"}', '{"text":"live 2"}']);
    const frame = client.frames.at(-1)!;
    expect(frame.streams[0]!.stream).toEqual({ topic: 'tailed', source: 'tail-test' });
    expect(frame.streams[0]!.values[0]![0]).toMatch(/^\d{19}$/);
    client.socket.close();
  }, 60_000);

  test('a bad query closes the socket with the parse error; no token is refused before the upgrade', async () => {
    const bad = tail('{topic="tailed"');
    await eventually(async () => bad.closed() !== null);
    expect(bad.closed()!.code).toBe(1008);
    expect(bad.closed()!.reason).toStartWith('parse error at line 1');

    const stranger = tail('{topic="tailed"}', null);
    expect(await stranger.opened).toBe(false);
    const upgrade = (token: string | null) =>
      fetch(`${served.server.url}/loki/api/v1/tail?query=${encodeURIComponent('{topic="tailed"}')}`, {
        headers: {
          upgrade: 'websocket',
          connection: 'Upgrade',
          'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
          'sec-websocket-version': '13',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      });
    expect((await upgrade(null)).status).toBe(401);
    // the route's own row applies to the upgrade: a publish-only token is refused
    expect((await upgrade(PUBLISHER)).status).toBe(403);
    // positive control: the read token upgrades
    expect((await upgrade(READER)).status).toBe(101);
  });

  test('a new event reaches the tail on the wake-up for its apply, not on the safety poll', async () => {
    // Both tails poll every 10 minutes: within this test only a wake-up can deliver a line.
    const engine = (woken: boolean) =>
      new QueryEngine({
        sql: served.agg.aggregator.sql,
        horizon: served.agg.aggregator.horizon,
        budget: new ReadBudget(1 << 30),
        limits: { ...QUERY_LIMITS, tailPollMs: 600_000 },
        onWake: woken ? (listener) => served.agg.aggregator.subscriptions.onWake(listener) : undefined,
      });
    const open = (woken: boolean) => {
      const lines: { line: string; at: number }[] = [];
      const handle = engine(woken).openTail({ query: '{topic="woken"}', limit: '10' }, (text) => {
        for (const stream of (JSON.parse(text) as Frame).streams) for (const [, line] of stream.values) lines.push({ line, at: Date.now() });
      });
      return { handle, lines };
    };
    const woken = open(true);
    const polled = open(false);
    await woken.handle.start();
    await polled.handle.start();
    try {
      const sentAt = Date.now();
      const published = await publish([
        { topic: 'woken', event_id: 'w1', timestamp: new Date().toISOString(), source: 's', payload: { text: 'wake me' } },
      ]);
      expect(published.status).toBeLessThan(300);
      await eventually(async () => woken.lines.length > 0);
      console.log(`tail latency, publish to frame: ${woken.lines[0]!.at - sentAt} ms (safety poll 10 min)`);
      expect(woken.lines.map((l) => l.line)).toEqual(['{"text":"wake me"}']);
      // Positive control: a tail without wake-ups has not seen it (its next read is minutes away).
      expect(polled.lines).toEqual([]);
    } finally {
      woken.handle.stop();
      polled.handle.stop();
    }
  });
});

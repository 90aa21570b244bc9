/**
 * A draining replica's 503 closes the keep-alive connection cleanly (`Connection: close`, then
 * FIN), so a client's next request opens a new connection instead of racing the listener's close
 * into a reset. Over a raw socket: HTTP clients hide whether the server closed the connection.
 */
import { afterAll, expect, test } from 'bun:test';
import { type Socket, connect } from 'node:net';
import { makeEvent, startTestAggregator } from '../support/harness';

const node = await startTestAggregator({ WORKERS: '0' });
const server = node.aggregator.app.listen({ port: 0, hostname: '127.0.0.1' }).server!;
afterAll(async () => {
  await server.stop(true);
  await node.close();
});

/** One keep-alive connection that reads responses one at a time and notices the server's FIN. */
function rawConnection(port: number) {
  const socket: Socket = connect(port, '127.0.0.1');
  let buffer = '';
  let ended = false;
  let wake: () => void = () => {};
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    wake();
  });
  socket.on('end', () => {
    ended = true;
    wake();
  });
  socket.on('error', () => {});
  const changed = () => new Promise<void>((resolve) => (wake = resolve));
  return {
    send: (text: string) => socket.write(text),
    /** Reads one response with a Content-Length body. */
    async response(timeoutMs = 5_000): Promise<{ status: number; headers: Record<string, string>; body: string }> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const head = buffer.indexOf('\r\n\r\n');
        if (head >= 0) {
          const lines = buffer.slice(0, head).split('\r\n');
          const headers: Record<string, string> = {};
          for (const line of lines.slice(1)) {
            const colon = line.indexOf(':');
            headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
          }
          const length = Number(headers['content-length'] ?? 0);
          if (buffer.length >= head + 4 + length) {
            const body = buffer.slice(head + 4, head + 4 + length);
            buffer = buffer.slice(head + 4 + length);
            return { status: Number(lines[0]!.split(' ')[1]), headers, body };
          }
        }
        if (ended) throw new Error(`connection ended before a whole response: ${JSON.stringify(buffer)}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error('no response in time');
        await Promise.race([changed(), Bun.sleep(left)]);
      }
    },
    /** True when the server closed its side within timeoutMs. */
    async closedByServer(timeoutMs = 2_000): Promise<boolean> {
      const deadline = Date.now() + timeoutMs;
      while (!ended && Date.now() < deadline) await Promise.race([changed(), Bun.sleep(deadline - Date.now())]);
      return ended;
    },
    destroy: () => socket.destroy(),
  };
}

const publishRequest = (body: string) =>
  `POST /publish HTTP/1.1\r\nHost: agg\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

test('while draining, POST /publish and GET /subscribe answer 503 with Connection: close and the server closes the connection', async () => {
  const body = JSON.stringify([makeEvent()]);
  try {
    for (const request of [publishRequest(body), 'GET /subscribe?topic=orders HTTP/1.1\r\nHost: agg\r\n\r\n']) {
      node.aggregator.lifecycle.draining = false;
      const conn = rawConnection(server.port!);
      try {
        // A keep-alive connection that has already served a request, as a client pool's would be.
        conn.send('GET /health HTTP/1.1\r\nHost: agg\r\n\r\n');
        const first = await conn.response();
        expect(first.status).toBe(200);
        expect(first.headers.connection ?? '').not.toMatch(/close/i);

        node.aggregator.lifecycle.draining = true;
        conn.send(request);
        const refused = await conn.response();
        expect(refused.status).toBe(503);
        expect(refused.headers['retry-after']).toBe('1');
        expect(refused.headers.connection).toMatch(/^close$/i);
        expect(JSON.parse(refused.body)).toEqual({ error: 'this replica is shutting down; retry' });
        expect(await conn.closedByServer()).toBe(true);
      } finally {
        conn.destroy();
      }
    }
  } finally {
    node.aggregator.lifecycle.draining = false;
  }
});

test('outside a drain the same connection stays open after a 202', async () => {
  const conn = rawConnection(server.port!);
  try {
    conn.send(publishRequest(JSON.stringify([makeEvent()])));
    const accepted = await conn.response();
    expect(accepted.status).toBe(202);
    expect(accepted.headers.connection ?? '').not.toMatch(/close/i);
    expect(await conn.closedByServer(300)).toBe(false);
  } finally {
    conn.destroy();
  }
});

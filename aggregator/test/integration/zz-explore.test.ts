import { test } from 'bun:test';
import { startTestAggregator } from '../support/harness';
import { rawRequest } from '../support/raw-http';
const T = 'all-scopes-token-0123456789';
test('explore', async () => {
  const agg = await startTestAggregator({ AUTH_TOKEN: T });
  const server = agg.aggregator.app.listen({ port: 0, hostname: '127.0.0.1' }).server!;
  const port = server.port;
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    const r = await rawRequest(port, `GET ${i % 2 ? '/health/..' : ''}/subscribe?topic=a HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer ${T}`, '', 3000).catch((e) => ({ status: 'timeout' }));
    console.log(i, r.status, Math.round(performance.now() - t0), agg.aggregator.subscriptions.caps.size, JSON.stringify(agg.aggregator.subscriptions.gate.load), server.pendingRequests);
  }
  for (let j = 0; j < 25; j++) { await Bun.sleep(1000); console.log('t', j, agg.aggregator.subscriptions.caps.size, server.pendingRequests); }
  server.stop(true);
  await agg.close();
}, 120_000);
